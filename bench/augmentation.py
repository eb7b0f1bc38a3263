"""Does this project's synthetic data make a classifier with few labels better? The label-budget
benchmark of docs/augmentation.md.

For each labelled budget (balanced subsets of the 60k training images, drawn with a fixed seed per
seed; never a test image) and each seed, one small CNN per arm (``training/small_classifier.py``,
the same architecture and the same number of optimiser steps in every arm), tested on the 10k test
images:

  real              the labelled images only
  classic           + a random horizontal flip and a shift of up to 2 pixels per image
  variants          + ``augment``'s variants of the labelled images (their posterior at --temperature)
  classic+variants  both
  latent            no CNN: logistic regression on the frozen encoder's μ of the labelled images

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
from training import data as fmnist  # noqa: E402
from training import load_model  # noqa: E402
from training.augment import DEFAULT_TEMPERATURE, variants  # noqa: E402
from training.embed import encode_all  # noqa: E402
from training.metrics import linear_probe  # noqa: E402
from training.small_classifier import accuracy, balanced_subset, train  # noqa: E402

ARMS = ("real", "classic", "variants", "classic+variants", "latent")
STEPS = {100: 500, 600: 1000, 6000: 2000, 60000: 3000}          # optimiser steps of 64 images
PER_IMAGE = {100: 20, 600: 10, 6000: 2, 60000: 1}               # variants of each labelled image


def run_arm(arm: str, x, y, synthetic, steps: int, seed: int, share, test, latents) -> float:
    if arm == "latent":
        model, test_mu = latents
        mu = model.encode(x)[0].detach().numpy()
        return linear_probe(mu, y.numpy(), test_mu, test[1].numpy())
    model = train(x, y, steps, seed=seed, classic=arm.startswith("classic"),
                  synthetic=synthetic if "variants" in arm else None, synthetic_share=share)
    return accuracy(model, *test)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="100,600,6000,60000", help="labelled images, comma-separated")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--checkpoint", default=str(ROOT / "assets"))
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    p.add_argument("--per-image", type=int, help="variants per labelled image (default: by budget)")
    p.add_argument("--share", type=float,
                   help="synthetic share of each batch (default: uniform over the union)")
    p.add_argument("--steps", type=int, help="optimiser steps (default: by budget)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="100 labels, one seed, 100 steps")
    p.add_argument("--out", help="JSON file for every figure")
    a = p.parse_args()
    budgets = [100] if a.quick else [int(b) for b in a.budgets.split(",")]
    seeds, steps_override = (1, 100) if a.quick else (a.seeds, a.steps)
    arms = a.arms.split(",")
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    d = fmnist.load(allow_download=False)
    model = load_model(a.checkpoint)
    test = fmnist.to_tensor(d.test_images), torch.from_numpy(d.test_labels)
    test_mu = encode_all(model, d.test_images)[0] if "latent" in arms else None

    results = {}
    for budget in budgets:
        steps, per_image = steps_override or STEPS[budget], a.per_image or PER_IMAGE[budget]
        for seed in range(seeds):
            idx = balanced_subset(d.train_labels, budget, seed)
            x, y = fmnist.to_tensor(d.train_images[idx]), torch.from_numpy(d.train_labels[idx])
            synthetic = None
            if any("variants" in arm for arm in arms):
                made = variants(model, d.train_images[idx], d.train_labels[idx], per_image, a.temperature,
                                seed=seed)
                synthetic = (fmnist.to_tensor(made["images"]),
                             torch.from_numpy(made["labels"].astype(np.int64)))
            for arm in arms:
                acc = run_arm(arm, x, y, synthetic, steps, seed, a.share, test, (model, test_mu))
                results.setdefault(str(budget), {}).setdefault(arm, []).append(acc)
                print(f"{budget:>6} labels  seed {seed}  {arm:<17} {acc:.4f}   "
                      f"({time.perf_counter() - t0:.0f} s)",
                      flush=True)

    print(f"\n{'labels':>6}  " + "  ".join(f"{arm:>17}" for arm in arms))
    for budget, by_arm in results.items():
        cells = [f"{np.mean(v):.4f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.4f}" for v in by_arm.values()]
        print(f"{budget:>6}  " + "  ".join(f"{c:>17}" for c in cells))
    summary = {"command": "python bench/augmentation.py " + " ".join(sys.argv[1:]),
               "seconds": time.perf_counter() - t0,
               "settings": {"temperature": a.temperature, "per_image": a.per_image or PER_IMAGE,
                            "share": a.share, "steps": steps_override or STEPS, "seeds": seeds},
               "accuracy": results}
    if a.out:
        Path(a.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
