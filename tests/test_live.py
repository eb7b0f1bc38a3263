"""Live decoding (views/live.py): the latent sliders decode in the browser while they are dragged, from
files the app serves itself, tell the server once when they are let go, and fall back to decoding on
the server, with one line saying why, when the browser cannot run them."""
import hashlib
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
    live_cells,
    live_frames,
    live_picture,
    wait_for_live,
    wait_for_text,
    websocket_sends,
)
from appdriver.server import running_app
from conftest import ROOT, frame_latents, let_go, live_view
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
    return live_view(at, "live_sliders")


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


# --- the other live views: one control over rows of frames ----------------------------------------------
# (view, its component, the link parameter of its control, a link that opens it, a value to let go at)
CONTROLS = [("Interpolation & hybrids", "live_interp", "at", {"a": "5", "b": "6"}, 0.3),
            ("Interpolation & hybrids", "live_hybrids", "mix", {}, 0.85),
            ("Concepts", "live_concept", "s", {"concept": "long-sleeves"}, 3.25),
            ("Sampling", "live_samples", "noise", {"cat": "pullover"}, 1.2),
            ("Variations", "live_variations", "t", {"cat": "bag"}, 2.5)]
SERVER_SLIDERS = {"live_interp": "interp_at", "live_hybrids": "hyb_mix", "live_concept": "concept_strength",
                  "live_samples": "sample_noise", "live_variations": "var_strength"}


def _view(monkeypatch, view: str, **query) -> AppTest:
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ASSETS))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.query_params.update(query)
    return at.switch_page(SCRIPTS[view]).run()


@pytest.mark.parametrize("view, key, param, query, value", CONTROLS, ids=[c[1] for c in CONTROLS])
def test_a_live_control_is_drawn_by_the_browser_and_its_release_sets_the_link(monkeypatch, view, key, param,
                                                                               query, value):
    at = _view(monkeypatch, view, **query)
    assert not at.exception and not at.info
    data = live_view(at, key)
    assert data["kind"] == "frames" and data["decoder"].startswith("/app/static/live/")
    assert not [s for s in at.slider if s.key == SERVER_SLIDERS[key]]   # no server slider for it
    version, frames = data["version"], frame_latents(data, data["control"]["value"]) if key != "live_interp" \
        else None
    let_go(at, key, value, stamp=1.0)
    assert not at.exception and at.query_params[param] == f"{value:g}"
    after = live_view(at, key)
    assert after["control"]["value"] == value and after["version"] == version   # the browser's control stays
    if frames is not None:   # the same frames: the browser computes them at the new value itself
        assert after["vectors"] == data["vectors"] and after["rows"] == data["rows"]
    if after["notes"] is not None:   # the server's verdicts are for the value it heard of
        assert after["notes"]["value"] == value
    # a link sets the control: the browser is told to move it (a new version)
    fresh = _view(monkeypatch, view, **{**query, param: f"{value:g}"})
    assert live_view(fresh, key)["control"]["value"] == value


def test_what_a_client_releases_is_held_to_the_controls_steps_and_bounds(monkeypatch):
    at = _view(monkeypatch, "Sampling")
    for stamp, sent, kept in ((1, 7.5, 2.0), (2, -3, 0.0), (3, 0.8123, 0.8), (4, "nan", 0.8), (5, None, 0.8),
                              (6, "1e308", 2.0)):
        let_go(at, "live_samples", sent, stamp=stamp)
        assert not at.exception and live_view(at, "live_samples")["control"]["value"] == kept, sent


def test_the_scrubber_is_any_point_of_the_path_between_a_and_b(monkeypatch):
    from explorer import latent as lat
    at = _view(monkeypatch, "Interpolation & hybrids", a="5", b="6", path="spherical")
    data = live_view(at, "live_interp")
    assert [f[0] for f in data["rows"][0]["frames"]] == ["slerp"] * 3
    mu = np.load(ASSETS / "embeddings.npz")["mu"]
    table = np.frombuffer(__import__("base64").b64decode(data["vectors"]), "<f8").reshape(-1, data["k"])
    np.testing.assert_array_equal(table, mu[[5, 6]])   # A and B, sent once; the browser slerps between them
    at.radio(key="interp_method").set_value("linear").run()
    let_go(at, "live_interp", 0.3)
    data = live_view(at, "live_interp")
    np.testing.assert_allclose(frame_latents(data, 0.3), lat.path_at(mu[5], mu[6], [0, 0.3, 1], "linear"),
                               atol=1e-6)


