"""The decoder exported as ONNX (``export --format onnx``): onnxruntime gives the model's pixels for any
batch, the file says which weights it was made from, and an export that fails writes nothing."""
import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli
from training import load_model
from training.synthesis import decoder_onnx


def _run(path, z: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"z": z})[0]


@pytest.mark.slow
@pytest.mark.parametrize("model_dir", ["assets", "assets/paper"])
def test_the_shipped_models_export_and_give_the_same_pixels(model_dir, tmp_path):
    code, out, err = run_cli("export", "--format", "onnx", "--checkpoint", ROOT / model_dir,
                             "--out", tmp_path)
    assert code == 0, err
    assert "decoder.onnx" in out and "0.00% of 8-bit pixels differ" in out
    model = load_model(ROOT / model_dir)
    path = tmp_path / decoder_onnx.DECODER_FILE
    assert decoder_onnx.weights_of(path) == model.info["weights_sha256"]
    assert str(ROOT).encode() not in path.read_bytes()   # browsers download it: no path of this machine
    for n in (1, 7):   # any batch, beyond the sizes the export checked
        z = np.random.default_rng(n).standard_normal((n, model.config.latent_dim)).astype(np.float32)
        got = _run(path, z)
        with torch.no_grad():
            want = model.decode(torch.from_numpy(z)).numpy()
        assert got.shape == (n, 1, 28, 28)
        assert np.abs(got - want).max() < 1e-5
        assert np.array_equal(np.round(got * 255), np.round(want * 255))
    # made from these weights: not made again; from other weights: made again
    assert not decoder_onnx.ensure_decoder(model, path)
    other = ROOT / ("assets" if model_dir != "assets" else "assets/paper")
    assert decoder_onnx.ensure_decoder(load_model(other), path)


def test_a_decoder_that_cannot_be_exported_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("an operator the exporter does not know\nand a long trace")
    monkeypatch.setattr(torch.onnx, "export", broken)
    code, _, err = run_cli("export", "--format", "onnx", "--checkpoint", ROOT / "assets", "--out", tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cannot be exported to ONNX (RuntimeError: an operator the exporter does not know)" in err
    assert not list(tmp_path.iterdir())


def test_a_graph_that_does_not_give_the_models_pixels_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(decoder_onnx, "graph_bytes", lambda model: b"graph")
    monkeypatch.setattr(decoder_onnx, "difference", lambda model, graph: (0.2, 0.4))
    with pytest.raises(decoder_onnx.ExportError, match="differs from the model by 0.2"):
        decoder_onnx.export_decoder(load_model(ROOT / "assets"), tmp_path / "decoder.onnx")
    assert not (tmp_path / "decoder.onnx").exists()
    assert decoder_onnx.weights_of(ROOT / "README.md") is None   # not a graph: made again, never trusted


def test_the_half_precision_copy_still_needs_its_out(tmp_path):
    code, _, err = run_cli("export", "--checkpoint", ROOT / "assets")
    assert code == 1 and "--out: expected the directory for the half-precision copy" in err
