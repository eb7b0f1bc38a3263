"""Interpolation & hybrids: pixel blends against latent paths between A and B (paper fig. 7), a scrubber
along the path, and hybrids of two categories (fig. 8 and 9). The scrubber and the hybrids' mix decode in
the browser while they are dragged (views/live.py). The page body is a fragment: settings rerun it, not
the app."""
import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links, selection
from explorer.images import rows_png
from explorer.live_frames import PATHS, Frames
from training.inference import decode_pixels
from views import keys, linking, live, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
PARAMS = [links.Item("a", keys.MARK_A), links.Item("b", keys.MARK_B),
          links.Int("steps", keys.INTERPOLATION_STEPS, 3, 15),
          links.Choice("path", keys.INTERPOLATION_PATH, (("linear", "linear"), ("spherical", "spherical"))),
          links.Float("at", keys.INTERPOLATION_AT, 0.0, 1.0),
          links.Category("ha", keys.HYBRID_A), links.Category("hb", keys.HYBRID_B),
          links.Int("pairs", keys.HYBRID_PAIRS, 2, 10), links.Float("mix", keys.HYBRID_MIX, 0.0, 1.0),
          links.Int("hseed", keys.HYBRID_SEED)]


def pick_endpoint(b, name: str, col, default_cat: int):
    """Endpoint ``name``: what was marked on the map or your image, or an item picked by category.
    Returns its latent, its picture (None without the dataset) and its selection for the link."""
    marked = state.marked(name, b)
    mark_label = "your image" if marked and marked["kind"] == "upload" else "marked on the map"
    if st.session_state.get(keys.endpoint_source(name)) not in (None, mark_label, "pick by category"):
        st.session_state.pop(keys.endpoint_source(name))   # chosen when the mark was another kind
    if marked:
        source = col.radio(f"{name} from", [mark_label, "pick by category"], horizontal=True,
                           key=keys.endpoint_source(name))
    else:   # one choice is no choice: say how to get the other instead of drawing a lone radio button
        source = "pick by category"
        col.caption(f"**{name}** by category below, or \"Use as {name}\" on a map point or your image")
    if source == mark_label:
        picture = state.uploaded_picture(marked)
        if picture is not None:
            return selection.latent_of(marked, b), picture, None
        i = marked["index"] if marked["kind"] == "point" else None
        return selection.latent_of(marked, b), None if i is None else w.original_image(b, i), marked
    c = w.category_box(col, f"{name}: category", b, keys.endpoint_category(name), default_cat)
    members = w.members(b, c)
    k = col.number_input(f"{name}: item of the category" if c is not None else f"{name}: image", 0,
                         len(members) - 1, 0,
                         key=keys.endpoint_item(name))
    i = int(members[k])
    return b.mu[i], w.original_image(b, i), {"kind": "point", "index": i, "model": b.key}


SCRUB = ("Position between A (0) and B (1)", 0.0, 1.0, 0.01)   # label, bounds, step
MIX = ("Mix (0 = first, 1 = second)", 0.0, 1.0, 0.05)


def scrubber(b, za, zb, method: str, live_data: dict | None):
    """A, the point at a position along the latent path, and B; the position follows the drag."""
    st.markdown("**Scrub along the path**: any point between A and B, decoded.")
    label, lo, hi, step = SCRUB
    if live_data is None:
        at = st.slider(label, lo, hi, 0.5, step, key=keys.INTERPOLATION_AT)
        images = decode_pixels(b.model, lat.path_at(za, zb, [0.0, at, 1.0], method))
        w.thumbnails(images, ["A", f"{at:.2f} of the way", "B"], per_row=3, size=128)
        return
    at = live.taken(keys.LIVE_INTERPOLATION, keys.INTERPOLATION_AT, 0.5, lo, hi, step)
    f = Frames(b.latent_dim)
    path = PATHS[method]
    f.row([f.frame(path, za, zb, 0.0, 0.0), f.frame(path, za, zb, 0.0, 1.0), f.frame(path, za, zb, 1.0, 0.0)],
          captions=["A", "{t} of the way", "B"], columns=3, size=128)
    live.frames(keys.LIVE_INTERPOLATION, live_data, keys.INTERPOLATION_AT, at,
                live.control(label, lo, hi, step), f)


