"""The decoder as an ONNX graph: latents in, pixels out, for the browser and for other runtimes.

``decoder.onnx`` takes ``z``, a float32 batch of latents (N×k, any N), and gives ``image``, N×C×S×S in
[0, 1] (Fashion-MNIST's models: N×1×28×28; a folder's: its channels and size): the network's ``decode``
(its linear layer, transposed convolutions and the sigmoid), the same weights, exported by PyTorch's
ONNX exporter (opset 18). Before anything is written the graph is run by onnxruntime on seeded random
latents and compared with torch: a graph that does not give the model's pixels is refused, never
written. The file records the weights it was made from (``weights_sha256`` in its metadata), so a stale
one is recognised and made again.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import atomic_write_bytes
from ..errors import ProjectError
from ..model import VAE

DECODER_FILE = "decoder.onnx"
OPSET = 18
CHECK_BATCHES = (1, 11, 64)   # latents per check: one image, a traversal strip, a large grid
MAX_DIFFERENCE = 1e-5         # per pixel in [0, 1]; the exporter's graph matched torch to ~1e-6


class ExportError(ProjectError):
    """A decoder that cannot be exported, or whose graph does not give the model's pixels."""


class PixelDecoder(nn.Module):
    """``model.decode`` as plain layers: the same parameters, with PyTorch's own transposed
    convolutions in place of the model's matrix-multiply versions, which read the batch size from
    their input and so would fix it in the exported graph."""

    def __init__(self, model: VAE):
        super().__init__()
        self.from_latent = model.from_latent
        self.channels = model.config.encoder_channels[-1]
        layers = []
        for layer in model.decoder:
            if isinstance(layer, nn.ConvTranspose2d):
                plain = nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                           layer.stride, layer.padding, layer.output_padding,
                                           bias=layer.bias is not None)
                plain.load_state_dict(layer.state_dict())
                layer = plain
            layers.append(layer)
        self.decoder = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.from_latent(z).view(-1, self.channels, 1, 1)))


def graph_bytes(model: VAE) -> bytes:
    """The decoder's ONNX graph, with a dynamic batch dimension; ExportError when the exporter fails."""
    decoder = PixelDecoder(copy.deepcopy(model).cpu()).eval()   # a copy: the model stays where it is
    example = torch.zeros(2, model.config.latent_dim)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(decoder, (example,), dynamo=True, opset_version=OPSET, verbose=False,
                                        input_names=["z"], output_names=["image"],
                                        dynamic_shapes={"z": {0: torch.export.Dim("batch", min=1)}})
    except Exception as e:   # the exporter's failures are many and deep; the user needs one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ExportError(f"the decoder cannot be exported to ONNX ({type(e).__name__}: {first})") from None
    finally:
        quiet.setLevel(level)
    buf = io.BytesIO()
    program.save(buf)
    return without_source_locations(buf.getvalue())


def without_source_locations(graph: bytes) -> bytes:
    """The graph without the exporter's notes of where each node came from: they hold this machine's
    file paths (a browser downloads the file) and make two checkouts' exports differ byte for byte."""
    import onnx
    proto = onnx.load_from_string(graph)
    for nodes in [proto.graph.node, *(f.node for f in proto.functions)]:
        for node in nodes:
            del node.metadata_props[:]
            node.doc_string = ""
    return proto.SerializeToString()


def with_metadata(graph: bytes, metadata: dict[str, str]) -> bytes:
    """The graph with ``metadata`` in its metadata properties (what a runtime shows of a model)."""
    import onnx
    proto = onnx.load_from_string(graph)
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=str(value))
    return proto.SerializeToString()


def difference(model: VAE, graph: bytes, seed: int = 0) -> tuple[float, float]:
    """The largest pixel difference between the graph (run by onnxruntime) and ``model.decode`` over
    seeded N(0, I) latents, and the share of pixels whose 8-bit value differs."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst, differing, pixels = 0.0, 0, 0
    for n in CHECK_BATCHES:
        z = rng.standard_normal((n, model.config.latent_dim)).astype(np.float32)
        got = session.run(None, {"z": z})[0]
        with torch.no_grad():
            want = model.decode(torch.from_numpy(z).to(next(model.parameters()).device)).cpu().numpy()
        if got.shape != want.shape:
            raise ExportError(f"the exported decoder gives {got.shape} for {n} latents, expected "
                              f"{want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
        differing += int((np.round(got * 255) != np.round(want * 255)).sum())
        pixels += got.size
    return worst, differing / pixels


def weights_of(path: str | os.PathLike) -> str | None:
    """The ``weights_sha256`` a decoder file records, None if it records none or is not a graph."""
    import onnx
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:   # a truncated or foreign file: make it again
        return None
    return next((p.value for p in proto.metadata_props if p.key == "weights_sha256"), None)


def export_decoder(model: VAE, path: str | os.PathLike) -> dict:
    """Export ``model``'s decoder to ``path`` (atomically) once its graph gives the model's pixels;
    returns what was measured. An ExportError, and nothing written, otherwise."""
    graph = graph_bytes(model)
    worst, share = difference(model, graph)
    if not worst <= MAX_DIFFERENCE:   # NaN fails too
        raise ExportError(f"the exported decoder differs from the model by {worst:.2g} on a pixel in [0, 1] "
                          f"(at most {MAX_DIFFERENCE:g} is accepted); nothing was written")
    weights = model.info.get("weights_sha256", "") if hasattr(model, "info") else ""
    channels, side = model.config.channels, model.config.image_size
    graph = with_metadata(graph, {"format": "fashion-mnist-vae-decoder", "weights_sha256": weights,
                                  "input": "z: float32 N×latent_dim",
                                  "output": f"image: float32 N×{channels}×{side}×{side} in [0, 1]",
                                  "max_difference_from_torch": f"{worst:.3g}"})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, graph)
    return {"file": str(path), "bytes": len(graph), "max_difference": worst, "pixels_8bit_differing": share,
            "latents_checked": sum(CHECK_BATCHES), "weights_sha256": weights}


def ensure_decoder(model: VAE, path: str | os.PathLike) -> bool:
    """Export the decoder to ``path`` unless a file there was made from these weights; True when it
    exported one."""
    path = Path(path)
    if path.is_file() and weights_of(path) == model.info.get("weights_sha256"):
        return False
    export_decoder(model, path)
    return True
