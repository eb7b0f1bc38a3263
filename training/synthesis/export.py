"""A model directory to ship, its weights stored in half precision, or its decoder as an ONNX graph
(``python -m training export``).

A float16 copy of the weights is half the size. The copy records ``weights_dtype`` and the weights
it came from, and loading checks that every tensor has the recorded type and finite values, then
computes in float32 as usual. Embed and evaluate the exported directory, not the original: its
latents, maps and metrics then describe exactly the weights that ship. The ONNX decoder
(``decoder_onnx``) is what the app's pages decode with in the browser, and a file other runtimes load.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from ..checkpoint import atomic_write_bytes, atomic_write_text, safetensors_bytes
from ..errors import ProjectError
from ..model import CONFIG_FILE, WEIGHTS_FILE, load_model

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
COPIED = ("metrics.jsonl", "finetune.jsonl")   # the training curves, which the model card shows


def export(checkpoint, out, dtype: str = "float16", command: str | None = None) -> dict:
    checkpoint, out = Path(checkpoint), Path(out)
    if out.resolve() == checkpoint.resolve():
        raise ProjectError(f"--out {out}: must differ from --checkpoint (the original weights would be lost)")
    model = load_model(checkpoint)
    payload = safetensors_bytes({k: v.detach().to(DTYPES[dtype]).contiguous()
                                 for k, v in model.state_dict().items()})
    meta = {k: v for k, v in model.info.items() if k not in ("weights_sha256", "exported_from")}
    meta.update(weights_sha256=hashlib.sha256(payload).hexdigest(), weights_dtype=dtype,
                exported_from={"directory": str(checkpoint), "command": command,
                               "weights_sha256": model.info.get("weights_sha256")})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / WEIGHTS_FILE, payload)
    atomic_write_text(out / CONFIG_FILE, json.dumps(meta, indent=2) + "\n")
    for name in COPIED:
        if (checkpoint / name).is_file():
            shutil.copyfile(checkpoint / name, out / name)
    load_model(out)   # the copy loads, with its checks
    return meta


def export_onnx(checkpoint, out=None) -> dict:
    """The checkpoint's decoder as ``decoder.onnx`` in ``out`` (default: beside its weights), checked
    against torch before it is written (``decoder_onnx``)."""
    from .decoder_onnx import DECODER_FILE, export_decoder
    checkpoint = Path(checkpoint)
    model = load_model(checkpoint)
    try:
        return export_decoder(model, Path(out or checkpoint) / DECODER_FILE)
    except ProjectError as e:
        raise ProjectError(f"{checkpoint}: {e}") from None
