"""Which t-SNE is faster here: scikit-learn (Barnes-Hut) or openTSNE (FFT-accelerated)?

Both run on the same input the embed step uses (Fashion-MNIST pixels → PCA to 50 dims), with
perplexity 30, PCA initialisation and all cores, at 10k points and at all 70k points. Also reports
the 5-NN accuracy inside each map, so speed is not bought with a worse map.

    .venv/bin/python bench/tsne_speed.py [--sizes 10000,70000]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import data as fmnist  # noqa: E402
from training.synthesis.maps import tsne_2d  # noqa: E402


def knn_accuracy(xy, labels, k=5, n=5000, seed=0):
    from sklearn.neighbors import KNeighborsClassifier
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(xy))
    test, train = idx[:n], idx[n:]
    return KNeighborsClassifier(k).fit(xy[train], labels[train]).score(xy[test], labels[test])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,70000")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    d = fmnist.load(allow_download=False)
    pixels = np.concatenate([d.test_images, d.train_images]).reshape(70000, -1).astype(np.float32) / 255
    labels = np.concatenate([d.test_labels, d.train_labels])
    print(f"{'points':>7s} {'implementation':14s} {'seconds':>8s} {'5-NN acc':>8s}")
    for n in map(int, a.sizes.split(",")):
        for backend in ("sklearn", "opentsne"):
            t = time.perf_counter()
            xy, name = tsne_2d(pixels[:n], seed=0, threads=a.threads, backend=backend)
            s = time.perf_counter() - t
            print(f"{n:7d} {name:14s} {s:8.1f} {knn_accuracy(xy, labels[:n]):8.3f}", flush=True)


if __name__ == "__main__":
    main()
