"""Small pieces of UI the views share: swatches, crisp images, thumbnail grids, A/B buttons, the
novelty check and the link box. Layout only; the numbers come from ``explorer`` and ``training``."""
from __future__ import annotations

import html
import io

import numpy as np
import streamlit as st
from PIL import Image

from explorer import latent as lat
from explorer.images import grid_png, pixels
from training.evaluation.classifier import probabilities
from training.inference import decode_pixels
from views import cached, keys, linking, shared_mode, state


def swatch(b, label: int) -> str:
    """The category's colour on the map beside its name (escaped: a folder's names are the user's)."""
    return (f"<span style='display:inline-block;width:0.8em;height:0.8em;border-radius:2px;"
            f"background:{b.colours[label]};margin-right:0.35em'></span>{html.escape(b.categories[label])}")


def category_box(col, label: str, b, key: str, index: int = 0, help: str | None = None) -> int | None:
    """A selectbox of the model's categories by name; ``index`` is the default, held within the
    categories of a folder with fewer than Fashion-MNIST's ten. A value left in the session by a model
    with more categories is dropped, not passed to the widget. None, and no box, for a model of an
    unlabelled folder."""
    n = len(b.categories)
    if n == 0:
        return None
    if not isinstance(st.session_state.get(key, 0), int) or not 0 <= st.session_state.get(key, 0) < n:
        st.session_state.pop(key, None)
    return col.selectbox(label, range(n), index=min(index, n - 1), format_func=b.category_name, key=key,
                         help=help)


def members(b, c: int | None) -> np.ndarray:
    """The map rows of category ``c``; every row where there are no categories (``c`` None)."""
    return np.arange(len(b.labels)) if c is None else np.flatnonzero(b.labels == c)


def needs_categories(b, what: str) -> bool:
    """Says in one line that ``what`` needs categories, where this model's images have none."""
    if b.categories:
        return False
    st.info(f"{what} needs categories, and this model's images have none: it was trained on a folder of "
            f"images without category folders (`{shared_mode.shown_path(b.folder)}`). Images in "
            "DIR/<category>/<image> give them.")
    return True


def big_image(image: np.ndarray, caption: str, size: int | None = None):
    """A large, crisp image: fixed ``size`` in pixels, or the column's width. PNG, because
    Streamlit sends arrays as JPEG by default, which rings around the enlarged pixels."""
    st.image(pixels(image), caption=caption, width=size or "stretch", output_format="PNG")


def picture(png: bytes, caption: str | None = None, scale: int = 3):
    """A grid made at one screen pixel per image pixel (``grid_png(..., scale=1)``), shown ``scale``
    times as large: the browser enlarges it with square pixels. Encoding a 64-sample grid enlarged
    3× took the server 27 ms, at its own size 3 ms; downloads still get the enlarged PNG."""
    width = Image.open(io.BytesIO(png)).width * scale
    st.image(png, caption=caption, width=width, output_format="PNG")


def thumbnails(images: np.ndarray, captions: list[str], per_row: int = 8, size: int = 84,
               notes: list[str] | None = None):
    """A grid of small images, each with a caption; with ``notes``, a two-line caption (caption, then
    note) as wide as the column, since an image's own caption wraps at the image's width."""
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for i, (col, img) in enumerate(zip(cols, images[start:start + per_row], strict=False), start):
            col.image(pixels(img), caption=None if notes else captions[i], width=size,
                      output_format="PNG")
            if notes:
                col.caption(f"{captions[i]}  \n{notes[i]}")


def strip(images: np.ndarray, captions: list[str] | None = None):
    """A row of frames as one picture, its captions in a row of equal cells under it: one image for
    the browser to fetch instead of one per frame (a strip redrawn at every slider step)."""
    st.image(grid_png(images, ncol=len(images), scale=1), width="stretch", output_format="PNG")
    if not captions:
        return
    cells = "".join(f"<div style='flex:1;text-align:center;padding:0 3px'>{c}</div>" for c in captions)
    st.markdown(f"<div style='display:flex;font-size:0.8rem;color:grey;margin-top:-0.6rem'>{cells}</div>",
                unsafe_allow_html=True)


