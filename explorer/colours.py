"""One colour per category, the same in every view, the map, the sidebar and the charts.

Fashion-MNIST's ten are Tableau 10 (colour-blind friendlier than Plotly's default). A folder of your
own images may have up to 32 categories (``training.folder.MAX_CATEGORIES``): the other 22 were
picked greedily in CIELAB, each as far as possible from those before it, among colours of medium
lightness and chroma (no near-white, near-grey or neon), so that any two of the 32 differ by at
least ΔE*ab 25 (tests/test_explorer.py measures it; Tableau 10's closest pair is 25.9)."""
from __future__ import annotations

TABLEAU_10 = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
              "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
MORE = ("#7869e1", "#b40078", "#ff96ff", "#5a5a00", "#00e1b4", "#2d694b", "#964b0f", "#00c3ff",
        "#b4b4ff", "#c3d296", "#f0b478", "#a5d24b", "#783c87", "#0096ff", "#962d4b", "#ff69a5",
        "#69e178", "#96961e", "#00e1f0", "#a51e0f", "#ffb4f0", "#007887")
PALETTE = TABLEAU_10 + MORE
UNLABELLED = "#4e79a7"


def palette(n: int) -> tuple[str, ...]:
    """The colours of ``n`` categories; past the palette's 32 they repeat (a folder is refused
    before that: training.folder.MAX_CATEGORIES)."""
    return tuple(PALETTE[i % len(PALETTE)] for i in range(n))
