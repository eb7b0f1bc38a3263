"""What the user has selected, as plain data kept in ``st.session_state``.

A selection is a dict: ``{"kind": "point", "index": i, "model": key}`` for a map point, or
``{"kind": "mix", "xy": [x, y], "projection": p, "model": key, ...}`` for a click on empty space,
``{"kind": "upload", "name": file, "latent": [...], "model": key}`` for the user's own image.
A point is valid in every projection (indices are global); a mix belongs to the map it was made
on. Anything made on another model is stale and is dropped, never crashed on.
"""
from __future__ import annotations

import numpy as np

from .latent import mix_from_map

MIX_NEIGHBOURS = 5


def from_plotly_event(event, bundle, projection: str) -> dict | None:
    """Turn ``st.plotly_chart(on_select=...)``'s event into a selection (None: nothing usable)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    if not points:
        return None
    p = points[-1]
    custom = p.get("customdata")
    if isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    if custom is None:
        return None
    custom = int(custom)
    if custom >= 0:
        if custom >= len(bundle.labels):
            return None
        return {"kind": "point", "index": custom, "model": bundle.key}
    if custom == -1 and "x" in p and "y" in p:
        return mix_selection(bundle, projection, (float(p["x"]), float(p["y"])))
    return None


def mix_selection(bundle, projection: str, xy) -> dict:
    z, idx, dist = mix_from_map(bundle.maps[projection], bundle.mu, xy, k=MIX_NEIGHBOURS)
    return {"kind": "mix", "xy": [float(xy[0]), float(xy[1])], "projection": projection, "model": bundle.key,
            "latent": z.astype(np.float32).tolist(), "neighbours": idx.tolist(),
            "map_distances": dist.tolist()}


def is_valid(selection: dict | None, bundle, projection: str | None = None) -> bool:
    if not selection or selection.get("model") != bundle.key:
        return False
    if selection["kind"] == "point":
        return 0 <= selection["index"] < len(bundle.labels)
    if selection["kind"] == "mix":
        return projection is None or selection.get("projection") == projection
    if selection["kind"] == "upload":
        return len(selection.get("latent", ())) == bundle.latent_dim
    return False


def upload_selection(bundle, name: str, latent: np.ndarray) -> dict:
    return {"kind": "upload", "name": name, "latent": np.asarray(latent, np.float32).tolist(),
            "model": bundle.key}


def latent_of(selection: dict, bundle) -> np.ndarray:
    if selection["kind"] == "point":
        return bundle.mu[selection["index"]]
    return np.asarray(selection["latent"], np.float32)


def map_position(selection: dict, bundle, projection: str):
    if selection["kind"] == "point":
        return tuple(bundle.maps[projection][selection["index"]].tolist())
    if selection["kind"] == "upload":
        return tuple(place_on_map(np.asarray(selection["latent"]), bundle, projection)[0].tolist())
    return tuple(selection["xy"])


def place_on_map(latents: np.ndarray, bundle, projection: str, k: int = 5) -> np.ndarray:
    """Map positions for new latents (samples, uploads): the mean map position of their k nearest
    shipped latents. An honest approximation: t-SNE and UMAP have no exact out-of-sample map."""
    latents = np.atleast_2d(latents).astype(np.float32)
    d = (latents ** 2).sum(1)[:, None] - 2 * latents @ bundle.mu.T + (bundle.mu ** 2).sum(1)[None]
    idx = np.argpartition(d, k, axis=1)[:, :k]
    return bundle.maps[projection][idx].mean(1)