def interpolation(b, live_data: dict | None):
    ca, cb, cs = st.columns([2, 2, 2])
    za, pa, ea = pick_endpoint(b, keys.MARK_A, ca, 0)
    zb, pb, eb = pick_endpoint(b, keys.MARK_B, cb, 9)
    st.session_state[keys.INTERPOLATION_ENDS] = {keys.MARK_A: ea, keys.MARK_B: eb}
    steps = cs.slider("Steps", 3, 15, 7, key=keys.INTERPOLATION_STEPS)
    method = cs.radio("Latent path", ("linear", "spherical"), horizontal=True, key=keys.INTERPOLATION_PATH)
    path = lat.interpolate(za, zb, steps, method)
    latent_row = decode_pixels(b.model, path)
    if pa is None or pb is None:
        pa, pb = latent_row[0], latent_row[-1]
        note = "(the dataset is not installed, so the pixel blend uses the decoded endpoints)"
    else:
        note = "(real test images)"
    pixel_row = lat.blend_pixels(pa, pb, steps)
    w.picture(rows_png([pixel_row, latent_row], scale=1),
              f"top: pixel-space blend {note} · bottom: {method} latent interpolation")
    st.download_button("Download interpolation PNG", lambda: rows_png([pixel_row, latent_row]),
                       file_name="interpolation.png", mime="image/png", on_click="ignore")
    if st.toggle("Novelty check of the interpolation frames", key=keys.INTERPOLATION_NOVELTY):
        w.novelty_check(b, path[1:-1], "in-between frames")
    scrubber(b, za, zb, method, live_data)


def hybrid_rows(b, ia, ib, hz) -> list[np.ndarray]:
    """The first category's items, the second's and their hybrids (latents ``hz``), decoded."""
    return [decode_pixels(b.model, b.mu[ia]), decode_pixels(b.model, b.mu[ib]), decode_pixels(b.model, hz)]


def hybrids(b, live_data: dict | None):
    st.markdown("#### Hybrids gallery")
    if w.needs_categories(b, "The hybrids gallery"):
        return
    st.caption("Cross random pairs from two categories: similar ones (e.g. Sneaker × Ankle boot, paper fig. "
               "8) or dissimilar ones (e.g. Bag × Trouser, fig. 9).")
    if live_data is None:
        h1, h2, h3, h4, h5 = st.columns(5)
    else:   # the mix is dragged below, over the pictures
        (h1, h2, h3, h5), h4 = st.columns(4), None
    first, second = (7, 9) if len(b.categories) == 10 else (0, 1)   # Fashion-MNIST: Sneaker × Ankle boot
    cat_a = w.category_box(h1, "First category", b, keys.HYBRID_A, first)
    cat_b = w.category_box(h2, "Second category", b, keys.HYBRID_B, second)
    n = h3.slider("Pairs", 2, 10, 6, key=keys.HYBRID_PAIRS)
    label, lo, hi, step = MIX
    if live_data is None:
        mix = h4.slider(label, lo, hi, 0.5, step, key=keys.HYBRID_MIX)
    else:
        mix = live.taken(keys.LIVE_HYBRIDS, keys.HYBRID_MIX, 0.5, lo, hi, step)
    seed = h5.number_input("Seed", 0, 2**31 - 1, 0, key=keys.HYBRID_SEED)
    pairs = lat.hybrid_pairs(b.labels, cat_a, cat_b, n, seed)
    ia, ib = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    hz = (1 - mix) * b.mu[ia] + mix * b.mu[ib]
    if live_data is None:
        rows = hybrid_rows(b, ia, ib, hz)
        w.picture(rows_png(rows, scale=1),
                  f"rows: {b.categories[cat_a]} items · {b.categories[cat_b]} items · hybrids at mix {mix}")
    else:
        f = Frames(b.latent_dim)
        for title, o, c in ((f"{b.categories[cat_a]} items", 0.0, 0.0),
                            (f"{b.categories[cat_b]} items", 1.0, 0.0), ("hybrids at mix {s}", 0.0, 1.0)):
            f.row([f.frame("mix", b.mu[i], b.mu[j], o, c) for i, j in pairs], title, columns=len(pairs))
        live.frames(keys.LIVE_HYBRIDS, live_data, keys.HYBRID_MIX, mix, live.control(label, lo, hi, step), f)
    st.download_button("Download hybrids PNG", lambda: rows_png(hybrid_rows(b, ia, ib, hz)),
                       file_name="hybrids.png", mime="image/png", on_click="ignore")
    if st.toggle("Novelty check of the hybrids", key=keys.HYBRID_NOVELTY):
        w.novelty_check(b, hz, "hybrids")


def main():
    b = state.bundle()
    if linking.follow_link(URL_PATH, PARAMS, b):   # show the link's A and B, not an item picked earlier
        for name in keys.MARKS:
            st.session_state.pop(keys.endpoint_source(name), None)
    page(b)


@shared_mode.fragment
def page(b):
    top, link = st.columns([5, 1])
    top.markdown("Interpolating pixels overlays two products; interpolating latents morphs one into the "
                 "other (paper fig. 7). Mark A and B on the map, or pick them here.")
    live_data, notice = live.ready(b)
    if notice:
        st.info(notice, icon=":material/speed:")
    interpolation(b, live_data)
    st.divider()
    hybrids(b, live_data)
    ends = {k: v for k, v in st.session_state.get(keys.INTERPOLATION_ENDS, {}).items() if v is not None}
    query = linking.publish(PARAMS, b, **ends)
    with link:
        w.link_box(URL_PATH, query, "and the same A, B and hybrids")


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
