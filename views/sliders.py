"""Latent sliders: move along single latent dimensions from a chosen start, and sweep one of them.

The page body is a fragment: a slider reruns the decoded image and the traversal strip, not the app.
"""
import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links, selection
from explorer.images import grid_png
from training.inference import decode_pixels
from views import keys, linking, live, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
SLIDER_RANGE = 3.0  # ± prior standard deviations
STARTS = ("selected point", "category mean", "origin")   # the first: state.start_sliders_at_selection
START_WORDS = tuple(zip(("item", "mean", "origin"), STARTS, strict=True))   # in a link
PARAMS = [links.Choice("start", keys.SLIDER_START, START_WORDS),
          links.Item("item", keys.SELECTION), links.Category("cat", keys.SLIDER_CATEGORY),
          links.Int("dims", keys.SLIDER_COUNT, 4, links.latent_dims),
          links.Moved("z", keys.SLIDERS_MOVED, bound=SLIDER_RANGE, once=True),
          links.Int("sweep", keys.SWEEP_DIM, 0, links.last_latent_dim)]


def slider_base(b):
    """The start: the selected point (or your image), a category's mean, or the origin."""
    sel = state.selected(b)
    options = [s for s in (STARTS if sel else STARTS[1:]) if b.categories or s != STARTS[1]]
    if st.session_state.get(keys.SLIDER_START) not in (None, *options):
        if st.session_state[keys.SLIDER_START] == STARTS[0]:
            st.caption("Nothing is selected (a link does not carry your image): starting from a category "
                       "mean.")
        st.session_state[keys.SLIDER_START] = options[0]
    c1, c2 = st.columns([1, 1])
    label = "your image" if sel and sel["kind"] == "upload" else "selected point"
    start = c1.radio("Start from", options, horizontal=True, key=keys.SLIDER_START,
                     format_func=lambda o: label if o == STARTS[0] else o)
    if start == STARTS[0]:
        name = f"your image ({sel['name']})" if sel["kind"] == "upload" else "the selected point"
        return selection.latent_of(sel, b), name, ("sel", repr(sorted(sel.items())))
    if start == STARTS[1]:
        c = w.category_box(c2, "Category", b, keys.SLIDER_CATEGORY)
        return b.category_mean[c], f"the {b.categories[c]} mean", ("cat", c)
    return np.zeros(b.latent_dim, np.float32), "the origin", ("origin",)


def bounds(base: np.ndarray, d: int) -> tuple[float, float]:
    """±3 prior σ, widened where the starting point lies outside it."""
    return min(-SLIDER_RANGE, float(base[d])), max(SLIDER_RANGE, float(base[d]))


def set_sliders(base: np.ndarray, moved: dict, ranked: np.ndarray) -> None:
    """The shown sliders at the start, but for the moved ones. Only shown dimensions hold a key: every
    selectbox, radio and number input of a rerun walks the whole session state in Streamlit, and 128
    slider keys made each of them several times slower."""
    ss = st.session_state
    for d in ranked[:ss.get(keys.SLIDER_COUNT, 16)]:
        ss[keys.slider(d)] = float(base[d])
    for d, v in moved.items():
        lo, hi = bounds(base, d)
        ss[keys.slider(d)] = float(np.clip(v, lo, hi))


