"""What a live view sends the browser to draw: rows of frames, each frame a latent on a path that one
control moves along. The browser computes each frame's latent (views/live_latent.js) and decodes it;
the server sends the endpoints once, never the pictures.

A frame is ``(path, a, b, o, c)``: at the control's value s its position is t = o + c·s, and its
latent is, for the path
  - ``"line"``: a + t·b (a point pushed along a direction; a mean plus a fixed offset, scaled),
  - ``"mix"``: (1 − t)·a + t·b (the straight path from a to b),
  - ``"slerp"``: the spherical path from a to b (``explorer.latent.spherical_at``),
with a and b rows of one table of vectors, sent once as float64 so that the browser does the views'
own double-precision arithmetic before rounding to float32.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

PATHS = {"linear": "mix", "spherical": "slerp"}   # explorer.latent's path names → the browser's


@dataclass
class Frames:
    """Rows of frames over one table of latent-sized vectors."""
    latent_dim: int
    vectors: list[np.ndarray] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    _index: dict[bytes, int] = field(default_factory=dict)

    def vector(self, v) -> int:
        """The row of ``v`` in the table (each distinct vector is sent once)."""
        v = np.asarray(v, np.float64).reshape(self.latent_dim)
        key = v.tobytes()
        if key not in self._index:
            self._index[key] = len(self.vectors)
            self.vectors.append(v)
        return self._index[key]

    def row(self, frames: list[tuple], title: str = "", captions: list[str] | None = None,
            columns: int = 8, size: int = 84) -> None:
        """A row of ``frames`` (see ``frame``), wrapped after ``columns``, each ``size`` CSS pixels
        wide. ``{s}`` in the title is the control's value and ``{t}`` in a caption the frame's t."""
        if captions is not None and len(captions) != len(frames):
            raise ValueError(f"{len(captions)} captions for {len(frames)} frames")
        self.rows.append({"title": title, "frames": frames, "captions": captions, "columns": columns,
                          "size": size})

    def frame(self, path: str, a, b, o: float = 0.0, c: float = 1.0) -> list:
        """One frame: at the control's value s, the latent at t = o + c·s on ``path`` from a by b."""
        if path not in ("line", "mix", "slerp"):
            raise ValueError(f"unknown path {path!r}; expected 'line', 'mix' or 'slerp'")
        return [path, self.vector(a), self.vector(b), float(o), float(c)]

    def data(self) -> dict:
        table = np.stack(self.vectors) if self.vectors else np.zeros((0, self.latent_dim))
        return {"k": self.latent_dim, "rows": self.rows,
                "vectors": base64.b64encode(table.astype("<f8").tobytes()).decode("ascii")}
