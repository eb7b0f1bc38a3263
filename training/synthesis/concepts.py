"""Concept directions: a direction in latent space that a person defines with two groups of items,
the items "with" a concept (long sleeves, a handle) and those "without" it, how well the two groups
separate, and latents pushed along it.

Pure functions on numpy arrays, shared by the app's Concepts view and ``generate --concept``. A
concept file is small JSON: the direction, the weights it was made on, and each group's test-image
numbers, so it can be checked against a model, shown on its map again and used from the CLI.

The direction is the difference of the groups' mean latents: strength 1 moves a latent as far as
the "without" group's mean lies from the "with" group's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ProjectError

FORMAT = "fashion-mnist-vae-concept"
MIN_GROUP = 10       # items per group: fewer cannot say whether a difference is a concept or noise
FOLDS = 5
METHOD = "mean difference"
REST = "rest of their categories"   # the "without" group as everything else of the "with" items' categories
SELECTED = "selected"
MAX_FILE_BYTES = 2_000_000
DECIMALS = 7        # of a direction in a file; a made concept is rounded alike: the app and CLI agree
MAX_STRENGTH = 10   # beyond, every item decodes to the same saturated blot


class ConceptError(ProjectError, ValueError):
    """A concept that cannot be made or used; the message is one line."""


@dataclass(frozen=True)
class Concept:
    name: str
    direction: np.ndarray        # k floats; strength 1 = the distance between the groups' means along it
    with_items: tuple            # test-image numbers of each group
    without_items: tuple
    without_rule: str            # SELECTED or REST
    weights_sha256: str          # the weights whose latents defined it
    accuracy: float              # cross-validated balanced accuracy along the groups' mean difference
    chance_bound: float          # what shuffled groups reach (95th percentile): above it, not noise
    folds: int

    @property
    def is_real(self) -> bool:
        return self.accuracy > self.chance_bound

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "name": self.name, "method": METHOD,
            "weights_sha256": self.weights_sha256, "latent_dim": len(self.direction),
            "direction": [round(float(v), DECIMALS) for v in self.direction],
            "separability": {"balanced_accuracy": round(self.accuracy, 4),
                             "chance_bound": round(self.chance_bound, 4), "folds": self.folds},
            "groups": {"with": [int(i) for i in self.with_items],
                       "without": [int(i) for i in self.without_items], "without_rule": self.without_rule},
        }, indent=1) + "\n"


# --- the maths ---------------------------------------------------------------------------------
def direction(mu_with: np.ndarray, mu_without: np.ndarray) -> np.ndarray:
    """The concept's direction: the difference of the groups' mean latents, so that strength 1 moves
    a latent from the "without" group's mean to the "with" group's. (A logistic regression's normal,
    scaled the same way, carried the concept less often: reports/notes.md, step 29.)"""
    d = mu_with.astype(np.float64).mean(0) - mu_without.astype(np.float64).mean(0)
    if not np.isfinite(d).all() or np.linalg.norm(d) < 1e-9:
        raise ConceptError("the two groups have the same mean latent: there is no direction between them")
    return d


def _centroid_accuracy(x: np.ndarray, y: np.ndarray, folds: list) -> float:
    """Mean balanced accuracy over the folds of the nearest-centroid rule: a held-out item is "with"
    when it lies beyond the midpoint of the training groups' means along their difference."""
    scores = []
    for train, test in folds:
        m1, m0 = x[train][y[train] == 1].mean(0), x[train][y[train] == 0].mean(0)
        predicted = (x[test] - (m1 + m0) / 2) @ (m1 - m0) > 0
        truth = y[test] == 1
        scores.append((predicted[truth].mean() + (~predicted[~truth]).mean()) / 2)
    return float(np.mean(scores))


def separability(mu_with: np.ndarray, mu_without: np.ndarray, folds: int = FOLDS, permutations: int = 100,
                 seed: int = 0) -> tuple[float, float, int]:
    """How well the groups separate along a line in latent space: the cross-validated balanced
    accuracy of the nearest-centroid rule (0.5 is chance), and the accuracy that the same procedure
    reaches on the same items with the groups shuffled, 95th percentile of ``permutations`` shuffles
    (above it, the concept is unlikely to be noise). Returns (accuracy, chance bound, folds)."""
    from sklearn.model_selection import StratifiedKFold
    x = np.concatenate([mu_with, mu_without]).astype(np.float64)
    y = np.r_[np.ones(len(mu_with), int), np.zeros(len(mu_without), int)]
    folds = int(min(folds, len(mu_with), len(mu_without)))
    split = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    accuracy = _centroid_accuracy(x, y, split)
    rng = np.random.default_rng(seed)
    # shuffling the items between the groups, not the labels, keeps every fold stratified
    shuffled = [_centroid_accuracy(x[rng.permutation(len(x))], y, split) for _ in range(permutations)]
    return accuracy, float(np.quantile(shuffled, 0.95)), folds


