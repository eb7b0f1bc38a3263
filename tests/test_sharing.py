"""The shared explorer: which mode, which models visitors may load, and each session's rate limits."""
import os

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from explorer import sharing
from explorer.assets import SHIPPED_MODELS
from views import SCRIPTS as PAGES


@pytest.mark.parametrize("address, setting, shared", [
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False), ("", None, False),
    ("0.0.0.0", None, True), ("192.168.1.20", None, True), ("::", None, True),
    ("0.0.0.0", "0", False), ("127.0.0.1", "1", True), ("127.0.0.1", "yes", True), ("127.0.0.1", " ", False),
])
def test_the_mode_follows_the_address_unless_the_owner_says(address, setting, shared):
    assert sharing.is_shared(address, setting) is shared


def test_a_bad_mode_setting_is_refused():
    with pytest.raises(sharing.SettingError, match="EXPLORER_SHARED='maybe': expected 1 or 0"):
        sharing.is_shared("127.0.0.1", "maybe")


def _model(directory):
    directory.mkdir(parents=True)
    for name in ("model.json", "model.safetensors"):
        (directory / name).write_text("{}")
    return directory


def test_allowed_models_are_the_shipped_ones_or_what_the_owner_lists(tmp_path):
    assert sharing.allowed_models(None, SHIPPED_MODELS, ROOT) == SHIPPED_MODELS
    runs = tmp_path / "runs"
    a, b = _model(runs / "a"), _model(runs / "b")
    (runs / "notes").mkdir()
    outside = _model(tmp_path / "secret")
    (runs / "escape").symlink_to(outside)            # a symlink out of the root is not allowed
    (runs / "alias").symlink_to(a)                   # one that stays inside is, under its real name
    single = _model(tmp_path / "elsewhere" / "one")
    setting = os.pathsep.join([str(runs), str(single), str(tmp_path / "missing")])
    allowed = sharing.allowed_models(setting, SHIPPED_MODELS, ROOT)
    assert allowed == {"a": str(a), "alias": str(a), "b": str(b), "one": str(single)}
    assert str(outside) not in allowed.values()


def test_a_rate_limit_is_a_token_bucket():
    limit = sharing.RateLimit(40, seconds=60)          # a burst of 10, then one every 1.5 s
    assert limit.burst == 10
    assert [limit.wait(0) for _ in range(10)] == [0] * 10
    assert limit.wait(0) == pytest.approx(1.5)         # the eleventh waits for one token
    assert limit.wait(1.0) == pytest.approx(0.5)
    assert limit.wait(1.5) == 0 and limit.wait(1.5) == pytest.approx(1.5)
    assert [limit.wait(100) for _ in range(10)] == [0] * 10   # a long pause refills the burst, no more
    assert limit.wait(100) > 0
    assert sharing.RateLimit(3).burst == 1 and sharing.RateLimit(3, burst=3).burst == 3


def test_a_client_that_asks_faster_than_the_rate_is_busy():
    limit = sharing.RateLimit(40, seconds=60)          # a burst of 10, one token every 1.5 s
    for _ in range(5):
        assert not limit.busy() and limit.wait(0) == 0   # a burst of 5 leaves half: not yet busy
    limit.wait(0)
    assert limit.busy()                                # 4 of 10 left
    limit.wait(1.5 * 2)                                # two tokens back, one spent: 5 left
    assert not limit.busy()
    clicker = sharing.RateLimit(40, seconds=60)
    assert not any(clicker.wait(3.0 * i) or clicker.busy() for i in range(100))   # a click every 3 s


def test_busy_sessions_take_turns_and_the_others_do_not_wait():
    import threading
    import time
    lane, running, most = threading.BoundedSemaphore(1), {True: 0, False: 0}, {True: 0, False: 0}
    guard = threading.Lock()

    def run(busy: bool):
        with sharing.taking_turns(busy, lane):
            with guard:
                running[busy] += 1
                most[busy] = max(most[busy], running[True] if busy else running[True] + running[False])
            time.sleep(0.05)
            with guard:
                running[busy] -= 1

    busy = [threading.Thread(target=run, args=(True,)) for _ in range(4)]
    for t in busy:
        t.start()
    time.sleep(0.01)
    t0 = time.perf_counter()
    run(False)                                         # an ordinary run beside the busy ones…
    assert time.perf_counter() - t0 < 0.15             # …does not wait for their four turns (0.2 s)
    for t in busy:
        t.join()
    assert running == {True: 0, False: 0}
    assert most[True] == 1 and most[False] == 2        # one busy run at a time, the other beside it
    lane.acquire()                                     # a lane never released: the wait is bounded
    t0 = time.perf_counter()
    with sharing.taking_turns(True, lane, wait=0.1):
        pass
    assert 0.1 <= time.perf_counter() - t0 < 1 and not lane.acquire(blocking=False)


