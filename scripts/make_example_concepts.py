"""Write the worked-example concept files in assets/concepts/ for the shipped model.

Each concept's two groups are chosen the way a person would pick them on the map, but by a rule on
the real test photos, so the files can be made again and checked: which items have long sleeves,
which shoes are high, which bags show a handle. The rule only picks the groups; the direction and
its separability come from the model's latents, exactly as in the app (training/synthesis/concepts.py).

    python scripts/make_example_concepts.py [--checkpoint assets] [--sheet /tmp/concepts.png]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explorer.assets import load_bundle  # noqa: E402
from training import CATEGORIES  # noqa: E402
from training import data as fmnist  # noqa: E402
from training.checkpoint import atomic_write_text  # noqa: E402
from training.synthesis import concepts as C  # noqa: E402

INK = 40   # a pixel above this (of 255) is part of the product


def width(photo: np.ndarray, rows: slice) -> float:
    """Mean number of inked columns across the given rows."""
    return float((photo[rows] > INK).sum(1).mean())


def has_long_sleeves(photo: np.ndarray) -> bool | None:
    """True when the garment is at least as wide at the waist (rows 16–23) as at the shoulders (rows
    4–8): sleeves hang beside the body. False when it is a fifth narrower at the waist: short sleeves
    stick out at the shoulders only. None between, or for a narrow top (sleeveless, folded): left out
    of both groups."""
    waist, shoulders = width(photo, slice(16, 24)), width(photo, slice(4, 9))
    if waist >= 0.95 * shoulders and waist >= 15:
        return True
    if waist <= 0.8 * shoulders and shoulders >= 15:
        return False
    return None


def height(photo: np.ndarray) -> int:
    """Rows with any ink: how tall the product stands in the frame."""
    return int((photo > INK).any(1).sum())


def handle_rows(photo: np.ndarray) -> int:
    """Rows in the top third that cross two separate inked runs with a gap between: the two sides of a
    handle above the bag's body."""
    rows = 0
    for row in photo[:10] > INK:
        runs = np.flatnonzero(np.diff(np.r_[0, row.astype(int)]) == 1)
        rows += len(runs) >= 2
    return rows


def rules(photos: np.ndarray, labels: np.ndarray):
    """(file name, concept name, with rows, without rows) of each example."""
    cat = {name: CATEGORIES.index(name) for name in CATEGORIES}
    tops = np.flatnonzero(np.isin(labels, [cat["Shirt"], cat["T-shirt/top"]]))
    sleeves = np.array([has_long_sleeves(photos[i]) for i in tops])
    shoes = np.flatnonzero(np.isin(labels, [cat["Sneaker"], cat["Sandal"], cat["Ankle boot"]]))
    tall = np.array([height(photos[i]) for i in shoes])
    bags = np.flatnonzero(labels == cat["Bag"])
    handles = np.array([handle_rows(photos[i]) for i in bags])
    return [("long-sleeves", "long sleeves (shirts and T-shirts)",
             tops[sleeves == True], tops[sleeves == False]),  # noqa: E712
            ("high-shoe", "high shoe (boots and high heels among sneakers, sandals, ankle boots)",
             shoes[tall >= 20], shoes[tall <= 12]),
            ("bag-handle", "visible handle (bags)", bags[handles >= 4], bags[handles == 0])]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="assets")
    p.add_argument("--out", default="assets/concepts")
    p.add_argument("--sheet", help="also write a PNG of 12 photos of each group, to check the rules by eye")
    a = p.parse_args()
    b = load_bundle(a.checkpoint)
    photos = fmnist.load().test_images[b.index]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sheet = []
    for file, name, with_rows, without_rows in rules(photos, b.labels):
        concept, note = C.make(name, b.mu, b.labels, b.index, with_rows, without_rows, C.SELECTED,
                               b.meta["weights_sha256"])
        atomic_write_text(out / f"{file}.json", concept.to_json())
        print(f"{out / file}.json: {name}: {len(concept.with_items)} with, "
              f"{len(concept.without_items)} without, "
              f"separability {concept.accuracy:.3f} (chance bound {concept.chance_bound:.3f})"
              + (f"; {note}" if note else ""))
        for rows in (with_rows, without_rows):
            sheet.append(np.concatenate([photos[i] for i in rows[:12]], 1))
    if a.sheet:
        from PIL import Image
        Image.fromarray(np.concatenate(sheet, 0)).resize((12 * 28 * 3, len(sheet) * 28 * 3)).save(a.sheet)


if __name__ == "__main__":
    main()
