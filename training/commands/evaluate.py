"""``python -m training evaluate``: every metric of a model directory, as JSON
(``evaluation/evaluate.py``)."""
from __future__ import annotations

import argparse

from ..evaluation.evaluate import PARTS, evaluate
from ..precision import PRECISIONS
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory (model.safetensors + model.json)")
    p.add_argument("--out", help="JSON file to write (default: <checkpoint>/metrics.json)")
    p.add_argument("--quick", action="store_true",
                   help="small fixed subsets: seconds, not minutes; noisy numbers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts", metavar="LIST", default=",".join(PARTS),
                   help="optional stages to run, comma-separated (default: all of %(default)s; the ELBO and "
                        "latent statistics are always measured)")
    p.add_argument("--classifier", help="directory with classifier.safetensors (default: the checkpoint's, "
                                        "else assets/)")
    p.add_argument("--reference-cache", metavar="FILE",
                   help="where model-independent references (raw-pixel probes, the CAS and augmentation arms "
                        "on real images) are kept between evaluations (default: "
                        "$XDG_CACHE_HOME/fashion-vae/reference-metrics.json)")
    p.add_argument("--recompute-references", action="store_true",
                   help="compute those references afresh instead of reusing cached ones")
    p.add_argument("--classifier-precision", choices=PRECISIONS, default="auto",
                   help="arithmetic of the classifiers the CAS and augmentation train: auto = bfloat16 "
                        "where the CPU has AMX (faster); fp32 keeps their figures comparable with machines "
                        "without AMX")
    A.add_threads(p)
    A.add_device(p)
    A.add_data_dir(p)
    A.add_quiet(p)


def run(ns: argparse.Namespace) -> None:
    evaluate(ns.checkpoint, ns.out, quick=ns.quick, seed=ns.seed, classifier_dir=ns.classifier,
             data_dir=ns.data_dir, threads=ns.threads, progress=not ns.quiet, command=ns.command_line,
             parts=[p for p in ns.parts.split(",") if p], reference_cache=ns.reference_cache,
             recompute_references=ns.recompute_references, classifier_precision=ns.classifier_precision,
             device=ns.device)
