"""How much does a model's latent space know? Active units and two probes on μ.

Active units: latent dims whose variance of μ over the test images exceeds 0.01 (Burda et al.).
Probes: logistic regression and 5-NN trained on μ of the 60k training images, tested on the 10k
test images, next to the same probes on raw pixels. Used to choose the default configuration
(reports/notes.md, "Choosing the likelihood").

    .venv/bin/python bench/latent_probe.py MODEL_DIR [MODEL_DIR …] [--pixels]
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import data as fmnist  # noqa: E402
from training import load_model
from training.inference import encode_all  # noqa: E402


def probes(train_x, train_y, test_x, test_y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs may stop at max_iter on pixels; the score is what we report
        linear = LogisticRegression(max_iter=300).fit(train_x, train_y).score(test_x, test_y)
    knn = KNeighborsClassifier(5).fit(train_x, train_y).score(test_x, test_y)
    return linear, knn


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--pixels", action="store_true", help="also probe raw pixels")
    a = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    d = fmnist.load(allow_download=False)
    print(f"{'model':40s} {'active':>6s} {'linear':>7s} {'5-NN':>6s} {'recon MSE':>9s}")
    if a.pixels:
        def flat(x):
            return x.reshape(len(x), -1).astype(np.float32) / 255
        lin, knn = probes(flat(d.train_images), d.train_labels, flat(d.test_images), d.test_labels)
        print(f"{'raw pixels':40s} {'':>6s} {lin:7.4f} {knn:6.4f}")
    for m in a.models:
        model = load_model(m)
        tr, _, _ = encode_all(model, d.train_images)
        te, _, err = encode_all(model, d.test_images)
        active = int((te.var(0) > 0.01).sum())
        lin, knn = probes(tr, d.train_labels, te, d.test_labels)
        print(f"{m:40s} {active:6d} {lin:7.4f} {knn:6.4f} {err.mean():9.5f}", flush=True)


if __name__ == "__main__":
    main()
