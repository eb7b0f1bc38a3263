"""How faithfully a concept direction (the groups' mean difference, training/concepts.py) moves items.

For pairs of categories whose difference a person can name (ankle boot vs sneaker: a shaft; pullover
vs T-shirt: long sleeves; …), a concept is made from half of each category's mapped test items, and
the *other* half of the "without" category is pushed along it at strength 1. The project's classifier
then says how many became the "with" category (higher: the direction carries the concept) and how
many stayed one of the two (higher: the push did not break the item). Also prints each concept's
separability against its chance bound, and the same for two random halves of one category (noise).

    python bench/concepts.py [--checkpoint assets]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explorer.assets import load_bundle  # noqa: E402
from training import CATEGORIES  # noqa: E402
from training.evaluation.classifier import load_classifier, predict  # noqa: E402
from training.inference import decode_batched  # noqa: E402
from training.synthesis import concepts as C  # noqa: E402

PAIRS = [("Ankle boot", "Sneaker"), ("Pullover", "T-shirt/top"), ("Shirt", "T-shirt/top"),
         ("Dress", "Trouser"), ("Coat", "Pullover")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="assets")
    a = p.parse_args()
    b = load_bundle(a.checkpoint)
    clf = load_classifier(a.checkpoint if Path(a.checkpoint, "classifier.json").is_file() else "assets")
    rng = np.random.default_rng(0)
    print(f"{'with vs without':28} {'separability':>12} {'chance':>7} {'became with':>12} "
          f"{'still one of the two':>21}")
    for with_name, without_name in PAIRS:
        cw, cwo = CATEGORIES.index(with_name), CATEGORIES.index(without_name)
        iw = rng.permutation(np.flatnonzero(b.labels == cw))
        iwo = rng.permutation(np.flatnonzero(b.labels == cwo))
        build_w, build_wo, held = iw[: len(iw) // 2], iwo[: len(iwo) // 2], iwo[len(iwo) // 2:]
        t = time.perf_counter()
        concept, _ = C.make(with_name, b.mu, b.labels, b.index, build_w, build_wo, C.SELECTED, "")
        made = time.perf_counter() - t
        pushed = C.push(b.mu[held], concept.direction, 1.0)
        judged = predict(clf, decode_batched(b.model, pushed))[1].argmax(1)
        print(f"{with_name + ' vs ' + without_name:28} {concept.accuracy:12.3f} {concept.chance_bound:7.3f} "
              f"{np.mean(judged == cw):12.1%} {np.mean((judged == cw) | (judged == cwo)):21.1%}   "
              f"({made:.1f} s to make)")
    for name in ("Shirt", "Bag"):
        items = rng.permutation(np.flatnonzero(b.labels == CATEGORIES.index(name)))
        half = len(items) // 2
        acc, bound, _ = C.separability(b.mu[items[:half]], b.mu[items[half:]])
        print(f"{'two random halves of ' + name:28} {acc:12.3f} {bound:7.3f}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
