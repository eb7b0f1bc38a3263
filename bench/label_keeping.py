"""Do `augment`'s variants (and the Variations view's) keep their source's label? Issue 47's target:
variants of the test images recognised as their source's category at least as often as the real test
images themselves, within 3 points overall and 5 per category, judged by the independent judge (the
first judge filters with --min-confidence, so it cannot also judge).

For each model, temperature T and confidence filter, every test image gets one variant
z = μ + T·σ·ε (``augment.variants``, seed 0) and the independent judge's verdict on it is compared
with its verdict on the real image's category (its recall).

    .venv/bin/python bench/label_keeping.py [--checkpoint assets assets/previous]
        [--temperature 1 2 4 8] [--min-confidence none 0.5 0.9] [--images 10000]
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
from training.evaluation.classifier import INDEPENDENT_JUDGE, load_classifier, probabilities  # noqa: E402
from training.evaluation.judging import classify  # noqa: E402
from training.synthesis.augment import variants  # noqa: E402

OVERALL_SLACK, CATEGORY_SLACK = 3.0, 5.0   # points, the "within"


def verdict(overall_gap: float, worst_gap: float) -> str:
    return "yes" if overall_gap <= OVERALL_SLACK and worst_gap <= CATEGORY_SLACK else "no"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=[str(ROOT / "assets")])
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0, 2.0, 4.0, 8.0])
    p.add_argument("--min-confidence", nargs="+", default=["none"],
                   help="'none' or a probability; the filter is the model's own (first) judge")
    p.add_argument("--images", type=int, default=10_000, help="the first N test images")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load(None)
    images, labels = data.test_images[:args.images], data.test_labels[:args.images]
    judge = load_classifier(INDEPENDENT_JUDGE)
    first = load_classifier(ROOT / "assets")
    real, real_per = M.agreement(classify(judge, to_tensor(images))[1], labels, len(CATEGORIES))
    print(f"independent judge on the {len(images):,} real test images: {real:.4f}")
    print("| model | T | filter | images with a variant (fewest) | recognised | gap (points) | "
          "worst category (points) | met? | s |")
    print("|---|---:|---|---|---:|---:|---|---|---:|")
    for checkpoint in args.checkpoint:
        model = load_model(checkpoint).eval()
        for t in args.temperature:
            for filt in args.min_confidence:
                t0 = time.perf_counter()
                threshold = None if filt == "none" else float(filt)
                keeps = (lambda decoded: probabilities(first, decoded)) if threshold else None  # noqa: E731
                out = variants(model, images, labels, 1, t, 0, keeps, threshold)
                pix = torch.from_numpy(out["images"]).float().div(255).unsqueeze(1)
                got, per = M.agreement(classify(judge, pix)[1], out["labels"].astype(np.int64),
                                       len(CATEGORIES))
                gaps = {c: 100 * (real_per[c] - per[c]) for c in range(len(CATEGORIES))}
                with_variant = np.bincount(labels[np.unique(out["source"])], minlength=len(CATEGORIES))
                fewest = int(np.argmin(with_variant / np.bincount(labels, minlength=len(CATEGORIES))))
                worst = max(gaps, key=gaps.get)
                gap = 100 * (real - got)
                kept = len(np.unique(out["source"])) / len(images)
                share = with_variant[fewest] / (labels == fewest).sum()
                print(f"| {Path(checkpoint).name} | {t:g} | {filt} | {kept:.2f} ({CATEGORIES[fewest]} "
                      f"{share:.2f}) | "
                      f"{got:.4f} | {gap:+.1f} | {CATEGORIES[worst]} {gaps[worst]:+.1f} | "
                      f"{verdict(gap, gaps[worst])} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