def start_sliders(b, base: np.ndarray, signature, ranked: np.ndarray, live_sliders: bool) -> dict:
    """The moved dimensions to show: a link's, else those kept while the view was away, else none for
    a new start; when they must be set anew, set them (and for live sliders, a new version)."""
    ss = st.session_state
    from_link = linking.from_link(keys.SLIDERS_MOVED)
    saved = ss.get(keys.SLIDERS_MOVED_SAVED, {})
    new_start = ss.get(keys.SLIDERS_SIGNATURE) != (b.key, signature)
    # the view was left and reopened: Streamlit forgot the server sliders' values
    forgotten = not live_sliders and any(keys.slider(d) not in ss for d in saved)
    if from_link is None and not new_start and not forgotten:
        return saved
    moved = from_link if from_link is not None else {} if new_start else saved
    ss[keys.SLIDERS_SIGNATURE] = (b.key, signature)
    ss[keys.SLIDERS_MOVED_SAVED] = moved
    ss[keys.SLIDERS_VERSION] = ss.get(keys.SLIDERS_VERSION, 0) + 1
    if not live_sliders:
        set_sliders(base, moved, ranked)
    if moved:   # show every moved dimension
        last = max(int(np.flatnonzero(ranked == d)[0]) for d in moved) + 1
        ss[keys.SLIDER_COUNT] = max(ss.get(keys.SLIDER_COUNT, 16), -(-last // 4) * 4)
    return moved


def sweep_dimension(b, shown: np.ndarray, where=st) -> int:
    ss = st.session_state
    if ss.get(keys.SWEEP_DIM) not in shown:
        ss.pop(keys.SWEEP_DIM, None)
    return int(where.selectbox("Dimension to sweep", shown, key=keys.SWEEP_DIM,
                               format_func=lambda d: f"dim {d} (KL {b.kl_per_dim[d]:.2f})"))


def decoded_in_the_browser(b, base: np.ndarray, base_name: str, shown: np.ndarray, moved: dict,
                           live_data: dict) -> dict:
    """The sliders, the image and the strip as one component that decodes while a slider is dragged
    (views/live.py); the server hears of a drag when it ends. Returns the moved dimensions."""
    ss = st.session_state
    released = (ss.get(keys.LIVE_SLIDERS) or {}).get("moved")   # {"dims": {dim: value}, "at": a stamp}
    if released and released.get("at") != ss.get(keys.SLIDERS_RELEASED):   # a slider was let go
        ss[keys.SLIDERS_RELEASED] = released.get("at")
        moved = {int(d): float(v) for d, v in (released.get("dims") or {}).items()}
        ss[keys.SLIDERS_MOVED_SAVED] = moved
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom", gap="medium")
    sweep = sweep_dimension(b, shown, c1)
    if c2.button("Reset to " + base_name, width="stretch"):
        moved = ss[keys.SLIDERS_MOVED_SAVED] = {}
        ss[keys.SLIDERS_VERSION] = ss.get(keys.SLIDERS_VERSION, 0) + 1
    dims = []
    for d in shown:
        lo, hi = bounds(base, d)
        dims.append([int(d), f"dim {d} · KL {b.kl_per_dim[d]:.2f}", lo, hi,
                     float(np.clip(moved.get(int(d), base[d]), lo, hi))])
    data = {**live_data, "kind": "sliders", "version": ss.get(keys.SLIDERS_VERSION, 0), "base": base.tolist(),
            "base_name": base_name, "dims": dims, "sweep": sweep,
            "strip": np.linspace(-SLIDER_RANGE, SLIDER_RANGE, 11).tolist()}
    live.fall_back_if_failed(live.COMPONENT(key=keys.LIVE_SLIDERS, data=data,
                                            default={"moved": None, "failed": None},
                                            on_moved_change=lambda: None, on_failed_change=lambda: None))
    on_show = set(shown.tolist())
    return {d: v for d, v in ss.get(keys.SLIDERS_MOVED_SAVED, {}).items() if d in on_show}


def decoded_on_the_server(b, base: np.ndarray, base_name: str, shown: np.ndarray, ranked: np.ndarray) -> dict:
    """Streamlit's sliders, and the image and strip decoded here when a slider is released. Returns
    the moved dimensions."""
    ss = st.session_state
    left, right = st.columns([3, 2], gap="medium")
    with right:
        if st.button("Reset to " + base_name, width="stretch"):
            set_sliders(base, {}, ranked)
    with left:
        cols = st.columns(4)
        for n, d in enumerate(shown):
            lo, hi = bounds(base, d)
            # an explicit value: without one Streamlit walks the session state for each slider
            cols[n % 4].slider(f"dim {d} · KL {b.kl_per_dim[d]:.2f}", lo, hi,
                               ss.get(keys.slider(d), float(base[d])), step=0.01, key=keys.slider(d))
    z = np.array(base, np.float32)
    for d in shown:
        z = lat.set_coordinate(z, d, ss[keys.slider(d)])
    moved = {int(d): round(float(z[d]), 2) for d in shown if abs(z[d] - base[d]) > 1e-3}
    ss[keys.SLIDERS_MOVED_SAVED] = moved
    with right:
        caption = f"decoded · {len(moved)} dimension(s) moved from {base_name}"
        w.big_image(decode_pixels(b.model, z)[0], caption, 260)
    st.markdown("**Traversal strip**: one dimension swept from −3 to +3, all others as set above.")
    d = sweep_dimension(b, shown)
    values = np.linspace(-SLIDER_RANGE, SLIDER_RANGE, 11)
    strip = decode_pixels(b.model, lat.traversal(z, d, values))
    w.picture(grid_png(strip, ncol=len(values), scale=1), "  ".join(f"{v:+.1f}" for v in values))
    return moved


@shared_mode.fragment
def sliders(b):
    base, base_name, signature = slider_base(b)
    ranked = lat.rank_dimensions(b.kl_per_dim)
    base = np.round(np.asarray(base, np.float64), 2)  # on the sliders' 0.01 grid
    live_data, notice = live.ready(b)
    moved = start_sliders(b, base, signature, ranked, live_data is not None)
    shown = ranked[:st.number_input("Dimensions shown", 4, b.latent_dim, 16, step=4, key=keys.SLIDER_COUNT)]
    if live_data is not None:
        moved = decoded_in_the_browser(b, base, base_name, shown, moved, live_data)
    else:
        st.info(notice, icon=":material/speed:")
        moved = decoded_on_the_server(b, base, base_name, shown, ranked)
    query = linking.publish(PARAMS, b, **{keys.SLIDERS_MOVED: moved})
    w.link_box(URL_PATH, query, "and the same sliders moved")


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    st.markdown("Move along single latent dimensions. Dimensions are ranked by how much the model uses "
                "them (average KL); each slider spans ±3 prior standard deviations.")
    sliders(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
