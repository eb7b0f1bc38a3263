"""Driving the running explorer from outside, as its visitors do: shared by the tests and the benchmarks.

- ``server``: start the app on a free local port, or several replicas behind HAProxy;
- ``browser``: headless Chromium, the Plotly map's points, images by their captions;
- ``protocol``: a Streamlit session over the websocket, without a browser;
- ``visitors``: simulated visitors over that protocol, with their latencies and errors.
"""
