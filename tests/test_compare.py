"""Two models side by side: float16 export and its checks, the shipped second model, the model picker
and the Compare models view, bad second directories included."""
import json
import shutil

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import ROOT, run_cli
from explorer.assets import SHIPPED_MODELS, load_bundle
from training.model import ModelLoadError, load_model
from views import SCRIPTS as PAGES

PAPER = ROOT / SHIPPED_MODELS["paper's loss (σ² = ½)"]


def test_export_halves_the_weights_and_loading_checks_their_type(tmp_path):
    # the shipped default is itself stored in float16: a float32 copy of it stands for a trained run
    source, out = tmp_path / "full", tmp_path / "half"
    r = run_cli("export", "--checkpoint", "assets", "--out", str(source), "--dtype", "float32")
    assert r.returncode == 0, r.stderr
    r = run_cli("export", "--checkpoint", str(source), "--out", str(out))
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "model.json").read_text())
    original = json.loads((source / "model.json").read_text())
    assert (original["weights_dtype"], meta["weights_dtype"]) == ("float32", "float16")
    assert meta["exported_from"]["weights_sha256"] == original["weights_sha256"]
    size = (source / "model.safetensors").stat().st_size
    assert (out / "model.safetensors").stat().st_size < 0.55 * size
    full, half = load_model(source), load_model(out)
    assert next(half.parameters()).dtype == torch.float32   # stored in half, computed in float32
    z = torch.randn(32, full.config.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (full.decode(z) - half.decode(z)).abs().max() < 2e-3
    # a config that says float16 beside float32 tensors is refused in one line
    shutil.copyfile(source / "model.safetensors", out / "model.safetensors")
    meta["weights_sha256"] = original["weights_sha256"]
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="float32 tensors but model.json says weights_dtype float16"):
        load_model(out)
    assert run_cli("export", "--checkpoint", "assets", "--out", "assets").returncode != 0   # not over itself


def test_the_shipped_paper_model_is_float16_embedded_and_evaluated_on_its_stored_weights():
    from safetensors import safe_open
    with safe_open(PAPER / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    b = load_bundle(PAPER)
    assert (b.meta["weights_dtype"], b.meta["likelihood"], b.meta["epoch"]) == ("float16", "gaussian", 50)
    assert b.info["model_weights_sha256"] == b.meta["weights_sha256"]
    assert b.current_metrics is not None   # metrics.json measured these very weights
    assert b.current_metrics["active_units"] < 16   # the paper's loss leaves most dimensions unused
    # what ships: the decoders as ONNX are made from the weights by scripts/setup.sh, not committed; the
    # bound is issue 47's (45 MB), which the independent judge's 1.9 MB took past the earlier 40
    total = sum(p.stat().st_size for p in (ROOT / "assets").rglob("*") if p.is_file() and p.suffix != ".onnx")
    assert total <= 45e6, f"assets/ holds {total / 1e6:.1f} MB"


def _app(monkeypatch, model_dir=ROOT / "assets"):
    monkeypatch.setenv("EXPLORER_MODEL_DIR", str(model_dir))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    return at.run()


def test_the_picker_lists_the_shipped_models_and_takes_any_directory(monkeypatch, tmp_path):
    at = _app(monkeypatch)
    picker = at.sidebar.selectbox(key="model_choice")
    assert picker.value == "default" and picker.options == list(SHIPPED_MODELS) + ["another directory…"]
    picker.set_value("paper's loss (σ² = ½)").run()
    assert not at.exception and "gaussian likelihood · 50 epochs" in at.sidebar.caption[0].value
    at.sidebar.selectbox(key="model_choice").set_value("another directory…").run()
    at.sidebar.text_input(key="model_dir").set_value(str(tmp_path / "missing")).run()
    assert not at.exception and len(at.error) == 1 and "not a directory" in at.error[0].value


def test_compare_view_shows_both_models_side_by_side(monkeypatch):
    at = _app(monkeypatch).switch_page(PAGES["Compare models"]).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="compare_choice").value == "paper's loss (σ² = ½)"
    tables = "\n".join(m.value for m in at.markdown)
    assert "| Active latent units (Var μ > 0.01) | 122 of 128 | 5 of 128 |" in tables
    assert "| Weights stored as | float16 | float16 |" in tables
    from training.evaluation import catalogue
    first = catalogue.GROUPS[0][1][0]
    assert "| better |" in tables and f"| {first.label} |" in tables
    at.number_input(key="compare_item").set_value(4321).run()
    at.selectbox(key="compare_cat").set_value(7).run()
    assert not at.exception and not at.error



def test_the_previous_default_opens_in_compare_with_the_same_latents_and_its_own_decoder(monkeypatch):
    at = _app(monkeypatch)
    at.query_params["with"] = "previous"   # the link the model card gives
    at.switch_page(PAGES["Compare models"]).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="compare_choice").value == "previous default"
    tables = "\n".join(m.value for m in at.markdown)
    assert "| Active latent units (Var μ > 0.01) | 122 of 128 | 122 of 128 |" in tables
    assert "| Decoder fine-tuning | 4 epochs, adversarial + perceptual | 2 epochs, adversarial |" in tables
    default, previous = load_bundle(ROOT / "assets"), load_bundle(ROOT / "assets" / "previous")
    assert np.array_equal(default.mu, previous.mu)
    assert np.array_equal(default.maps["tsne"], previous.maps["tsne"])
    assert not np.array_equal(default.recon_mse, previous.recon_mse)   # its own decoder's errors
    assert previous.meta["exported_from"]["weights_sha256"] == (
        default.meta["decoder_finetune"]["source"]["weights_sha256"])
    assert previous.current_metrics is not None   # evaluated on its stored weights


def test_compare_view_says_in_one_line_why_a_second_model_cannot_load(monkeypatch, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(ROOT / "assets", broken, ignore=shutil.ignore_patterns("concepts", "paper"))
    (broken / "model.json").write_text("{ not json")
    at = _app(monkeypatch).switch_page(PAGES["Compare models"]).run()
    at.selectbox(key="compare_choice").set_value("another directory…").run()
    for directory, message in ((tmp_path / "nowhere", "not a directory"), (broken, "not valid JSON")):
        at.text_input(key="compare_dir").set_value(str(directory)).run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0], errors
    assert (ROOT / "assets" / "model.json").is_file()   # nothing of the loaded model was touched
