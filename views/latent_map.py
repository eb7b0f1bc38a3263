"""Latent map: every test image at its 2-D map position; click one to decode it.

The chart and the detail panel are one fragment: a click reruns them, not the sidebar or the rest
of the app, and the chart's cached figure is sent unchanged, so the browser does not redraw it.
"""
import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links, plots, selection
from explorer.assets import MAP_LABELS
from training.inference import decode_pixels
from views import cached, keys, linking, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
COLOUR_BY = ("category", "reconstruction error")
PARAMS = [links.Choice("map", keys.PROJECTION, links.projections),
          links.Choice("colour", keys.COLOUR_BY, (("category", COLOUR_BY[0]), ("error", COLOUR_BY[1]))),
          links.Item("item", keys.SELECTION), links.Spot("at", keys.MAP_SPOT, once=True),
          links.Item("a", keys.MARK_A), links.Item("b", keys.MARK_B)]


def take_map_click(b, projection: str):
    """The chart's selection is in session_state before the chart is drawn: handle a new click
    first, so the map is drawn once, already highlighting it (no second script run)."""
    new = selection.from_plotly_event(st.session_state.get(keys.map_chart(projection)), b, projection)
    if new is not None and new != st.session_state.get(keys.last_map_event(projection)):
        st.session_state[keys.last_map_event(projection)] = new
        state.select(new)


def figure(b, projection: str, colour_by: str, sel):
    extra = []
    generated = state.samples_on_map(b)
    if generated is not None:
        pos = selection.place_on_map(np.asarray(generated["latents"]), b, projection)
        extra.append({"x": pos[:, 0], "y": pos[:, 1], "name": generated["name"]})
    uploaded = state.upload_on_map(b)
    if uploaded is not None:
        x, y = selection.map_position(uploaded, b, projection)
        extra.append({"x": [x], "y": [y], "name": f"your image: {uploaded['name']}", "symbol": "diamond",
                      "size": 16, "color": "#d62728"})
    # A point selected by clicking this chart is highlighted by Plotly itself (selected/unselected
    # styles), so the figure stays identical between clicks and the browser does not redraw 10k
    # points. The ring is drawn only when the chart's own state does not show the selection
    # (made on another projection, a deselecting click, widget state dropped by a view change, a
    # link, or a click on empty space, whose invisible grid point Plotly cannot highlight).
    shown_by_chart = sel is not None and sel["kind"] == "point" and sel == selection.from_plotly_event(
        st.session_state.get(keys.map_chart(projection)), b, projection)
    ring = selection.map_position(sel, b, projection) if sel and not shown_by_chart else None
    if ring is None and not extra:
        return cached.plain_map_figure(b, b.key, projection, colour_by)
    return plots.latent_map(b.maps[projection], b.labels, colour_by, b.recon_mse, selected_xy=ring,
                            extra=extra, categories=b.categories)


def detail(b, sel, projection: str):
    """The decoded selection, its original, and its nearest neighbours."""
    if sel is None:
        st.info("Click a point on the map to decode its latent mean and see its nearest neighbours.")
        return
    z = selection.latent_of(sel, b)
    image = decode_pixels(b.model, z)[0]
    if sel["kind"] == "point":
        i = sel["index"]
        title = w.swatch(b, b.labels[i]) if b.categories else "Image"
        st.markdown(f"#### {title} · test image {b.index[i]}", unsafe_allow_html=True)
        left, right = st.columns(2)
        with left:
            w.big_image(image, "decoded from its latent mean")
        with right:
            orig = w.original_image(b, i)
            if orig is not None:
                w.big_image(orig, "original test image")
            else:
                st.caption(w.no_original_note(b))
        st.caption(f"Reconstruction MSE {b.recon_mse[i]:.4f}")
        idx, dist = lat.nearest_neighbours(b.mu, z, 8, exclude=i)
    elif sel["kind"] == "upload":
        st.markdown(f"#### Your image · {sel['name']}")
        left, right = st.columns(2)
        with left:
            w.big_image(image, "decoded from its latent mean")
        picture = state.uploaded_picture(sel)
        if picture is not None:
            with right:
                w.big_image(picture, f"what the model sees ({b.image_size}×{b.image_size})")
        st.caption("Placed at the mean map position of its 5 nearest test latents (t-SNE and UMAP have "
                   "no exact out-of-sample map).")
        idx, dist = lat.nearest_neighbours(b.mu, z, 8)
    else:
        st.markdown("#### Empty space: a mix of nearby points")
        w.big_image(image, "decoded inverse-distance-weighted mix of latent means", 220)
        spacing = cached.typical_map_spacing(b, b.key, projection)
        far = ", ".join(f"{d / spacing:.1f}" for d in sel["map_distances"])
        st.warning("Maps like t-SNE and UMAP cannot be inverted. This is a weighted mix of the "
                   f"{len(sel['neighbours'])} nearest map points, which lie {far} × the map's typical "
                   "spacing between neighbouring points away: the farther they are, the less this image "
                   "belongs to this spot.")
        idx, dist = lat.nearest_neighbours(b.mu, z, 8)
    w.mark_buttons(sel, *st.columns(2))
    st.markdown("**8 nearest neighbours in latent space** (decoded)")
    captions = [f"{w.caption_category(b, j)} · {d:.2f}" for j, d in zip(idx, dist, strict=True)]
    # two strips of four, each one picture with its captions: a click sends 4 elements for them, not 24
    neighbours = decode_pixels(b.model, b.mu[idx])
    for row in range(0, len(idx), 4):
        w.strip(neighbours[row:row + 4], captions[row:row + 4])


