"""Telling a person that the session they had is gone (the server restarted, or the replica that held
it stopped), so that missing marks and uploads do not look like a bug."""
from __future__ import annotations

import time

import streamlit as st

from views import keys

NOTICE_SECONDS = 30


def lost_an_earlier_session() -> bool:
    """True in the first NOTICE_SECONDS of a new session that the browser opened to resume one this
    server does not hold: the server restarted, or (behind scripts/serve.sh) the replica that held it
    stopped. On a reconnect, Streamlit's frontend names the session it had as the third WebSocket
    subprotocol (after "streamlit" and the XSRF token); a first visit names none. The frontend reruns
    the page by itself on reconnecting, so a notice shown for one run only could vanish at the
    person's next click before they read it."""
    ss = st.session_state
    if keys.SESSION_SEEN not in ss:
        offered = st.context.headers.get("Sec-Websocket-Protocol", "").split(",")
        resumed = len(offered) >= 3 and bool(offered[2].strip())
        ss[keys.SESSION_SEEN] = time.monotonic() if resumed else None
    return ss[keys.SESSION_SEEN] is not None and time.monotonic() - ss[keys.SESSION_SEEN] < NOTICE_SECONDS
