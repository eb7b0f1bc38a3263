"""How often the independent judge recognises each model's reconstructions of the 10,000 test images
(decoded from μ), overall and per category, beside its recall of the real images and the squared
error: issue 47's first target (≥ 0.92, every category within 5 points of its real images), measured
in half a minute per model instead of a full evaluation.

    .venv/bin/python bench/judge_reconstructions.py --checkpoint assets assets/previous runs/x
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import load_model  # noqa: E402
from training.data import CATEGORIES, load, to_tensor  # noqa: E402
from training.evaluation import metrics as M  # noqa: E402
from training.evaluation.classifier import INDEPENDENT_JUDGE, load_classifier  # noqa: E402
from training.evaluation.judging import classify  # noqa: E402
from training.inference import decode_batched, encode_all  # noqa: E402

TARGET, CATEGORY_SLACK = 0.92, 5.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=[str(ROOT / "assets")])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load(None)
    x = to_tensor(data.test_images)
    judge = load_classifier(INDEPENDENT_JUDGE)
    real, real_per = M.agreement(classify(judge, x)[1], data.test_labels, len(CATEGORIES))
    short = [c[:8] for c in CATEGORIES]
    print(f"real test images: {real:.4f}; per category: "
          + ", ".join(f"{n} {r:.3f}" for n, r in zip(short, real_per, strict=True)))
    print("| model | MSE | recognised | worst category (points below real) | met? | "
          + " | ".join(short) + " |")
    print("|---|---:|---:|---|---|" + "---:|" * len(short))
    for checkpoint in args.checkpoint:
        t0 = time.perf_counter()
        model = load_model(checkpoint).eval()
        mu = encode_all(model, data.test_images)[0]
        rec = decode_batched(model, mu)
        mse = float(((rec - x) ** 2).mean())
        got, per = M.agreement(classify(judge, rec)[1], data.test_labels, len(CATEGORIES))
        gaps = 100 * (np.array(real_per) - np.array(per))
        worst = int(gaps.argmax())
        met = "yes" if got >= TARGET and gaps[worst] <= CATEGORY_SLACK else "no"
        print(f"| {checkpoint} | {mse:.5f} | {got:.4f} | {CATEGORIES[worst]} {gaps[worst]:.1f} | {met} | "
              + " | ".join(f"{v:.3f}" for v in per) + f" |  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