@shared_mode.fragment
def map_and_detail(b, projection: str, colour_by: str):
    take_map_click(b, projection)
    sel = state.selected(b, projection)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.plotly_chart(figure(b, projection, colour_by, sel), on_select="rerun", selection_mode="points",
                        key=keys.map_chart(projection), config={"displaylogo": False, "scrollZoom": True})
        st.caption(f"{MAP_LABELS[projection]} of {len(b.labels):,} test images. Click a point to decode it; "
                   "click empty space to decode a mix of its nearest points. Legend entries hide/show "
                   "categories; scroll to zoom, double-click to reset.")
        d1, d2, d3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        fmt = d1.radio("Download the points as", ("CSV", "npz"), horizontal=True, key=keys.DOWNLOAD_FORMAT)
        # made when clicked, not on every run: the CSV of 10k latent means is 11 MB
        d2.download_button("Download the points", help="each test image's number, category, map "
                           "coordinates and latent mean", width="stretch",
                           data=lambda: cached.map_download(b, b.key, projection, fmt.lower()),
                           file_name=f"latent_map_{projection}.{fmt.lower()}",
                           mime="text/csv" if fmt == "CSV" else "application/octet-stream",
                           on_click="ignore")
        link_slot = d3.empty()
    with right:
        detail(b, sel, projection)
    query = linking.publish(PARAMS, b, **{keys.MAP_SPOT: sel if sel and sel["kind"] == "mix" else None})
    with link_slot:   # after the detail panel, whose buttons may have marked A or B
        w.link_box(URL_PATH, query, "and the same point selected, A and B marked"
                   + (" (your image is not part of a link)" if sel and sel["kind"] == "upload" else ""))


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    projection = st.sidebar.selectbox("Map projection", list(b.maps), key=keys.PROJECTION,
                                      format_func=lambda p: MAP_LABELS[p])
    colour_by = st.sidebar.radio("Colour points by", COLOUR_BY, key=keys.COLOUR_BY)
    spot = linking.from_link(keys.MAP_SPOT)
    if spot is not None:
        try:
            state.select(selection.mix_selection(b, projection, links.spot_on_map(spot, b.maps[projection])))
        except links.LinkError as e:
            st.warning(f"This link's `at`: {e}. Nothing is selected.", icon=":material/link_off:")
    folder = b.folder
    if folder is None:
        st.markdown(f"A convolutional variational autoencoder maps every 28×28 product photo to a "
                    f"{b.latent_dim}-dimensional latent code and back. Explore that space: click the map, "
                    "move latent sliders, sample new items of a category, and cross products into hybrids.")
    else:
        kinds = (f"{len(b.categories)} categories" if b.categories else "no categories")
        where = shared_mode.shown_path(folder)
        st.markdown(f"A convolutional variational autoencoder trained on your images in `{where}` "
                    f"({b.image_words}, {kinds}) maps each to a {b.latent_dim}-dimensional latent code and "
                    "back. Click the map, move latent sliders, sample new images of a category, and cross "
                    "them into hybrids.")
    map_and_detail(b, projection, colour_by)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
