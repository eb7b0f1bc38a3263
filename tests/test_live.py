"""Live decoding (views/live.py): the latent sliders decode in the browser while they are dragged, from
files the app serves itself, tell the server once when they are let go, and fall back to decoding on
the server, with one line saying why, when the browser cannot run them."""
import hashlib
import json
import os
from urllib.parse import urljoin

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from appdriver.browser import (
    CHROMIUM,
    browser,
    count_websocket_sends,
    drag_slider,
    image_with_caption,
    live_frames,
    live_picture,
    wait_for_live,
    wait_for_text,
    websocket_sends,
)
from appdriver.server import running_app
from conftest import ROOT
from training import load_model
from training.inference import decode_pixels
from training.synthesis import decoder_onnx
from views import SCRIPTS
from views import live as L

ASSETS = ROOT / "assets"
OFF = "Live decoding is off in this browser"


def _sliders(monkeypatch, **query) -> AppTest:
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ASSETS))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.query_params.update(query)
    return at.switch_page(SCRIPTS["Latent sliders"]).run()


def _live(at) -> dict | None:
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "fashion_vae_live"]
    return json.loads(found[0].proto.json) if found else None


def _release(at, moved: dict, stamp: float):
    released = {"dims": {str(d): v for d, v in moved.items()}, "at": stamp}
    at.session_state["live_sliders"] = {"moved": released, "failed": None}
    return at.run()


def test_the_sliders_decode_in_the_browser_from_files_the_app_serves(monkeypatch):
    at = _sliders(monkeypatch, start="mean", cat="bag")
    assert not at.exception and not at.info and not at.slider   # no server sliders, no notice
    data = _live(at)
    served = {data["runtime"]["module"], data["runtime"]["wasm"], data["decoder"]}
    # each file under its content's hash, at the app's own address, never a path of this machine
    assert all(u.startswith("/app/static/live/") and str(ROOT) not in u and "assets" not in u for u in served)
    for role, name in L.RUNTIME_FILES.items():
        source = (L.RUNTIME / name).read_bytes()
        url = data["runtime"][role]
        assert hashlib.sha256(source).hexdigest()[:16] in url
        assert (L.STATIC / url.rsplit("/", 1)[1]).read_bytes() == source
    model = load_model(ASSETS)
    decoder = L.STATIC / data["decoder"].rsplit("/", 1)[1]
    assert decoder_onnx.weights_of(decoder) == model.info["weights_sha256"]
    # the start the browser decodes from: the bag mean, on the sliders' 0.01 grid
    mean = np.load(ASSETS / "embeddings.npz")["category_mean"][8]
    np.testing.assert_allclose(data["base"], np.round(mean, 2), atol=1e-9)
    assert data["base_name"] == "the Bag mean" and len(data["dims"]) == 16 and len(data["strip"]) == 11
    assert data["timeout_ms"] == L.TIMEOUT_MS


def test_a_release_sets_the_link_and_a_reset_sets_the_sliders_anew(monkeypatch):
    at = _sliders(monkeypatch, start="mean", cat="bag")
    top, version = _live(at)["dims"][0][0], _live(at)["version"]
    _release(at, {top: 1.25}, stamp=1.0)
    assert at.query_params["z"] == f"{top}:1.25" and _live(at)["dims"][0][4] == 1.25
    assert _live(at)["version"] == version   # the browser keeps its sliders
    next(b for b in at.button if b.label.startswith("Reset to")).click().run()
    assert "z" not in at.query_params and _live(at)["version"] == version + 1
    at.run()   # the last release is not taken twice
    assert "z" not in at.query_params
    _release(at, {top: 1.25}, stamp=2.0)   # the same move again, a new release
    assert at.query_params["z"] == f"{top}:1.25"


def test_a_browser_that_cannot_decode_falls_back_to_the_server_with_one_line(monkeypatch):
    at = _sliders(monkeypatch, start="mean", cat="bag", z="47:1.5")
    at.session_state["live_sliders"] = {"moved": None, "failed": "WebAssembly is not defined"}
    at.run()
    assert not at.exception and _live(at) is None
    notice, = [i.value for i in at.info]
    assert notice.startswith(f"{OFF} (WebAssembly is not defined)") and "\n" not in notice
    assert len(at.slider) == 16 and at.slider(key="z_47").value == 1.5   # the link's move is kept
    captions = [c for image in at.get("image") for c in image.captions]
    assert "decoded · 1 dimension(s) moved from the Bag mean" in captions
    at.selectbox(key="slider_cat").set_value(9).run()   # the session stays on the server
    assert _live(at) is None and at.info[0].value.startswith(OFF)


