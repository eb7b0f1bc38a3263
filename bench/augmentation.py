"""Does this project's synthetic data make a classifier with few labels better? The label-budget
benchmark of docs/augmentation.md.

For each labelled budget (balanced subsets of the 60k training images, drawn with a fixed seed per
seed; never a test image) and each seed, one small CNN per arm (``bench/small_classifier.py``,
the same architecture and the same number of optimiser steps in every arm), tested on the 10k test
images:

  real                    the labelled images only
  classic                 + a random horizontal flip and a shift of up to 2 pixels per image
  variants (union)        + ``augment``'s variants of the labelled images, batches drawn uniformly from
                          real ∪ variants (what most people do with a file of extra images)
  variants                + the same variants as a fixed share of each batch (--share, default ¼)
  classic+variants        both, the variants at the same share
  latent                  no CNN: logistic regression on the frozen encoder's μ of the labelled images
  variants only           (the full budget only) the variants alone: the classification accuracy
                          score of this synthetic data, beside the real-only arm

The VAE was trained on the 60k training images without their labels, so every arm that uses it is
semi-supervised: it has seen the unlabelled images, as a practitioner's own model would have.

    .venv/bin/python bench/augmentation.py [--budgets 100,600,6000,60000] [--seeds 3] [--out FILE]
    .venv/bin/python bench/augmentation.py --quick          # one seed, 100 labels, few steps: seconds
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from small_classifier import accuracy, balanced_subset, train  # noqa: E402
from training import data as fmnist  # noqa: E402
from training import load_model  # noqa: E402
from training.evaluation.metrics import linear_probe  # noqa: E402
from training.inference import encode_all  # noqa: E402
from training.synthesis.augment import DEFAULT_MIN_CONFIDENCE, DEFAULT_TEMPERATURE, variants  # noqa: E402

ARMS = ("real", "classic", "variants (union)", "variants", "classic+variants", "latent")
CAS_ARM = "variants only"
STEPS = {100: 1000, 600: 2000, 6000: 3000, 60000: 4000}         # optimiser steps of 64 images
PER_IMAGE = {100: 20, 600: 10, 6000: 2, 60000: 1}               # variants of each labelled image
SHARE = 0.25                                                     # of each batch, in the variants arms


def run_arm(arm: str, x, y, synthetic, steps: int, seed: int, share: float, test, latents) -> float:
    if arm == "latent":
        model, test_mu = latents
        with torch.no_grad():
            mu = model.encode(x)[0].numpy()
        return linear_probe(mu, y.numpy(), test_mu, test[1].numpy())
    if arm == CAS_ARM:
        model = train(*synthetic, steps, seed=seed)
    else:
        model = train(x, y, steps, seed=seed, classic=arm.startswith("classic"),
                      synthetic=synthetic if "variants" in arm else None,
                      synthetic_share=None if arm == "variants (union)" else share)
    return accuracy(model, *test)


def labelled_variants(model, images, labels, per_image: int, temperature: float, seed: int,
                      min_confidence: float = 0.0, steps: int = 0):
    """``augment``'s variants of the labelled images; with ``min_confidence``, filtered as its default
    filters them, by a classifier trained on these labelled images alone (the project's classifier
    has seen all 60,000 labels: in a few-label benchmark it would leak them)."""
    judge = None
    if min_confidence > 0:
        filter_model = train(fmnist.to_tensor(images), torch.from_numpy(labels.astype(np.int64)), steps,
                             seed=seed)

        def judge(decoded):
            with torch.no_grad():
                return torch.softmax(filter_model(torch.from_numpy(decoded).float().unsqueeze(1)), 1).numpy()
    made = variants(model, images, labels, per_image, temperature, seed=seed, judge=judge,
                    min_confidence=min_confidence if judge else None)
    return fmnist.to_tensor(made["images"]), torch.from_numpy(made["labels"].astype(np.int64))


def report(results: dict, seeds: int) -> None:
    for budget, by_arm in results.items():
        print(f"\n{budget} labels: mean ± std over {seeds} seed(s), then every seed")
        for arm, v in by_arm.items():
            spread = np.std(v, ddof=1) if len(v) > 1 else 0.0
            print(f"  {arm:<18} {np.mean(v):.4f} ± {spread:.4f}   " + " ".join(f"{a:.4f}" for a in v))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="100,600,6000,60000", help="labelled images, comma-separated")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--checkpoint", default=str(ROOT / "assets"))
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    p.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                   help="augment's filter, by a classifier of the labelled images alone (0 = none; "
                        "default: %(default)s, augment's)")
    p.add_argument("--per-image", type=int, help="variants per labelled image (default: by budget)")
    p.add_argument("--share", type=float, default=SHARE,
                   help="synthetic share of each batch in the variants arms (default: %(default)s)")
    p.add_argument("--steps", type=int, help="optimiser steps (default: by budget)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="100 labels, one seed, 50 steps, 2,000 test images")
    p.add_argument("--out", help="JSON file for every figure")
    a = p.parse_args()
    budgets = [100] if a.quick else [int(b) for b in a.budgets.split(",")]
    seeds, steps_override = (1, 50) if a.quick else (a.seeds, a.steps)
    arms = a.arms.split(",")
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    d = fmnist.load(allow_download=False)
    model = load_model(a.checkpoint)
    n_test = 2000 if a.quick else None
    test = fmnist.to_tensor(d.test_images[:n_test]), torch.from_numpy(d.test_labels[:n_test])
    test_mu = encode_all(model, d.test_images[:n_test])[0] if "latent" in arms else None

    results = {}
    for budget in budgets:
        steps, per_image = steps_override or STEPS[budget], a.per_image or PER_IMAGE[budget]
        for seed in range(seeds):
            idx = balanced_subset(d.train_labels, budget, seed)
            x, y = fmnist.to_tensor(d.train_images[idx]), torch.from_numpy(d.train_labels[idx])
            synthetic = None
            if any("variants" in arm for arm in arms):
                synthetic = labelled_variants(model, d.train_images[idx], d.train_labels[idx], per_image,
                                              a.temperature, seed, a.min_confidence, steps)
            for arm in arms + ([CAS_ARM] if budget == 60000 and synthetic is not None else []):
                acc = run_arm(arm, x, y, synthetic, steps, seed, a.share, test, (model, test_mu))
                results.setdefault(str(budget), {}).setdefault(arm, []).append(acc)
                print(f"{budget:>6} labels  seed {seed}  {arm:<18} {acc:.4f}   "
                      f"({time.perf_counter() - t0:.0f} s)",
                      flush=True)

    report(results, seeds)
    summary = {"command": "python bench/augmentation.py " + " ".join(sys.argv[1:]),
               "seconds": round(time.perf_counter() - t0, 1),
               "settings": {"temperature": a.temperature, "min_confidence": a.min_confidence,
                            "per_image": a.per_image or PER_IMAGE,
                            "share": a.share, "steps": steps_override or STEPS, "seeds": seeds},
               "accuracy": results}
    if a.out:
        Path(a.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
