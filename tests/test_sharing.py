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
    with pytest.raises(ValueError, match="EXPLORER_SHARED='maybe': expected 1 or 0"):
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


def test_a_rate_limit_is_a_sliding_window():
    limit = sharing.RateLimit(3, seconds=60)
    assert [limit.wait(t) for t in (0, 1, 2)] == [0, 0, 0]
    assert limit.wait(3) == pytest.approx(57)        # the fourth within a minute waits for the first to age
    assert limit.wait(59.5) == pytest.approx(0.5)
    assert limit.wait(60) == 0 and limit.wait(61) == 0 and limit.wait(61.5) == pytest.approx(0.5)


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
    assert not at.exception and at.selectbox(key="compare_choice").options == ["paper's loss (σ² = ½)"]
    assert not [t for t in at.text_input if t.key == "compare_dir"]


def test_shared_mode_turns_no_value_a_visitor_sends_into_a_path():
    """Over the websocket, as a crafted request would: a selectbox accepts any string from the client
    (Streamlit returns a value that is no option as it came), so the picker must not trust it."""
    import asyncio
    import sys

    from app_driver import running_app
    sys.path.insert(0, str(ROOT / "bench"))
    from streamlit_client import AppSession

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
    assert "gaussian likelihood · 50 epochs + 2" in at.sidebar.caption[0].value


def test_shared_mode_limits_new_sample_grids_per_minute(monkeypatch):
    monkeypatch.setitem(sharing.LIMITS, "draw", 3)
    at = _shared_app(monkeypatch)
    at.switch_page(PAGES["Category sampling"]).run()   # the first grid
    for seed in (1, 2):
        at.number_input(key="sample_seed").set_value(seed).run()
        assert not at.warning, seed
    at.number_input(key="sample_seed").set_value(3).run()
    assert not at.exception
    notices = [w.value for w in at.warning]
    assert len(notices) == 1
    assert notices[0].startswith("This shared explorer allows 3 new sample grids a minute")


def test_private_mode_has_no_limits(monkeypatch):
    monkeypatch.setitem(sharing.LIMITS, "draw", 1)
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(ROOT / "assets"))
    monkeypatch.delenv("EXPLORER_SHARED", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.switch_page(PAGES["Category sampling"]).run()
    for seed in (1, 2, 3):
        at.number_input(key="sample_seed").set_value(seed).run()
    assert not at.warning and not at.exception
