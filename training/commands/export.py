"""``python -m training export``: a copy of a model directory with float16 weights, half the size, or
its decoder as ONNX (``synthesis/export.py``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ProjectError
from ..model import CONFIG_FILE, WEIGHTS_FILE
from ..synthesis.export import DTYPES, export, export_onnx

FORMATS = ("safetensors", "onnx")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory to export")
    p.add_argument("--format", choices=FORMATS, default="safetensors",
                   help="safetensors: a copy of the directory with its weights stored as --dtype; onnx: the "
                        "decoder (latents → pixels, any batch) as decoder.onnx, checked against torch first "
                        "(default: %(default)s)")
    p.add_argument("--out", help="directory to write: the copy (model.safetensors, model.json, curves), or "
                                 "with --format onnx where decoder.onnx goes (default: beside the weights)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float16",
                   help="storage type of the weights (default: %(default)s); computation stays float32")


def run(ns: argparse.Namespace) -> None:
    if ns.format == "onnx":
        done = export_onnx(ns.checkpoint, ns.out)
        print(f"wrote {done['file']} ({done['bytes'] / 1e6:.1f} MB); onnxruntime matches torch to "
              f"{done['max_difference']:.1e} on {done['latents_checked']} latents, "
              f"{done['pixels_8bit_differing']:.2%} of 8-bit pixels differ")
        return
    if not ns.out:
        raise ProjectError("--out: expected the directory for the half-precision copy")
    meta = export(ns.checkpoint, ns.out, ns.dtype, ns.command_line)
    size = (Path(ns.out) / WEIGHTS_FILE).stat().st_size
    print(f"wrote {Path(ns.out) / WEIGHTS_FILE} ({ns.dtype}, {size / 1e6:.1f} MB, sha256 "
          f"{meta['weights_sha256'][:12]}…) and {CONFIG_FILE}; next: python -m training embed "
          f"--checkpoint {ns.out} --out {ns.out}")
