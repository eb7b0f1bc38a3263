"""The running app driven over Streamlit's websocket protocol (appdriver/protocol.py): what the
load benchmark relies on, and several sessions arriving at once (the first script runs of
concurrent sessions once raced on Plotly's and pandas' lazy initialisation)."""
import asyncio
import random

import pytest

from appdriver import visitors
from appdriver.protocol import AppSession, plotly_traces
from appdriver.server import running_app

pytestmark = pytest.mark.serve

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def app():
    with running_app(timeout=120) as (url, proc):
        yield url


def test_a_protocol_client_clicks_a_point_moves_a_slider_and_draws_samples(app):
    async def scenario():
        stats = visitors.Stats()
        user = visitors.WsUser(app, random.Random(1), stats)
        await user.start()
        traces = plotly_traces(user.page.of_kind("plotly_chart")[0])
        assert sum(len(t["customdata"]) for t in traces if t["name"] in visitors.CATEGORIES) == 10_000
        chart = user.page.of_kind("plotly_chart")[0]
        assert user.s.fragments.get(chart.id)   # the map and its detail panel are a fragment…
        await user.click_point()
        assert "test image" in user.page.text()
        assert not user.page.of_kind("text_input")   # …so a click reruns it, not the sidebar's model picker
        png = await user.s.fetch(user.page.image_urls("decoded from its latent mean")[0])
        assert png.startswith(PNG)
        await user.move_slider()
        await user.new_samples()
        await user.s.close()
        return stats
    stats = asyncio.run(scenario())
    assert stats.errors == []
    assert [len(stats.latency[k]) for k in ("click", "slider", "sample")] == [1, 1, 1]


def test_sessions_arriving_together_at_a_fresh_server_all_work():
    """Their first script runs overlap, before anything is cached or imported: the case that once
    failed with "partially initialized module 'pandas'" and with map clicks that did not register."""
    async def scenario(url):
        stats = visitors.Stats()
        users = [visitors.WsUser(url, random.Random(k), stats) for k in range(6)]

        async def arrive(k, user):
            await asyncio.sleep(0.4 * k)  # staggered, as people opening a shared link
            await user.start()
            # half of them open another view first, so first-time work of different views overlaps
            actions = (user.new_samples, user.click_point) if k % 2 else (user.click_point, user.move_slider)
            for action in actions:
                await action()
            await user.s.close()
        await asyncio.gather(*(arrive(k, u) for k, u in enumerate(users)))
        return stats
    with running_app(timeout=120) as (url, _):
        stats = asyncio.run(scenario(url))
    assert stats.errors == [] and len(stats.latency["click"]) == 6


def test_a_protocol_client_uploads_a_photo_as_the_browser_does(app):
    import io

    import numpy as np
    from PIL import Image

    async def go():
        s = AppSession(app)
        await s.connect()
        page = await s.open("your-image")
        uploader, = page.of_kind("file_uploader")
        photo = np.full((300, 200), 230, np.uint8)
        photo[60:240, 50:150] = 40   # a dark item on a light background
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, "PNG")
        run = await s.upload(uploader.id, "item.png", buf.getvalue())
        await s.close()
        return run

    run = asyncio.run(go())
    assert not run.problems()
    shown = run.image_urls("item.png (200×300, greyscale)")
    assert len(shown) == 1 and run.image_urls("what the model sees (28×28)")


def test_a_bad_widget_value_shows_an_error_not_a_dead_session(app):
    async def scenario():
        s = AppSession(app)
        page = await s.connect()
        chart = page.of_kind("plotly_chart")[0]
        # a selection that names a point that does not exist: the app ignores it and stays usable
        bad = '{"selection": {"points": [{"curve_number": 1, "point_index": 0, "customdata": 99999}], ' \
              '"point_indices": [0], "box": [], "lasso": []}}'
        run = await s.set(chart.id, string_value=bad)
        alerts = " ".join(a.body for a in run.of_kind("alert"))
        assert run.problems() == [] and "Click a point on the map" in alerts
        await s.close()
    asyncio.run(scenario())


def test_a_server_runs_each_call_on_one_thread_unless_told_otherwise(capsys):
    import threadpoolctl
    import torch

    from views.cached import limit_threads, serving_threads
    assert serving_threads({}) == 1
    assert serving_threads({"EXPLORER_THREADS": "4"}) == 4
    for bad in ("0", "-2", "two", "1e3", "999"):
        assert serving_threads({"EXPLORER_THREADS": bad}) == 1
        assert capsys.readouterr().err.startswith(f"EXPLORER_THREADS={bad!r}: expected a whole number")
    limit_threads(1)   # the suite's thread counts come back before the next test (conftest)
    assert torch.get_num_threads() == 1
    assert {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"} == {1}
