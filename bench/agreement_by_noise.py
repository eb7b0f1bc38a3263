"""Where in a category's Gaussian do samples stop being recognised?

For each category: the judge's probability of that category for the decoded category *mean*, and
`category_agreement` of samples drawn as the evaluation draws them (the category's fitted Gaussian
from the training μ, test-set proportions, seed 0) at noise scales from 0 (the mean itself) up
to 1. The app's default (0.5) is the column `evaluate` reports. A category whose decoded mean is
already a borderline image cannot be fixed by sharper drawing alone (reports/notes.md,
twenty-first measured step).

    .venv/bin/python bench/agreement_by_noise.py [MODEL_DIR] [--noise 0 0.1 …] [--threads N]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import data as fmnist  # noqa: E402
from training.classifier import classifier_dir_for, load_classifier, predict  # noqa: E402
from training.embed import category_statistics  # noqa: E402
from training.finetune import encode_all  # noqa: E402
from training.metrics import agreement  # noqa: E402
from training.model import decode_batched, load_model  # noqa: E402
from training.sampling import DEFAULT_NOISE, sample_categories  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="assets")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.25, DEFAULT_NOISE, 0.75, 1.0])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = fmnist.load(allow_download=False)
    judge = load_classifier(classifier_dir_for(a.model))
    model = load_model(a.model)
    mu, logvar = encode_all(model, fmnist.to_tensor(data.train_images))
    mean, cov, _, _ = category_statistics(mu.numpy(), logvar.numpy(), np.asarray(data.train_labels))
    counts = np.bincount(np.asarray(data.test_labels), minlength=len(mean))
    names = [c.split("/")[0] for c in fmnist.CATEGORIES]

    p_mean = predict(judge, decode_batched(model, mean))[1]
    print(f"| | overall | {' | '.join(names)} |")
    print("|---|---:|" + "---:|" * len(names))
    print("| judge's probability of the category, decoded mean | | "
          + " | ".join(f"{p_mean[c, c]:.2f}" for c in range(len(mean))) + " |")
    for noise in a.noise:
        z, y = sample_categories(mean, cov, counts, noise, 0)
        overall, per = agreement(predict(judge, decode_batched(model, z))[1].argmax(1), y, len(mean))
        default = " (default)" if noise == DEFAULT_NOISE else ""
        print(f"| agreement at noise {noise:g}{default} | {overall:.3f} | " + " | ".join(f"{x:.2f}" for x in per) + " |",
              flush=True)


if __name__ == "__main__":
    main()