def _shared_app(monkeypatch, **env):
    monkeypatch.setenv("EXPLORER_SHARED", "1")
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ROOT / "assets"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    return at.run()


def _shown(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "markdown", "caption")
                     for e in getattr(at, kind)) + "\n".join(str(e.value) for e in at.sidebar.caption)


def test_shared_mode_offers_only_the_allowed_models_and_no_directory_box(monkeypatch):
    at = _shared_app(monkeypatch)
    assert not at.exception
    assert at.sidebar.selectbox(key="model_choice").options == list(SHIPPED_MODELS)
    assert not [t for t in at.sidebar.text_input if t.key == "model_dir"]
    at.switch_page(PAGES["Compare models"]).run()
    assert not at.exception and at.selectbox(key="compare_choice").options == [
        "paper's loss (σ² = ½)", "previous default"]
    assert not [t for t in at.text_input if t.key == "compare_dir"]


@pytest.mark.serve
def test_shared_mode_turns_no_value_a_visitor_sends_into_a_path():
    """Over the websocket, as a crafted request would: a selectbox accepts any string from the client
    (Streamlit returns a value that is no option as it came), so the picker must not trust it."""
    import asyncio

    from appdriver.protocol import AppSession
    from appdriver.server import running_app

    async def scenario(url):
        s = AppSession(url, timeout=120)
        run = await s.connect()
        picker = run.widget("selectbox", "model_choice")
        seen = []
        for typed in ("/etc", "..", "../../etc/passwd", str(ROOT / "assets" / "paper"), "another directory…"):
            run = await s.set(picker.id, string_value=typed)
            seen.append((typed, run.problems(), run.of_kind("text_input"),
                         [m.body for m in run.of_kind("markdown")] + [a.body for a in run.of_kind("alert")]))
        await s.close()
        return seen

    with running_app(ROOT / "assets", env={"EXPLORER_SHARED": "1"}, timeout=120) as (url, _):
        for typed, problems, inputs, texts in asyncio.run(scenario(url)):
            assert problems == [] and inputs == [], typed
            shown = "\n".join(texts)
            assert "/etc" not in shown and "passwd" not in shown and str(ROOT) not in shown, typed


