"""Your own pictures in the latent space (the app's "Your image" and ``python -m training encode``):
prepare each file as a Fashion-MNIST input, encode it, decode it, and say which categories it is
near — by the classifier, and by its nearest neighbours among the mapped test images' latents."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import device as D
from .. import stored_embeddings
from ..data import channels_first
from ..evaluation.classifier import load_judge
from ..inference import decode_pixels
from ..model import ModelLoadError, load_model
from ..model_data import category_names
from .prepare import ImageError, prepare_for_model


@dataclass
class Encoded:
    name: str
    prepared: np.ndarray        # the model input: 28×28, or S×S(×3) for a folder model
    z: np.ndarray               # latent mean μ (k)
    reconstruction: np.ndarray  # the same shape
    top3: list[tuple[str, float]]          # classifier's three most likely categories
    neighbours: np.ndarray | None = None   # indices of the nearest mapped latents, closest first
    neighbour_distances: np.ndarray | None = None
    notes: list[str] | None = None


@torch.no_grad()
def encode_prepared(model, prepared: np.ndarray, classifier=None, latents: np.ndarray | None = None,
                    k: int = 8, name: str = "image", notes: list[str] | None = None) -> Encoded:
    x = channels_first(torch.from_numpy(prepared.astype(np.float32))[None])
    mu, _ = model.encode(x.to(D.of(model)))
    z = mu[0].cpu().numpy()
    recon = decode_pixels(model, z)[0]
    top3 = []
    if classifier is not None:
        names = category_names(model.info)
        p = torch.softmax(classifier(x.to(D.of(classifier))), 1)[0].cpu().numpy()
        top3 = [(names[i], float(p[i])) for i in np.argsort(-p)[:3]]
    result = Encoded(name, prepared, z, recon, top3, notes=notes or [])
    if latents is not None and len(latents):
        d = np.linalg.norm(latents.astype(np.float32) - z[None], axis=1)
        idx = np.argsort(d, kind="stable")[:k]
        result.neighbours, result.neighbour_distances = idx, d[idx]
    return result


def neighbour_categories(labels: np.ndarray, neighbours: np.ndarray,
                         names: tuple[str, ...]) -> list[tuple[str, int]]:
    """Categories among the neighbours, most frequent first (ties: the nearer one first)."""
    order = []
    for c in labels[neighbours]:
        if c not in order:
            order.append(c)
    counts = {c: int((labels[neighbours] == c).sum()) for c in order}
    return [(names[c], counts[c]) for c in sorted(order, key=lambda c: -counts[c])]


def encode_files(paths: list[str], checkpoint, out_dir=None, classifier_dir=None,
                 device: str = "auto") -> tuple[list[str], int]:
    """What ``encode`` says: one block of lines per image, and each image's preparation beside its
    reconstruction written as PNG; bad files get one line each and do not stop the rest.
    Returns the lines and the number of files that failed."""
    checkpoint, device = Path(checkpoint), D.resolve(device)
    model = load_model(checkpoint, device=device)
    try:
        classifier = load_judge(checkpoint, model.info, classifier_dir, device)
    except ModelLoadError:
        classifier = None
    latents = labels = None
    found = stored_embeddings.stored(checkpoint, model)   # the nearest mapped images, where embed ran
    if found is not None:
        try:
            latents, labels = found.arrays["mu"].astype(np.float32), found.arrays["labels"].astype(np.int64)
        except (OSError, ValueError, KeyError):
            latents = labels = None
    lines, failed = [], 0
    for p in map(Path, paths):
        try:
            payload = p.read_bytes()
        except OSError as e:
            lines.append(f"{p}: error: cannot read ({e.strerror or e})")
            failed += 1
            continue
        try:
            prepared = prepare_for_model(payload, str(p), model.info)
        except ImageError as e:
            lines.append(f"error: {e}")
            failed += 1
            continue
        r = encode_prepared(model, prepared.model_input, classifier, latents, name=str(p),
                            notes=prepared.notes)
        target_dir = Path(out_dir) if out_dir else p.parent
        target_dir.mkdir(parents=True, exist_ok=True)
        recon_path = target_dir / f"{p.stem}.recon.png"
        side_by_side = np.concatenate([r.prepared, r.reconstruction], axis=1)
        side = r.prepared.shape[0]
        Image.fromarray((np.clip(side_by_side, 0, 1) * 255).round().astype(np.uint8)) \
            .resize((2 * side * 4, side * 4), Image.NEAREST).save(recon_path)
        lines.append(f"{p}:")
        lines += [f"  note: {n}" for n in r.notes]
        if r.top3:
            lines.append("  classifier: " + ", ".join(f"{c} {q:.2f}" for c, q in r.top3))
        if r.neighbours is not None:
            near = neighbour_categories(labels, r.neighbours, category_names(model.info))
            near_text = ", ".join(f"{c} {n}" for c, n in near)
            lines.append(f"  nearest {len(r.neighbours)} test latents: {near_text}")
        lines.append(f"  wrote {recon_path} (prepared input | reconstruction)")
    return lines, failed