def groups(with_rows, without_rows, labels: np.ndarray, without_rule: str = SELECTED):
    """Rows of each group, sorted, and a note (or None). With ``REST`` the "without" group is every
    other item of the categories the "with" items belong to. Items in both groups leave both."""
    w = np.unique(np.asarray(with_rows, np.int64))
    if without_rule == REST:
        wo = np.setdiff1d(np.flatnonzero(np.isin(labels, np.unique(labels[w]))), w)
    elif without_rule == SELECTED:
        wo = np.unique(np.asarray(without_rows, np.int64))
    else:
        raise ConceptError(f"'without' rule {without_rule!r}: expected {SELECTED!r} or {REST!r}")
    shared = np.intersect1d(w, wo)
    note = None
    if len(shared):
        if len(shared) == min(len(w), len(wo)):
            raise ConceptError(f"the groups overlap entirely ({len(shared)} items in both): select "
                               "different items for 'with' and 'without'")
        w, wo = np.setdiff1d(w, shared), np.setdiff1d(wo, shared)
        note = f"{len(shared)} items in both groups were left out of both"
    for name, g in (("with", w), ("without", wo)):
        if len(g) < MIN_GROUP:
            raise ConceptError(f"the '{name}' group has {len(g)} items: select at least {MIN_GROUP}")
    return w, wo, note


def make(name: str, mu: np.ndarray, labels: np.ndarray, index: np.ndarray, with_rows, without_rows,
         without_rule: str, weights_sha256: str) -> tuple[Concept, str | None]:
    """A concept from two groups of rows of ``mu`` (an embedding's latent means); ``index`` turns
    rows into test-image numbers for the file. Returns it and the groups' note."""
    w, wo, note = groups(with_rows, without_rows, labels, without_rule)
    acc, bound, folds = separability(mu[w], mu[wo])
    d = np.array([round(float(v), DECIMALS) for v in direction(mu[w], mu[wo])])   # as its file will hold it
    name = " ".join(str(name).split())[:80] or "concept"
    return Concept(name, d, tuple(int(i) for i in index[w]), tuple(int(i) for i in index[wo]),
                   without_rule, weights_sha256, round(acc, 4), round(bound, 4), folds), note


def strengths(s: float, steps: int = 9) -> np.ndarray:
    """The strip's strengths, −s to +s."""
    return np.linspace(-abs(s), abs(s), steps)


def push(z: np.ndarray, d: np.ndarray, strength) -> np.ndarray:
    """Latents moved along the direction: one row per strength (a scalar strength moves each row of
    ``z`` by the same amount)."""
    z = np.asarray(z, np.float64)
    s = np.asarray(strength, np.float64)
    if s.ndim == 0:
        return np.atleast_2d(z) + float(s) * d[None]
    return z[None] + s[:, None] * d[None]


def rows_of(items, index: np.ndarray) -> np.ndarray:
    """Rows of an embedding for test-image numbers (those it does not map are left out)."""
    where = {int(v): r for r, v in enumerate(index)}
    return np.asarray([where[int(i)] for i in items if int(i) in where], np.int64)


# --- files -------------------------------------------------------------------------------------
def parse(text: str | bytes, source: str) -> Concept:
    """A concept from a file's content; every problem is a one-line ConceptError naming ``source``."""
    if len(text) > MAX_FILE_BYTES:
        raise ConceptError(f"{source}: {len(text):,} bytes, larger than a concept file can be "
                           f"({MAX_FILE_BYTES:,})")
    try:
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConceptError(f"{source}: not a concept file (not JSON: {str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConceptError(f"{source}: not a concept file (expected \"format\": \"{FORMAT}\")")
    try:
        d = np.asarray(raw["direction"], np.float64)
        sep, grp = raw["separability"], raw["groups"]
        if raw.get("method", METHOD) != METHOD:
            raise ValueError(f"method {raw['method']!r}, expected {METHOD!r}")
        concept = Concept(str(raw["name"])[:80], d,
                          tuple(int(i) for i in grp["with"]), tuple(int(i) for i in grp["without"]),
                          str(grp.get("without_rule", SELECTED)), str(raw["weights_sha256"]),
                          float(sep["balanced_accuracy"]), float(sep["chance_bound"]),
                          int(sep.get("folds", 0)))
    except (KeyError, TypeError, ValueError) as e:
        raise ConceptError(f"{source}: malformed concept file ({type(e).__name__}: {e})") from None
    if d.ndim != 1 or not np.isfinite(d).all() or np.linalg.norm(d) == 0:
        raise ConceptError(f"{source}: the direction must be a list of finite numbers, not all zero")
    return concept


def check(concept: Concept, source: str, weights_sha256: str, latent_dim: int) -> Concept:
    """The concept, if it was made on these weights; a one-line ConceptError otherwise."""
    if len(concept.direction) != latent_dim:
        raise ConceptError(f"{source}: a {len(concept.direction)}-dimensional direction, but the model's "
                           f"latent space has {latent_dim} dimensions")
    if concept.weights_sha256 != weights_sha256:
        raise ConceptError(f"{source}: made on other weights ({concept.weights_sha256[:12]}…) than this "
                           f"model's ({weights_sha256[:12]}…); make the concept again on this model")
    return concept


def load(path, weights_sha256: str, latent_dim: int) -> Concept:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ConceptError(f"{path}: cannot be read ({e.strerror or e})") from None
    return check(parse(text, str(path)), str(path), weights_sha256, latent_dim)