@pytest.mark.parametrize("view, key, param, query, value", CONTROLS, ids=[c[1] for c in CONTROLS])
def test_without_live_decoding_each_control_is_a_server_slider(monkeypatch, view, key, param, query, value):
    at = _view(monkeypatch, view, **{**query, param: f"{value:g}"})
    at.session_state[key] = {"released": None, "failed": "the decoder did not load within 8 s"}
    at.run()
    assert not at.exception and live_view(at, key) is None
    assert any(i.value.startswith(f"{OFF} (the decoder did not load within 8 s)") for i in at.info)
    slider = at.slider(key=SERVER_SLIDERS[key])
    assert slider.value == value   # the link's value, now on the server's slider
    slider.set_value(slider.min).run()
    assert not at.exception and at.query_params[param] == f"{slider.min:g}"
    assert at.get("image")   # the pictures come from the server


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
        page.goto(url + "/sampling?cat=bag&noise=0.8")   # a new session tries again, and falls back again
        wait_for_text(page, OFF, timeout_ms=30000)
        src = image_with_caption(page, "16 samples from the Bag clusters, noise 0.8, seed 0",
                                 timeout_ms=20000)
        assert src and page.request.get(urljoin(page.url, src)).ok


def _drawn(page, root, timeout_ms: int = 20000):
    """The live view's frames once every one is drawn."""
    for _ in range(timeout_ms // 100):
        cells = live_cells(root)
        if cells and all(latent for latent, _ in cells):
            return cells
        page.wait_for_timeout(100)
    raise AssertionError("the live view's frames were not all drawn")


@pytest.mark.browser
@pytest.mark.serve
@chromium
def test_a_dragged_mix_redraws_the_hybrids_before_release_with_the_servers_pixels():
    from explorer import latent as lat
    e = np.load(ASSETS / "embeddings.npz")
    pairs = lat.hybrid_pairs(e["labels"], 7, 9, 4, 0)
    ia, ib = [p[0] for p in pairs], [p[1] for p in pairs]
    with running_app(ASSETS) as (url, _server), browser(1280, 1100) as page:
        count_websocket_sends(page)
        page.goto(url + "/interpolation?ha=sneaker&hb=ankle-boot&pairs=4")
        wait_for_live(page)
        mix = page.locator(".live", has_text="Mix (0 = first")
        mix.scroll_into_view_if_needed()
        first = _drawn(page, mix)
        assert len(first) == 12 and all(latent for latent, _ in first)
        slider = mix.locator("input")
        slider.evaluate("(s) => { s.__kept = true; }")
        frames, sends = live_frames(page), websocket_sends(page)
        drag_slider(page, slider, 0.3)
        page.wait_for_timeout(300)
        during = live_frames(page) - frames
        value = float(slider.input_value())
        cells = live_cells(mix)
        assert during >= 3, f"only {during} frames while dragging"
        assert websocket_sends(page) == sends, "the browser told the server during the drag"
        assert value > 0.6 and [c[1] for c in cells[:8]] == [c[1] for c in first[:8]]   # the items stay
        hybrids = np.array([latent for latent, _ in cells[8:]], np.float32)
        mu = e["mu"].astype(np.float32)   # stored in float16; the view mixes in float32
        want = (1 - value) * mu[ia] + value * mu[ib]
        np.testing.assert_allclose(hybrids, want, rtol=0, atol=1e-6)   # the view's mix, at the thumb's value
        for latent, grey in cells[8:]:   # the server's pixels for the same latent, to 8 bits
            assert np.abs(np.array(grey) - _server_pixels(latent)).max() <= 1
        page.mouse.up()
        page.wait_for_function("(v) => location.search.includes('mix=' + v)", arg=f"{value:g}", timeout=15000)
        page.wait_for_timeout(1000)
        assert websocket_sends(page) == sends + 1   # the release: one message, one script run
        assert slider.evaluate("(s) => s.__kept === true")   # the server's echo did not rebuild the control
        link = page.url
        fresh = page.context.browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
        fresh.goto(link)
        wait_for_live(fresh)
        again = fresh.locator(".live", has_text="Mix (0 = first")
        again.scroll_into_view_if_needed()
        assert [g for _, g in _drawn(fresh, again)] == [g for _, g in cells]


def test_compare_sends_each_models_latents_and_falls_back_to_its_pictures(monkeypatch):
    at = _view(monkeypatch, "Compare models", item="123")
    assert not at.exception and not at.info
    paper = np.load(ASSETS / "paper" / "embeddings.npz")
    ours = np.load(ASSETS / "embeddings.npz")
    decoders = set()
    for which, e in enumerate((ours, paper)):
        item = live_view(at, f"live_compare_item_{which}")
        row = int(np.flatnonzero(e["index"] == 123)[0])
        np.testing.assert_array_equal(frame_latents(item, 0.0), e["mu"][row][None])   # its own μ, its decoder
        decoders.add(item["decoder"])
        assert len(live_view(at, f"live_compare_samples_{which}")["rows"][0]["frames"]) == 8
        assert len(live_view(at, f"live_compare_path_{which}")["rows"][0]["frames"]) == 8
    assert len(decoders) == 2 and all((L.STATIC / d.rsplit("/", 1)[1]).is_file() for d in decoders)
    at.session_state["live_compare_item_1"] = {"failed": "the decoder did not load within 8 s"}
    at.run()
    assert not at.exception and live_view(at, "live_compare_item_0") is None
    assert any(i.value.startswith(OFF) for i in at.info)
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("default · MSE") for c in captions)
