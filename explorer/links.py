"""Shareable links: what a view shows, as query parameters, read back without trusting them.

A parameter is parsed by its kind (a bounded number, one of some choices, a category, a test
image on this model's map, moved latent dimensions, a spot on the map) and formatted back the same
way, so a link written by one session reopens the same view in another. A bad value never raises
out of ``read``: it becomes a one-line notice naming the parameter, the value and what was
expected, and the view keeps its default for it. Pure: no Streamlit.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

STREAMLIT_PARAMS = ("embed", "embed_options")   # Streamlit's own; never ours to read or write
MAX_VALUE_CHARS = 2000   # a longer value is refused before parsing: links are typed and pasted by people


class LinkError(ValueError):
    """One parameter's value cannot be used; the message says what was expected."""


def category_slug(name: str) -> str:
    """'T-shirt/top' → 't-shirt-top', 'Ankle boot' → 'ankle-boot': readable in a URL. A folder's
    category names are slugged the same way (letters and digits of any script are kept)."""
    return re.sub(r"[\W_]+", "-", name.lower()).strip("-") or "-"


def category_slugs(bundle) -> list[str]:
    return [category_slug(name) for name in bundle.categories]


def _number(text: str, kind, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise LinkError(f"expected {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise LinkError(f"expected {what}")
    return value


def of_bundle(value, bundle):
    """A parameter's bound or options: given as they are, or as a function of the loaded model (its
    latent dimension, its maps), so that every view declares its parameters once, at import."""
    return value(bundle) if callable(value) else value


def latent_dims(bundle) -> int:
    return bundle.latent_dim


def last_latent_dim(bundle) -> int:
    return bundle.latent_dim - 1


def projections(bundle) -> tuple:
    """The map projections this model's embeddings hold, as Choice options."""
    return tuple((p, p) for p in bundle.maps)


@dataclass(frozen=True)
class Param:
    """One query parameter bound to one session-state key; subclasses say how to read and write it.
    ``once``: the view takes the value from the link one time (``views.linking.from_link``) instead
    of finding it under ``key`` in the session, e.g. a spot on the map to select."""
    name: str
    key: str
    once: bool = field(default=False, kw_only=True)

    def parse(self, text: str, bundle):
        raise NotImplementedError

    def format(self, value, bundle) -> str | None:
        return str(value)


@dataclass(frozen=True)
class Int(Param):
    kind: ClassVar[type] = int
    lo: int | Callable = 0
    hi: int | Callable = 2**31 - 1   # or a function of the bundle, e.g. ``last_latent_dim``

    def expected(self, bundle) -> str:
        return f"a whole number from {of_bundle(self.lo, bundle)} to {of_bundle(self.hi, bundle)}"

    def parse(self, text, bundle):
        v = _number(text, self.kind, self.expected(bundle))
        if not of_bundle(self.lo, bundle) <= v <= of_bundle(self.hi, bundle):
            raise LinkError(f"expected {self.expected(bundle)}")
        return v

    def format(self, value, bundle):
        return str(int(value))


@dataclass(frozen=True)
class Float(Int):
    kind: ClassVar[type] = float
    lo: float = 0.0
    hi: float = 1.0

    def expected(self, bundle) -> str:
        return f"a number from {of_bundle(self.lo, bundle):g} to {of_bundle(self.hi, bundle):g}"

    def format(self, value, bundle):
        return f"{float(value):g}"


@dataclass(frozen=True)
class Choice(Param):
    """One of a few options: the URL carries a short word, the session the option itself."""
    options: tuple | Callable = ()   # (url word, option) pairs, or a function of the bundle giving them

    def parse(self, text, bundle):
        options = of_bundle(self.options, bundle)
        for word, option in options:
            if text == word:
                return option
        raise LinkError("expected one of " + ", ".join(w for w, _ in options))

    def format(self, value, bundle):
        return next((w for w, o in of_bundle(self.options, bundle) if o == value), None)


@dataclass(frozen=True)
class Category(Param):
    """A category of the model by its slug ('ankle-boot') or its number (0–9 for Fashion-MNIST). A
    folder's names may give one slug twice ('a b', 'a-b') or a slug that is another's number: such a
    category is linked by whichever of the two reads back as itself."""

    def parse(self, text, bundle):
        slugs = category_slugs(bundle)
        if text.lower() in slugs:
            return slugs.index(text.lower())
        if text.isdigit() and int(text) < len(slugs):
            return int(text)
        if not slugs:
            raise LinkError("this model's images have no categories")
        raise LinkError("expected a category: " + ", ".join(dict.fromkeys(slugs)))

    def format(self, value, bundle):
        slugs = category_slugs(bundle)
        if not 0 <= int(value) < len(slugs):
            return None
        return next((text for text in (slugs[int(value)], str(int(value)))
                     if self.parse(text, bundle) == int(value)), None)


def row_of(bundle, test_index: int) -> int | None:
    """The map row that shows test image ``test_index``, None when this model's map lacks it."""
    rows = np.flatnonzero(bundle.index == test_index)
    return int(rows[0]) if len(rows) else None


@dataclass(frozen=True)
class Item(Param):
    """A test image on the map, by its number in the test split (as the app's headings show it), so
    a link means the same item on any model that mapped it. Read as a point selection."""

    def parse(self, text, bundle):
        n = _number(text, int, "a test image number")
        row = row_of(bundle, n) if n >= 0 else None
        if row is None:
            raise LinkError(f"no test image {n} on this model's map ({len(bundle.index):,} test images, "
                            f"numbers {int(bundle.index.min())}–{int(bundle.index.max())})")
        return {"kind": "point", "index": row, "model": bundle.key}

    def format(self, value, bundle):
        if not value or value.get("kind") != "point":
            return None   # an upload or an empty-space mix is not an item (a mix has its own parameter)
        return str(int(bundle.index[value["index"]]))


@dataclass(frozen=True)
class Spot(Param):
    """A click on empty space: 'x,y' in the coordinates of the map the link names. Read as the
    coordinates; ``spot_on_map`` checks them against that map."""

    def parse(self, text, bundle):
        parts = text.split(",")
        if len(parts) != 2:
            raise LinkError("expected two map coordinates, 'x,y'")
        return tuple(_number(p, float, "two map coordinates, 'x,y'") for p in parts)

    def format(self, value, bundle):
        if not value or value.get("kind") != "mix":
            return None
        return ",".join(f"{v:.3f}" for v in value["xy"])


@dataclass(frozen=True)
class Moved(Param):
    """Latent dimensions moved from the sliders' start: 'dim:value,dim:value'."""
    bound: float = 3.0

    def parse(self, text, bundle):
        moved = {}
        for part in filter(None, text.split(",")):
            d, _, v = part.partition(":")
            what = (f"'dimension:value' pairs, dimensions 0–{bundle.latent_dim - 1}, values within "
                    f"±{self.bound:g}")
            d, v = _number(d, int, what), _number(v, float, what)
            if not (0 <= d < bundle.latent_dim and abs(v) <= self.bound):
                raise LinkError(f"expected {what}")
            moved[d] = v
        return moved

    def format(self, value, bundle):
        return ",".join(f"{d}:{v:g}" for d, v in sorted(value.items())) or None


def spot_on_map(xy, coords: np.ndarray, margin: float = 0.1) -> tuple[float, float]:
    """``xy`` if it lies on the map (its points' extent, widened by ``margin`` of each side's
    span), else a LinkError: a spot far off the map has no neighbours worth mixing."""
    lo, hi = coords.min(0), coords.max(0)
    pad = margin * (hi - lo)
    if not np.all((lo - pad <= xy) & (xy <= hi + pad)):
        raise LinkError(f"expected a spot on the map, x {lo[0] - pad[0]:.1f} to {hi[0] + pad[0]:.1f}, "
                        f"y {lo[1] - pad[1]:.1f} to {hi[1] + pad[1]:.1f}")
    return float(xy[0]), float(xy[1])


def read(query: Mapping[str, str], params: list[Param], bundle) -> tuple[dict, list[str]]:
    """The values a link sets, by session-state key, and a notice for each parameter it could not
    use (unknown, or a value out of bounds); never raises on any query."""
    known = {p.name: p for p in params}
    values, notices = {}, []
    for name, text in query.items():
        if name in STREAMLIT_PARAMS:
            continue
        p = known.get(name)
        if p is None:
            notices.append(f"`{name}` is not a setting of this view")
            continue
        try:
            if len(text) > MAX_VALUE_CHARS:
                raise LinkError(f"expected at most {MAX_VALUE_CHARS} characters")
            values[p.key] = p.parse(text, bundle)
        except LinkError as e:
            notices.append(f"`{name}={_shown(text)}`: {e}")
    return values, notices


def write(values: Mapping, params: list[Param], bundle) -> dict[str, str]:
    """The query parameters for the given session values (by key); unset ones are left out."""
    out = {}
    for p in params:
        if values.get(p.key) is not None:
            text = p.format(values[p.key], bundle)
            if text is not None:
                out[p.name] = text
    return out


def _shown(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "…"