def test_without_the_runtime_installed_the_server_decodes(monkeypatch, tmp_path):
    monkeypatch.setattr(L, "RUNTIME", tmp_path / "not-installed")
    L.runtime.cache_clear()
    try:
        at = _sliders(monkeypatch)
        assert _live(at) is None and at.info[0].value.startswith("Live decoding needs the browser runtime")
        assert "bash scripts/setup.sh" in at.info[0].value
        monkeypatch.setenv("EXPLORER_SHARED", "1")   # visitors are told no command and no path
        at = _sliders(monkeypatch)
        assert _live(at) is None and "scripts" not in at.info[0].value
    finally:
        L.runtime.cache_clear()


def test_shared_mode_serves_the_allowed_models_decoders_and_no_other(monkeypatch):
    L.STATIC.mkdir(parents=True, exist_ok=True)
    stray = L.STATIC / L.decoder_name("f" * 64)   # left by an owner's private session, say
    stray.write_bytes(b"a decoder of a model no visitor may load")
    monkeypatch.setenv("EXPLORER_SHARED", "1")
    monkeypatch.setenv("EXPLORER_MODELS", str(ASSETS))
    L._serving_only.cache_clear()
    at = _sliders(monkeypatch)
    assert not at.exception and not stray.exists()
    assert (L.STATIC / _live(at)["decoder"].rsplit("/", 1)[1]).is_file()


# --- in Chromium --------------------------------------------------------------------------------------
chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                              reason="Debian's chromium is not installed (scripts/setup.sh --dev)")


def _server_pixels(latent: list[float]) -> np.ndarray:
    image = decode_pixels(load_model(ASSETS), np.asarray(latent, np.float32))[0]
    return (np.clip(image, 0, 1) * 255).round().astype(int).ravel()


@pytest.mark.browser
@pytest.mark.serve
@chromium
def test_a_dragged_slider_redraws_before_release_and_tells_the_server_once():
    with running_app(ASSETS) as (url, _server), browser(1280, 1000) as page:
        count_websocket_sends(page)
        page.goto(url + "/sliders?start=mean&cat=bag")
        ready = wait_for_live(page)
        assert ready["downloaded"] > 15e6   # the first visit: the runtime and the decoder
        latent, first = live_picture(page)
        assert np.abs(np.array(first) - _server_pixels(latent)).max() <= 1   # the server's pixels, 8-bit
        slider = page.locator(".live-slider input").first
        frames, sends = live_frames(page), websocket_sends(page)
        drag_slider(page, slider, 0.35)
        page.wait_for_timeout(300)
        during = live_frames(page) - frames
        moved_latent, moved = live_picture(page)
        assert during >= 10, f"only {during} frames while dragging"
        assert websocket_sends(page) == sends, "the browser told the server during the drag"
        assert moved != first and np.abs(np.array(moved) - _server_pixels(moved_latent)).max() <= 1
        page.mouse.up()
        page.wait_for_function("() => location.search.includes('z=')", timeout=15000)
        page.wait_for_timeout(1000)
        assert websocket_sends(page) == sends + 1   # the release: one message, one script run
        wait_for_text(page, "1 dimension(s) moved from the Bag mean")
        link = page.url
        # the link reopens the same picture in a fresh browser context
        fresh = page.context.browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        fresh.goto(link)
        wait_for_live(fresh)
        again_latent, again = live_picture(fresh)
        assert again_latent == moved_latent and again == moved


@pytest.mark.browser
@pytest.mark.serve
@chromium
def test_when_the_runtime_cannot_load_the_server_decodes():
    with running_app(ASSETS) as (url, _server), browser(1280, 1000) as page:
        page.route("**/*.wasm", lambda route: route.abort())   # as if WebAssembly could not be fetched
        page.goto(url + "/sliders?start=mean&cat=bag&z=47:1.5")
        wait_for_text(page, OFF, timeout_ms=30000)
        src = image_with_caption(page, "decoded · 1 dimension(s) moved from the Bag mean",
                                 timeout_ms=20000)
        assert src and page.request.get(urljoin(page.url, src)).ok
        assert page.locator('[data-testid="stSlider"]').count() == 16