def test_shared_mode_with_an_owner_list_hides_everything_else(monkeypatch, tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    (root / "paper").symlink_to(ROOT / "assets" / "paper")   # outside the root: not offered
    at = _shared_app(monkeypatch, EXPLORER_MODELS=str(root))
    assert not at.exception
    assert [e.value for e in at.error] == ["No model is shared here: the owner lists them in EXPLORER_MODELS "
                                           "(docs/deploy.md)."]
    at = _shared_app(monkeypatch, EXPLORER_MODELS=str(ROOT / "assets" / "paper"))
    assert at.sidebar.selectbox(key="model_choice").options == ["paper"] and not at.exception


def test_a_link_that_names_a_path_loads_nothing(monkeypatch):
    at = _shared_app(monkeypatch)
    at.query_params["model"] = "/etc"
    at.query_params["item"] = "../../etc/passwd"
    at.switch_page(PAGES["Latent map"]).run()
    assert not at.exception
    assert "gaussian likelihood · 50 epochs + 4 decoder fine-tuning epochs" in at.sidebar.caption[0].value


def test_shared_mode_limits_new_sample_grids_per_minute(monkeypatch):
    monkeypatch.setitem(sharing.LIMITS, "draw", 12)   # a burst of 3
    at = _shared_app(monkeypatch)
    at.switch_page(PAGES["Sampling"]).run()   # the first grid
    for seed in (1, 2):
        at.number_input(key="sample_seed").set_value(seed).run()
        assert not at.warning, seed
    at.number_input(key="sample_seed").set_value(3).run()
    assert not at.exception
    notices = [w.value for w in at.warning]
    assert len(notices) == 1
    assert notices[0].startswith("This shared explorer allows 12 new sample grids a minute")


def test_private_mode_has_no_limits(monkeypatch):
    monkeypatch.setitem(sharing.LIMITS, "draw", 1)
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ROOT / "assets"))
    monkeypatch.delenv("EXPLORER_SHARED", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.switch_page(PAGES["Sampling"]).run()
    for seed in (1, 2, 3):
        at.number_input(key="sample_seed").set_value(seed).run()
    assert not at.warning and not at.exception


def test_the_owner_can_set_the_limits_and_a_bad_setting_is_one_line():
    assert sharing.limits(None) == sharing.LIMITS
    assert sharing.limits(" action=60, upload=5 ") == {**sharing.LIMITS, "action": 60, "upload": 5}
    for bad in ("action=0", "actions=5", "draw=many", "draw"):
        with pytest.raises(sharing.SettingError, match=f"EXPLORER_LIMITS: '{bad}': expected kind=count"):
            sharing.limits(bad)


def test_shared_mode_limits_every_interaction_per_minute(monkeypatch):
    monkeypatch.setitem(sharing.LIMITS, "action", 12)   # a burst of 3
    at = _shared_app(monkeypatch)                            # 1
    at.switch_page(PAGES["Sampling"]).run()         # 2
    at.number_input(key="sample_seed").set_value(1).run()    # 3
    assert not at.warning and at.get("image")
    at.number_input(key="sample_seed").set_value(2).run()    # 4: refused, and nothing drawn for it
    assert not at.exception
    notices = [w.value for w in at.warning]
    assert len(notices) == 1
    assert notices[0].startswith("This shared explorer allows 12 interactions a minute per visitor: try")
    assert not at.get("image") and not at.sidebar.selectbox


def test_a_bad_limits_setting_stops_the_app_with_one_line(monkeypatch):
    at = _shared_app(monkeypatch, EXPLORER_LIMITS="action=lots")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Cannot start: EXPLORER_LIMITS: 'action=lots': expected kind=count with kind one of upload, draw, "
        "concept, action and a count ≥ 1."]


@pytest.mark.serve
def test_every_bounded_input_at_inside_and_outside_its_bound_over_the_websocket():
    """What a crafted request can send for Sampling's inputs: a value at a bound or just
    inside is used; one just outside is never used (Streamlit 1.67 puts the default in its place). The
    noise scale is dragged in the browser: a released value is held to its bounds and steps, and one
    that is no number leaves the scale as it was."""
    import asyncio
    import json
    import re

    from appdriver.protocol import AppSession
    from appdriver.server import running_app

    items = ((64, 64), (63, 63), (65, 16), (4, 4), (3, 16))   # (sent, used): 4–64, default 16
    seeds = ((2**31 - 1, 2**31 - 1), (2**31, 0), (-1, 0))      # 0–2³¹−1, default 0
    noises = ((2.0, 2.0), (1.95, 1.95), (2.05, 2.0), (0.0, 0.0), (-0.05, 0.0), (0.333, 0.35),
              (float("nan"), 0.35), ("0.5", 0.5), (None, 0.5))
    cases = [("sample_n", "int_value", v, want) for v, want in items]
    cases += [("sample_seed", "int_value", v, want) for v, want in seeds]
    cases += [("live_samples", "json_value", v, want) for v, want in noises]

    async def scenario(url):
        s = AppSession(url, timeout=120)
        await s.connect()
        run = await s.open("sampling")
        seen = []
        for stamp, (key, kind, value, _) in enumerate(cases):
            if key == "live_samples":   # what the browser sends when the noise scale is let go
                widget = run.widget("bidi_component", key)
                value = json.dumps({"released": {"value": value, "at": stamp}, "failed": None})
            else:
                widget = run.widget("number_input", key)
            run = await s.set(widget.id, **{kind: value})
            live = json.loads(run.widget("bidi_component", "live_samples").json)
            n, seed = re.match(r"(\d+) samples .*seed (\d+)", live["rows"][0]["title"]).groups()
            seen.append(({"sample_n": int(n), "sample_seed": int(seed),
                          "live_samples": live["control"]["value"]}[key], run.problems()))
            if key != "live_samples":
                s.states.pop(widget.id)   # back to the default before the next case
        await s.close()
        return seen

    with running_app(ROOT / "assets", timeout=120) as (url, _):
        seen = asyncio.run(scenario(url))
    for (key, _, value, want), (got, problems) in zip(cases, seen, strict=True):
        assert problems == [] and got == want, (key, value, got)