def mark_buttons(sel: dict, col_a, col_b):
    """Buttons that make a selection endpoint A or B of the interpolation view."""
    for name, col in zip(keys.MARKS, (col_a, col_b), strict=True):
        if col.button(f"Use as {name}", width="stretch", help=f"endpoint {name} in Interpolation & hybrids"):
            state.mark(name, sel)
            st.toast(f"{'Your image' if sel['kind'] == 'upload' else 'This point'} is {name}")


def original_image(b, i: int):
    """Test image of map row ``i`` in [0, 1], or None without the model's data."""
    test = cached.test_images(b)
    if test is None or b.index[i] >= len(test[0]):
        return None
    return test[0][b.index[i]].astype(np.float32) / 255.0


def originals_or_decoded(b, idx) -> np.ndarray:
    """The test images of points ``idx``, or, without the dataset, their decoded latent means."""
    images = [original_image(b, i) for i in idx]
    return np.stack([im if im is not None else decode_pixels(b.model, b.mu[i])[0]
                     for im, i in zip(images, idx, strict=True)])


def no_original_note(b) -> str:
    """Why a test image's original cannot be shown, and how to get it."""
    folder = b.folder
    if folder:
        return (f"The original is in {shared_mode.shown_path(folder)}, which is missing or has changed since "
                "the model was trained.")
    return "Install the dataset (`apt-get install dataset-fashion-mnist`) to see the original."


def judged(b, images: np.ndarray) -> np.ndarray | None:
    """The classifier's probabilities of each category for decoded images (N×S×S or N×S×S×3 in
    [0, 1]), or None where no classifier judges this model (a folder model before ``classifier``)."""
    judge = cached.classifier(b)
    return None if judge is None else probabilities(judge, images)


def no_judge_note(b) -> str:
    return (f"No classifier judges this model's images yet, so the pictures carry no verdicts: "
            f"`python -m training classifier --data {shared_mode.shown_path(b.folder)} "
            f"--out {shared_mode.shown_path(b.directory)}` trains one.")


def caption_category(b, row: int) -> str:
    """The category of map row ``row`` for a caption; 'image' in an unlabelled set."""
    label = int(b.labels[row])
    return b.categories[label] if 0 <= label < len(b.categories) else "image"


def novelty_check(b, latents: np.ndarray, label: str):
    """Nearest shipped item of each generated latent, with its distance next to the yardstick."""
    typical = cached.typical_nn_distance(b, b.key)
    idx, dist = zip(*[lat.nearest_neighbours(b.mu, z, 1) for z in latents], strict=True)
    idx, dist = np.concatenate(idx), np.concatenate(dist)
    st.caption(f"Novelty check for the {label}: the nearest real test item of each, in latent space. "
               f"For reference, a real item's nearest other item is typically {typical:.2f} away; "
               f"a generated item much closer than that is close to a copy.")
    images = originals_or_decoded(b, idx)
    captions = [f"{caption_category(b, i)} · d={d:.2f}" for i, d in zip(idx, dist, strict=True)]
    thumbnails(images, captions, per_row=min(8, len(images)))


def link_box(url_path: str, query: dict[str, str], note: str = ""):
    """A "Link to this view" popover: the address with its settings, with Streamlit's copy button."""
    url = linking.link_to(url_path, query)
    if url is None:
        return
    with st.popover("Link", icon=":material/link:", help="Link to this view, with its settings",
                    width="stretch"):
        st.code(url, language=None, wrap_lines=True)
        st.caption("Copy it with the button at its right: it reopens this view with the same settings"
                   + (f" {note}" if note else "") + ".")
