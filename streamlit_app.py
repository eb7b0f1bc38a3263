"""Fashion-MNIST VAE latent explorer — the Streamlit UI.

Run with ``streamlit run streamlit_app.py``. Layout and widgets only: every number comes from
``explorer/`` (pure functions) and the model and maps that ``training`` wrote into ``assets/``.
"""
from __future__ import annotations

import io
import json
import os

import numpy as np
import streamlit as st
import torch

from explorer import cached, plots, selection
from explorer import latent as lat
from explorer.assets import MAP_LABELS, AssetError, category_name, embed_command
from explorer.images import decode, grid_png, rows_png, upscale
from training import CATEGORIES, metric_labels
from training.augment import DEFAULT_TEMPERATURE, around_posterior
from training.classifier import predict
from training.encode_images import encode_prepared
from training.prepare import FORMATS, MAX_BYTES, ImageError, prepare
from training.sampling import DEFAULT_NOISE

DEFAULT_MODEL_DIR = os.environ.get("EXPLORER_MODEL_DIR", "assets")
VIEWS = ("Latent map", "Your image", "Latent sliders", "Category sampling", "Variations",
         "Interpolation & hybrids", "Reconstructions", "Latent statistics", "Model card")
SLIDER_RANGE = 3.0  # ± prior standard deviations
REFERENCE_REPORT = "reports/benchmark.md"

st.set_page_config(page_title="Fashion-MNIST VAE explorer", page_icon="👗", layout="wide")
# Pixels stay square when the browser scales an image; less empty space above the title.
st.html("""<style>
[data-testid="stImage"] img, [data-testid="stImageContainer"] img { image-rendering: pixelated; }
.block-container { padding-top: 2.2rem; }
h1 { padding-top: 0; }
</style>""")


# --- small UI helpers -------------------------------------------------------------------------
def swatch(label: int) -> str:
    return (f"<span style='display:inline-block;width:0.8em;height:0.8em;border-radius:2px;"
            f"background:{plots.CATEGORY_COLOURS[label]};margin-right:0.35em'></span>{CATEGORIES[label]}")


def big_image(image: np.ndarray, caption: str, size: int | None = None):
    """A large, crisp image: fixed ``size`` in pixels, or the column's width. PNG, because
    Streamlit sends arrays as JPEG by default, which rings around the enlarged pixels."""
    st.image(upscale(image, 224), caption=caption, width=size or "stretch", output_format="PNG")


def thumbnails(images: np.ndarray, captions: list[str], per_row: int = 8, size: int = 84,
               notes: list[str] | None = None):
    """A grid of small images, each with a caption; with ``notes``, a two-line caption (caption, then
    note) as wide as the column, since an image's own caption wraps at the image's width."""
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for i, (col, img) in enumerate(zip(cols, images[start:start + per_row], strict=False), start):
            col.image(upscale(img, size), caption=None if notes else captions[i], width=size,
                      output_format="PNG")
            if notes:
                col.caption(f"{captions[i]}  \n{notes[i]}")


def mark_buttons(sel: dict, col_a, col_b):
    """Buttons that make a selection endpoint A or B of the interpolation view."""
    for name, col in (("A", col_a), ("B", col_b)):
        if col.button(f"Use as {name}", width="stretch", help=f"endpoint {name} in Interpolation & hybrids"):
            st.session_state[name] = sel
            st.toast(f"{'Your image' if sel['kind'] == 'upload' else 'This point'} is {name}")


def original_image(bundle, i: int):
    test = cached.get_test_images()
    if test is None or bundle.index[i] >= len(test[0]):
        return None
    return test[0][bundle.index[i]].astype(np.float32) / 255.0


def current_selection(bundle, projection: str | None = None):
    sel = st.session_state.get("selection")
    if sel is not None and not selection.is_valid(sel, bundle,
                                                  projection if sel.get("kind") == "mix" else None):
        st.session_state.pop("selection", None)  # stale: made on another model
        return None
    return sel


def originals_or_decoded(bundle, idx) -> np.ndarray:
    """The test images of points ``idx``, or, without the dataset, their decoded latent means."""
    images = [original_image(bundle, i) for i in idx]
    return np.stack([im if im is not None else decode(bundle.model, bundle.mu[i])[0]
                     for im, i in zip(images, idx, strict=True)])


def novelty_check(bundle, latents: np.ndarray, label: str):
    """Nearest shipped item of each generated latent, with its distance next to the yardstick."""
    typical = cached.typical_nn_distance(bundle, bundle.key)
    idx, dist = zip(*[lat.nearest_neighbours(bundle.mu, z, 1) for z in latents], strict=True)
    idx, dist = np.concatenate(idx), np.concatenate(dist)
    st.caption(f"Novelty check for the {label}: the nearest real test item of each, in latent space. "
               f"For reference, a real item's nearest other item is typically {typical:.2f} away; "
               f"a generated item much closer than that is close to a copy.")
    images = originals_or_decoded(bundle, idx)
    captions = [f"{CATEGORIES[bundle.labels[i]]} · d={d:.2f}" for i, d in zip(idx, dist, strict=True)]
    thumbnails(images, captions, per_row=min(8, len(images)))


# --- views ------------------------------------------------------------------------------------
def _take_map_click(bundle, projection: str):
    """The chart's selection is in session_state before the chart is drawn: handle a new click
    first, so the map is drawn once, already highlighting it (no second script run)."""
    chart_key = f"map_{projection}"
    new = selection.from_plotly_event(st.session_state.get(chart_key), bundle, projection)
    if new is not None and new != st.session_state.get(f"last_event_{projection}"):
        st.session_state[f"last_event_{projection}"] = new
        st.session_state["selection"] = new


def view_map(bundle, projection: str, colour_by: str):
    _take_map_click(bundle, projection)
    sel = current_selection(bundle, projection)
    generated = st.session_state.get("on_map")
    extra = []
    if generated is not None and generated.get("model") == bundle.key:
        pos = selection.place_on_map(np.asarray(generated["latents"]), bundle, projection)
        extra.append({"x": pos[:, 0], "y": pos[:, 1], "name": generated["name"]})
    uploaded = st.session_state.get("upload_on_map")
    if uploaded is not None and selection.is_valid(uploaded, bundle):
        x, y = selection.map_position(uploaded, bundle, projection)
        extra.append({"x": [x], "y": [y], "name": f"your image: {uploaded['name']}", "symbol": "diamond",
                      "size": 16, "color": "#d62728"})
    # A point selected by clicking this chart is highlighted by Plotly itself (selected/unselected
    # styles), so the figure stays identical between clicks and the browser does not redraw 10k
    # points. The ring is drawn only when the chart's own state does not show the selection
    # (made on another projection, a deselecting click, widget state dropped by a view change, or
    # a click on empty space, whose invisible grid point Plotly cannot highlight).
    shown_by_chart = sel is not None and sel["kind"] == "point" and sel == selection.from_plotly_event(
        st.session_state.get(f"map_{projection}"), bundle, projection)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        ring = selection.map_position(sel, bundle, projection) if sel and not shown_by_chart else None
        if ring is None and not extra:
            fig = cached.plain_map_figure(bundle, bundle.key, projection, colour_by)
        else:
            fig = plots.latent_map(bundle.maps[projection], bundle.labels, colour_by, bundle.recon_mse,
                                   selected_xy=ring, extra=extra)
        st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"map_{projection}",
                        config={"displaylogo": False, "scrollZoom": True})
        st.caption(f"{MAP_LABELS[projection]} of {len(bundle.labels):,} test images. Click a point to decode "
                   "it; click empty space to decode a mix of its nearest points. Legend entries hide/show "
                   "categories; scroll to zoom, double-click to reset.")
        fmt = st.radio("Download the shown points", ("CSV", "npz"), horizontal=True, key="dl_fmt")
        st.download_button(f"Download map coordinates and latent means ({fmt})",
                           cached.map_download(bundle, bundle.key, projection, fmt.lower()),
                           file_name=f"latent_map_{projection}.{fmt.lower()}",
                           mime="text/csv" if fmt == "CSV" else "application/octet-stream")
    with right:
        if sel is None:
            st.info("Click a point on the map to decode its latent mean and see its nearest neighbours.")
            return
        z = selection.latent_of(sel, bundle)
        image = decode(bundle.model, z)[0]
        if sel["kind"] == "point":
            i = sel["index"]
            st.markdown(f"#### {swatch(bundle.labels[i])} · test image {bundle.index[i]}",
                        unsafe_allow_html=True)
            a, b = st.columns(2)
            with a:
                big_image(image, "decoded from its latent mean")
            with b:
                orig = original_image(bundle, i)
                if orig is not None:
                    big_image(orig, "original test image")
                else:
                    st.caption("Install the dataset (`apt-get install dataset-fashion-mnist`) to see the "
                               "original.")
            st.caption(f"Reconstruction MSE {bundle.recon_mse[i]:.4f}")
            idx, dist = lat.nearest_neighbours(bundle.mu, z, 8, exclude=i)
        elif sel["kind"] == "upload":
            st.markdown(f"#### Your image · {sel['name']}")
            up = st.session_state.get("upload")
            a, b = st.columns(2)
            with a:
                big_image(image, "decoded from its latent mean")
            with b:
                if up is not None and up.get("name") == sel["name"]:
                    big_image(up["prepared"], "what the model sees (28×28)")
            st.caption("Placed at the mean map position of its 5 nearest test latents (t-SNE and UMAP have "
                       "no exact out-of-sample map).")
            idx, dist = lat.nearest_neighbours(bundle.mu, z, 8)
        else:
            st.markdown("#### Empty space: a mix of nearby points")
            big_image(image, "decoded inverse-distance-weighted mix of latent means", 220)
            spacing = cached.typical_map_spacing(bundle, bundle.key, projection)
            far = ", ".join(f"{d / spacing:.1f}" for d in sel["map_distances"])
            st.warning("Maps like t-SNE and UMAP cannot be inverted. This is a weighted mix of the "
                       f"{len(sel['neighbours'])} nearest map points, which lie {far} × the map's typical "
                       "spacing between neighbouring points away: the farther they are, the less this image "
                       "belongs to this spot.")
            idx, dist = lat.nearest_neighbours(bundle.mu, z, 8)
        mark_buttons(sel, *st.columns(2))
        st.markdown("**8 nearest neighbours in latent space** (decoded)")
        captions = [f"{CATEGORIES[bundle.labels[j]]} · {d:.2f}" for j, d in zip(idx, dist, strict=True)]
        thumbnails(decode(bundle.model, bundle.mu[idx]), captions, per_row=4, size=84)


UPLOAD_TYPES = sorted({f.lower() for f in FORMATS} | {"jpg"})


def view_upload(bundle):
    st.markdown("Put your own picture into the latent space. It is prepared the way Fashion-MNIST was made — "
                "greyscale, a light background turned dark, cropped to the object, padded to a square and "
                "resized to 28×28 — then encoded, decoded and placed on the map.")
    file = st.file_uploader(f"A product photo ({', '.join(f.upper() for f in FORMATS)}; up to "
                            f"{MAX_BYTES // 2**20} MB)", type=UPLOAD_TYPES, key="upload_file")
    if file is not None:
        payload = file.getvalue()
        signature = (bundle.key, file.name, len(payload), hash(payload))
        if st.session_state.get("upload", {}).get("signature") != signature:
            try:
                original, prepared, notes = prepare(payload, file.name)
            except ImageError as e:
                st.session_state.pop("upload", None)
                st.error(str(e))
                return
            st.session_state["upload"] = {"signature": signature, "name": file.name, "original": original,
                                          "prepared": prepared, "notes": notes}
    up = st.session_state.get("upload")
    if up is None or up["signature"][0] != bundle.key:
        st.info("Drop an image above. Photos of a single item on a plain background work best.")
        return
    r = encode_prepared(bundle.model, up["prepared"], cached.get_classifier(bundle.directory), bundle.mu, k=8,
                        name=up["name"], original=up["original"])
    for note in up["notes"]:
        st.caption(note)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2], gap="medium")
    with c1:
        st.image(np.clip(r.original, 0, 1),
                 caption=f"{up['name']} ({r.original.shape[1]}×{r.original.shape[0]}, "
                 "greyscale)", width="stretch")
    with c2:
        big_image(r.prepared, "what the model sees (28×28)")
    with c3:
        big_image(r.reconstruction, "decoded from its latent mean")
    with c4:
        if r.top3:
            st.markdown("**The classifier says**")
            for name, p in r.top3:
                st.progress(p, text=f"{name} · {p:.0%}")
        typical = cached.typical_nn_distance(bundle, bundle.key)
        st.caption(f"Its nearest test item is {r.neighbour_distances[0]:.2f} away in latent space; real "
                   f"items are typically {typical:.2f} from their nearest neighbour"
                   + (" — far from anything in the data, so treat the map position with care." if
                      r.neighbour_distances[0] > 2 * typical else "."))
    sel = selection.upload_selection(bundle, up["name"], r.z)
    b1, b2, b3, b4 = st.columns(4)
    if b1.button("Show on the latent map", width="stretch"):
        st.session_state["selection"] = sel
        st.session_state["upload_on_map"] = sel
        st.session_state["goto_view"] = "Latent map"
        st.rerun()
    mark_buttons(sel, b2, b3)
    if b4.button("Start the sliders here", width="stretch"):
        st.session_state["selection"] = sel
        st.session_state["slider_start"] = "selected point"
        st.session_state["goto_view"] = "Latent sliders"
        st.rerun()
    st.markdown("**8 nearest test items in latent space**")
    captions = [f"{CATEGORIES[bundle.labels[j]]} · {d:.2f}"
                for j, d in zip(r.neighbours, r.neighbour_distances, strict=True)]
    thumbnails(originals_or_decoded(bundle, r.neighbours), captions, per_row=8, size=84)


def _slider_base(bundle):
    sel = current_selection(bundle)
    options = (["selected point"] if sel else []) + ["category mean", "origin"]
    c1, c2 = st.columns([1, 1])
    label = "your image" if sel and sel["kind"] == "upload" else "selected point"
    start = c1.radio("Start from", options, horizontal=True, key="slider_start",
                     format_func=lambda o: label if o == "selected point" else o)
    if start == "selected point":
        name = f"your image ({sel['name']})" if sel["kind"] == "upload" else "the selected point"
        return selection.latent_of(sel, bundle), name, ("sel", json.dumps(sel, sort_keys=True))
    if start == "category mean":
        c = c2.selectbox("Category", range(10), format_func=category_name, key="slider_cat")
        return bundle.category_mean[c], f"the {CATEGORIES[c]} mean", ("cat", c)
    return np.zeros(bundle.latent_dim, np.float32), "the origin", ("origin",)


def view_sliders(bundle):
    st.markdown("Move along single latent dimensions. Dimensions are ranked by how much the model uses "
                "them (average KL); each slider spans ±3 prior standard deviations.")
    base, base_name, signature = _slider_base(bundle)
    ranked = lat.rank_dimensions(bundle.kl_per_dim)
    base = np.round(np.asarray(base, np.float64), 2)  # on the sliders' 0.01 grid
    if st.session_state.get("slider_signature") != (bundle.key, signature):
        st.session_state["slider_signature"] = (bundle.key, signature)
        for d in range(bundle.latent_dim):
            st.session_state[f"z_{d}"] = float(base[d])
    shown = st.number_input("Dimensions shown", 4, bundle.latent_dim, 16, step=4, key="slider_count")
    left, right = st.columns([3, 2], gap="medium")
    with right:
        if st.button("Reset to " + base_name, width="stretch"):
            for d in range(bundle.latent_dim):
                st.session_state[f"z_{d}"] = float(base[d])
    with left:
        cols = st.columns(4)
        for n, d in enumerate(ranked[:shown]):
            # ±3 prior σ, widened where the starting point lies outside it
            lo, hi = min(-SLIDER_RANGE, float(base[d])), max(SLIDER_RANGE, float(base[d]))
            cols[n % 4].slider(f"dim {d} · KL {bundle.kl_per_dim[d]:.2f}", lo, hi, step=0.01, key=f"z_{d}")
    z = np.array(base, np.float32)
    for d in ranked[:shown]:
        z = lat.set_coordinate(z, d, st.session_state[f"z_{d}"])
    moved = [int(d) for d in ranked[:shown] if abs(z[d] - base[d]) > 1e-3]
    with right:
        big_image(decode(bundle.model, z)[0], f"decoded · {len(moved)} dimension(s) moved from {base_name}",
                  260)
    st.markdown("**Traversal strip**: one dimension swept from −3 to +3, all others as set above.")
    d = st.selectbox("Dimension to sweep", ranked[:shown], key="sweep_dim",
                     format_func=lambda d: f"dim {d} (KL {bundle.kl_per_dim[d]:.2f})")
    values = np.linspace(-SLIDER_RANGE, SLIDER_RANGE, 11)
    strip = decode(bundle.model, lat.traversal(z, int(d), values))
    st.image(grid_png(strip, ncol=len(values), scale=3), caption="  ".join(f"{v:+.1f}" for v in values))


# The category samplers, the default first; the paper's (fig. 6) is one click away.
CLUSTERS, PAPERS, ISOTROPIC = ("category clusters", "around the mean (paper, fig. 6)",
                               "around the mean, isotropic")
SAMPLER_KEYS = {CLUSTERS: "mixture", PAPERS: "covariance"}   # the samplers the evaluation measured


def view_sampling(bundle):
    st.markdown("Draw new items of a category from its clusters (the default: samples keep to the styles "
                "the category has), or as the paper did, around the category's mean latent (fig. 5), "
                "decoded on the left (fig. 6).")
    c1, c2, c3, c4, c5 = st.columns([2, 1, 2, 1, 2])
    c = c1.selectbox("Category", range(10), index=8, format_func=category_name, key="sample_cat")
    n = c2.number_input("Items", 4, 64, 16, step=4, key="sample_n")
    noise = c3.slider("Noise scale", 0.0, 2.0, DEFAULT_NOISE, 0.05, key="sample_noise",
                      help="0 gives the mean itself; 1 is one standard deviation of the chosen noise")
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="sample_seed")
    mixtures = bundle.category_mixtures
    kinds = (*((CLUSTERS,) if mixtures is not None else ()), PAPERS, ISOTROPIC)
    kind = c5.radio("Sampler", kinds, key="sample_kind",
                    help="category clusters: around the centres of the category's clusters (a mixture of "
                         "Gaussians), so samples keep to the styles the category has; around the mean: the "
                         "category's fitted Gaussian around its mean, as the paper samples; isotropic: N(0, "
                         "I) noise in prior units around the mean, the same in every direction"
                         + ("" if mixtures is not None else
                            ". Clusters need embeddings made since they were added: "
                            f"`{embed_command(bundle.directory)}`"))
    rank = None   # of the one cluster drawn from, heaviest first; None: all, by their shares
    if kind == CLUSTERS:
        order = mixtures.components(c)
        # one style only: samples around that cluster's centre, as the evaluation measures each cluster
        picked = st.segmented_control(
            "Draw from", ["all clusters"] + [str(r + 1) for r in range(len(order))], default="all clusters",
            key="sample_cluster",
            help="all clusters: each sample picks a cluster by its share; a number: only that cluster "
                 "(numbered as in the strip below, heaviest first)")
        rank = int(picked) - 1 if picked not in (None, "all clusters") and int(picked) <= len(order) else None
        if rank is None:
            z, component = lat.sample_mixture(mixtures.weight[c], mixtures.mean[c], mixtures.cov[c], n, noise,
                                              seed)
            around = f"from the {CATEGORIES[c]} clusters"
        else:
            j = order[rank]
            z, component = lat.sample_around(mixtures.mean[c][j], n, noise, seed,
                                             mixtures.cov[c][j]), np.full(n, j)
            around = f"from {CATEGORIES[c]} cluster {rank + 1} ({mixtures.weight[c][j]:.0%} of the category)"
    else:
        cov = bundle.category_cov[c] if kind == PAPERS else None
        z, around = lat.sample_around(bundle.category_mean[c], n, noise, seed,
                                      cov), f"around the {CATEGORIES[c]} mean"
    samples = decode(bundle.model, z)
    left, right = st.columns([1, 4], gap="medium")
    with left:
        st.markdown(swatch(c), unsafe_allow_html=True)
        if rank is None:
            big_image(decode(bundle.model, bundle.category_mean[c])[0], "category mean, decoded", 168)
        else:
            big_image(decode(bundle.model, mixtures.mean[c][order[rank]])[0],
                      f"cluster {rank + 1} centre, decoded", 168)
    with right:
        png = grid_png(samples, ncol=8)
        st.image(png, caption=f"{n} samples {around}, noise {noise}, seed {seed}")
        sampler = SAMPLER_KEYS.get(kind)
        measured = bundle.current_metrics
        if sampler == "mixture" and rank is not None:
            note = metric_labels.cluster_note(measured, CATEGORIES[c], mixtures.weight[c][order], rank, noise)
        else:
            note = sampler and metric_labels.recognised_note(measured, CATEGORIES[c], noise, sampler)
        if note:
            st.caption(note)
        d1, d2, d3 = st.columns(3)
        d1.download_button("Download PNG", png, file_name=f"samples_{c}_{seed}.png", mime="image/png")
        buf = io.BytesIO()
        np.savez_compressed(buf, images=(samples * 255).round().astype(np.uint8),
                            labels=np.full(n, c, np.uint8), z=z)
        d2.download_button("Download .npz", buf.getvalue(), file_name=f"samples_{c}_{seed}.npz",
                           help="the samples as uint8 images, their category labels and their latent codes z")
        if d3.toggle("Show on the latent map", key="sample_on_map"):
            st.session_state["on_map"] = {"model": bundle.key, "latents": z.tolist(),
                                          "name": f"generated {CATEGORIES[c]}"}
        elif st.session_state.get("on_map", {}).get("name", "").startswith("generated"):
            st.session_state.pop("on_map", None)
    if kind == CLUSTERS:
        weights = mixtures.weight[c][order]
        judged = metric_labels.cluster_recognition(bundle.current_metrics, CATEGORIES[c], weights)
        st.markdown(f"**The {CATEGORIES[c]} clusters**: each cluster's centre decoded; under it, the "
                    "cluster's share of the category's training images (each sample picks its cluster by "
                    "that share) and how many of the samples above came from it."
                    + (f" ✓: how often the evaluation's classifier recognises a {CATEGORIES[c]} in samples "
                       "drawn from that cluster alone, beside how often it does in the cluster's real test "
                       "images. Samples that trail their real images mark a style the model draws less "
                       "clearly than the data shows it."
                       if judged else ""))
        thumbnails(decode(bundle.model, mixtures.mean[c][order]),
                   [f"{r + 1} · {mixtures.weight[c][j]:.0%} · {np.sum(component == j)} drawn"
                    for r, j in enumerate(order)],
                   per_row=min(8, len(order)),
                   notes=judged and [f"✓ {ok:.0%} · real {'—' if real is None else f'{real:.0%}'}"
                                     for ok, real in judged])
    if st.toggle("Novelty check", key="sample_novelty"):
        novelty_check(bundle, z, "samples")


def _pick_endpoint(bundle, name: str, col, default_cat: int):
    marked = st.session_state.get(name)
    valid = marked is not None and selection.is_valid(marked, bundle)
    mark_label = "your image" if valid and marked["kind"] == "upload" else "marked on the map"
    if valid:
        source = col.radio(f"{name} from", [mark_label, "pick by category"], horizontal=True,
                           key=f"{name}_source")
    else:   # one choice is no choice: say how to get the other instead of drawing a lone radio button
        source = "pick by category"
        col.caption(f"**{name}** by category below, or \"Use as {name}\" on a map point or your image")
    if source == mark_label:
        z = selection.latent_of(marked, bundle)
        up = st.session_state.get("upload")
        if marked["kind"] == "upload" and up is not None and up.get("name") == marked["name"]:
            return z, up["prepared"]
        i = marked.get("index") if marked["kind"] == "point" else None
    else:
        c = col.selectbox(f"{name}: category", range(10), index=default_cat, format_func=category_name,
                          key=f"{name}_cat")
        members = np.flatnonzero(bundle.labels == c)
        k = col.number_input(f"{name}: item of the category", 0, len(members) - 1, 0, key=f"{name}_item")
        i = int(members[k])
        z = bundle.mu[i]
    pixels = original_image(bundle, i) if i is not None else None
    return z, pixels


def _variation_source(bundle):
    """The item whose variants are drawn: its posterior (μ, log σ²), its picture, its label and name."""
    sel = current_selection(bundle)
    marked = sel if sel and sel["kind"] in ("point", "upload") else None
    c1, c2, c3 = st.columns([2, 2, 1])
    label = "your image" if marked and marked["kind"] == "upload" else "the selected point"
    if marked:
        source = c1.radio("Variations of", [label, "an item of a category"], horizontal=True,
                          key="var_source")
    else:   # one choice is no choice: say how to get the other instead of drawing a lone radio button
        source = "an item of a category"
        c1.caption("Variations of an item of a category, or of a point you click on the latent map, or of "
                   "your image")
    up = st.session_state.get("upload")
    if source == label and marked["kind"] == "upload" and up is not None and up.get("name") == marked["name"]:
        picture = up["prepared"]
        x = torch.from_numpy(picture.astype(np.float32))[None, None]
        with torch.no_grad():
            mu, logvar = bundle.model.encode(x)
        judged = predict(cached.get_classifier(bundle.directory), x)[1][0]   # its label: the classifier's
        return mu[0].numpy(), logvar[0].numpy(), picture, int(judged.argmax()), up["name"]
    if source == label and marked["kind"] == "point":
        i = marked["index"]
    else:
        c = c2.selectbox("Category", range(10), index=7, format_func=category_name, key="var_cat")
        members = np.flatnonzero(bundle.labels == c)
        i = int(members[c3.number_input("Item", 0, len(members) - 1, 0, key="var_item")])
    picture = original_image(bundle, i)
    if picture is None:
        picture = decode(bundle.model, bundle.mu[i])[0]
    return bundle.mu[i], bundle.logvar[i], picture, int(bundle.labels[i]), f"test image {bundle.index[i]}"


def view_variations(bundle):
    st.markdown("Other versions of one item: latents drawn from the item's own posterior q(z|x), widened by "
                "a strength T, and decoded. Each keeps the item's category; under each, what the classifier "
                "calls it. `python -m training augment` writes such variants of a whole labelled set.")
    mu, logvar, picture, label, name = _variation_source(bundle)
    c1, c2, c3 = st.columns([3, 1, 1])
    strength = c1.slider("Strength T", 0.5, 12.0, DEFAULT_TEMPERATURE, 0.5, key="var_strength",
                         help="z = μ + T·σ·ε: 1 samples the posterior itself, whose variants barely differ; "
                              "shapes start to vary around 4–8 (augment's default, 8, measured best) and "
                              "break up beyond")
    n = c2.number_input("Variants", 4, 32, 16, step=4, key="var_n")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="var_seed")
    z, _ = around_posterior(mu, logvar, n, strength, np.random.default_rng(seed))
    images = decode(bundle.model, z)
    probs = predict(cached.get_classifier(bundle.directory), torch.from_numpy(images)[:, None])[1]
    kept = probs.argmax(1) == label
    left, right = st.columns([1, 4], gap="medium")
    with left:
        st.markdown(swatch(label), unsafe_allow_html=True)
        big_image(picture, name, 168)
    with right:
        captions = [("✓ " if k else "✗ ") + f"{CATEGORIES[int(p.argmax())]} {float(p.max()):.0%}"
                    for k, p in zip(kept, probs, strict=True)]
        thumbnails(images, captions, per_row=8, size=84)
        st.caption(f"The classifier keeps the category in {kept.mean():.0%} of these {n} variants (✓). In a "
                   "benchmark with few labels, such variants did not make a classifier better: "
                   "docs/augmentation.md.")
        png = grid_png(images, ncol=8)
        buf = io.BytesIO()
        np.savez_compressed(buf, images=(images * 255).round().astype(np.uint8),
                            labels=np.full(n, label, np.uint8), z=z.astype(np.float32))
        d1, d2 = st.columns(2)
        d1.download_button("Download PNG", png, file_name=f"variations_{seed}.png", mime="image/png")
        d2.download_button("Download .npz", buf.getvalue(), file_name=f"variations_{seed}.npz",
                           help="the variants as uint8 images, the item's label and their latent codes z")


def view_interpolation(bundle):
    st.markdown("Interpolating pixels overlays two products; interpolating latents morphs one into the "
                "other (paper fig. 7). Mark A and B on the map, or pick them here.")
    ca, cb, cs = st.columns([2, 2, 2])
    za, pa = _pick_endpoint(bundle, "A", ca, 0)
    zb, pb = _pick_endpoint(bundle, "B", cb, 9)
    steps = cs.slider("Steps", 3, 15, 7, key="interp_steps")
    method = cs.radio("Latent path", ("linear", "spherical"), horizontal=True, key="interp_method")
    path = lat.interpolate(za, zb, steps, method)
    latent_row = decode(bundle.model, path)
    if pa is None or pb is None:
        pa, pb = latent_row[0], latent_row[-1]
        note = "(the dataset is not installed, so the pixel blend uses the decoded endpoints)"
    else:
        note = "(real test images)"
    pixel_row = lat.blend_pixels(pa, pb, steps)
    png = rows_png([pixel_row, latent_row])
    st.image(png, caption=f"top: pixel-space blend {note} · bottom: {method} latent interpolation")
    st.download_button("Download interpolation PNG", png, file_name="interpolation.png", mime="image/png")
    if st.toggle("Novelty check of the interpolation frames", key="interp_novelty"):
        novelty_check(bundle, path[1:-1], "in-between frames")

    st.divider()
    st.markdown("#### Hybrids gallery")
    st.caption("Cross random pairs from two categories: similar ones (e.g. Sneaker × Ankle boot, paper fig. "
               "8) or dissimilar ones (e.g. Bag × Trouser, fig. 9).")
    h1, h2, h3, h4, h5 = st.columns(5)
    cat_a = h1.selectbox("First category", range(10), index=7, format_func=category_name, key="hyb_a")
    cat_b = h2.selectbox("Second category", range(10), index=9, format_func=category_name, key="hyb_b")
    n = h3.slider("Pairs", 2, 10, 6, key="hyb_n")
    mix = h4.slider("Mix (0 = first, 1 = second)", 0.0, 1.0, 0.5, 0.05, key="hyb_mix")
    seed = h5.number_input("Seed", 0, 2**31 - 1, 0, key="hyb_seed")
    pairs = lat.hybrid_pairs(bundle.labels, cat_a, cat_b, n, seed)
    ia, ib = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    hz = (1 - mix) * bundle.mu[ia] + mix * bundle.mu[ib]
    png = rows_png([decode(bundle.model, bundle.mu[ia]), decode(bundle.model, bundle.mu[ib]),
                    decode(bundle.model, hz)])
    rows = f"{CATEGORIES[cat_a]} items · {CATEGORIES[cat_b]} items · hybrids at mix {mix}"
    st.image(png, caption=f"rows: {rows}")
    st.download_button("Download hybrids PNG", png, file_name="hybrids.png", mime="image/png")
    if st.toggle("Novelty check of the hybrids", key="hyb_novelty"):
        novelty_check(bundle, hz, "hybrids")


def view_reconstructions(bundle):
    test = cached.get_test_images()
    if test is None:
        st.info("Reconstructions need the real test images, which are not installed here. Install them with "
                "`apt-get install dataset-fashion-mnist` (or set FASHION_MNIST_DIR) and reload.")
        return
    c1, c2 = st.columns([1, 4])
    seed = c1.number_input("Seed", 0, 2**31 - 1, 0, key="recon_seed")
    n = c1.slider("Images", 4, 16, 10, key="recon_n")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(bundle.labels), n, replace=False)
    originals = np.stack([original_image(bundle, i) for i in idx])
    recons = decode(bundle.model, bundle.mu[idx])
    errors = ((recons - originals) ** 2).mean((1, 2))
    with c2:
        st.image(rows_png([originals, recons]),
                 caption="top: test images · bottom: reconstructions from μ (paper fig. 2)")
        st.caption("  ·  ".join(f"{CATEGORIES[bundle.labels[i]]}: MSE {e:.4f}"
                                for i, e in zip(idx, errors, strict=True)))
        st.caption(f"Mean reconstruction MSE over all {len(bundle.labels):,} test images: "
                   f"{bundle.recon_mse.mean():.4f}")


def view_statistics(bundle):
    ranked = lat.rank_dimensions(bundle.kl_per_dim)
    c1, c2, c3 = st.columns(3)
    c = c1.selectbox("Category", range(10), format_func=category_name, key="stat_cat")
    dx = c2.selectbox("x: latent dimension", range(bundle.latent_dim), index=int(ranked[0]), key="stat_x")
    dy = c3.selectbox("y: latent dimension", range(bundle.latent_dim), index=int(ranked[1]), key="stat_y")
    prior = np.random.default_rng(0).standard_normal((2000, 2))
    st.plotly_chart(plots.latent_pair(bundle.mu[bundle.labels == c], dx, dy, c, prior), key="stat_pair")
    st.caption("The paper's figure 4 plots dimensions 0 and 1 of T-shirts; here any pair and category. Used "
               "dimensions spread the categories apart; in unused ones every μ sits at 0, because their "
               "posterior is the prior itself.")
    st.plotly_chart(plots.kl_bars(bundle.kl_per_dim), key="stat_kl")
    active = int((bundle.kl_per_dim > 0.01).sum())
    st.caption(f"{active} of {bundle.latent_dim} dimensions carry more than 0.01 nats of KL on average.")


def evaluation_card(bundle):
    st.subheader("Evaluation")
    m = bundle.metrics
    if not m:
        st.info(f"No evaluation yet. `python -m training evaluate --checkpoint {bundle.directory}` measures "
                "this model (about 10 minutes on 2 cores) and writes metrics.json, shown here.")
        return
    if bundle.current_metrics is None:
        st.warning("metrics.json was measured on different weights than this model's; re-run the evaluation.")
    if m.get("quick"):
        st.warning("This is a --quick evaluation on small subsets: the numbers are noisy.")
    reference, ref_name = cached.load_reference()
    st.caption(f"Measured by `{m.get('command') or 'python -m training evaluate'}`: "
               f"{metric_labels.evaluation_time(m)}. The reference column is the {ref_name} configuration "
               "(the published loss and learning rate), trained and evaluated the same way "
               f"({REFERENCE_REPORT}); ✓ / ✗ beside a value: better / worse than it. Targets are the bars "
               "this project set for its shipped model; docs/evaluation.md says why one is missed.")
    for title, group in metric_labels.GROUPS:
        rows = ["| | this model | seed-code | target | what it measures |", "|---|---:|---:|---|---|"]
        for metric in group:
            value, ref = metric_labels.lookup(m, metric.key), metric_labels.lookup(reference, metric.key)
            verdict = metric_labels.compare(value, ref, metric.better)
            mark = {"better": " ✓", "worse": " ✗"}.get(verdict, "")
            hint = f" ({metric.better} is better)" if metric.better else ""
            rows.append(f"| {metric.label} | **{metric_labels.formatted(m, metric)}**{mark} | "
                        f"{metric_labels.formatted(reference, metric)} | "
                        f"{metric_labels.target_cell(m, reference, metric, ref_name)} | "
                        f"{metric.explanation.replace('|', '&#124;')}{hint} |")
        st.markdown(f"**{title}**\n\n" + "\n".join(rows))
    per = m.get("category_agreement_per_category")
    if per:
        st.markdown("**Per category: how often the classifier recognises it**, in samples of both samplers "
                    f"(noise {m.get('category_sampler', {}).get('noise')}), in reconstructions and in the "
                    "real test images")
        st.markdown(metric_labels.per_category_table(m))
    by_noise = metric_labels.agreement_by_noise(m)
    if by_noise:
        st.markdown("**How recognisable samples around the mean stay as the noise grows** (the paper's "
                    "sampler and the same judge; at noise 0 every sample is the decoded mean)")
        st.plotly_chart(plots.agreement_by_noise(by_noise, DEFAULT_NOISE), key="agreement_by_noise")
    with st.expander("metrics.json"):
        st.json(m, expanded=False)


def view_model_card(bundle):
    m = bundle.meta
    test = m.get("metrics", {})
    st.markdown(f"**Model directory** `{bundle.directory}` · {m.get('parameters', 0):,} parameters · "
                f"latent dimension {bundle.latent_dim}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Test −ELBO (nats/image)", f"{test.get('neg_elbo', float('nan')):.1f}")
    c2.metric("Reconstruction NLL", f"{test.get('recon_nll', float('nan')):.1f}")
    c3.metric("KL (nats/image)", f"{test.get('kl', float('nan')):.1f}")
    c4.metric("Reconstruction MSE", f"{test.get('recon_mse', float('nan')):.4f}")
    t = m.get("training", {})
    threads = f" on {metric_labels.plural(t['threads'], 'CPU thread')}" if t.get("threads") else ""
    st.markdown(f"Likelihood **{m.get('likelihood')}**, β = {m.get('beta')}, {m.get('epoch')} epochs, batch "
                f"{t.get('batch_size')}, learning rate {t.get('lr')} ({t.get('schedule')}), seed "
                f"{t.get('seed')}, trained in {m.get('train_seconds', 0) / 60:.1f} min{threads}. Encoder "
                f"head: {bundle.model.config.encoder_summary()}. Decoder: "
                f"{bundle.model.config.decoder_summary()}; {bundle.model.config.view_summary()}.")
    ft = m.get("decoder_finetune")
    if ft:
        st.markdown(f"Decoder then fine-tuned: {metric_labels.finetune_summary(m)}, "
                    f"{ft.get('seconds', 0) / 60:.1f} min. The latent codes, maps and probes are the trained "
                    "encoder's; the decoder draws sharper images at some cost in reconstruction error.")
    st.markdown("Trained with:")
    # plain: bash colouring splits "4,3,4,2"
    st.code("\n".join(metric_labels.training_commands(m)), language=None, wrap_lines=True)
    if bundle.history:
        st.plotly_chart(plots.training_curve(bundle.history, bundle.finetune_history), key="history")
    evaluation_card(bundle)
    with st.expander("model.json and embeddings.json"):
        st.json(m, expanded=False)
        st.json(bundle.info, expanded=False)


# --- page ---------------------------------------------------------------------------------------
def sidebar():
    st.sidebar.markdown("### Model")
    directory = st.sidebar.text_input("Model directory", DEFAULT_MODEL_DIR, key="model_dir",
                                      help="A directory with model.safetensors, model.json and "
                                           "embeddings.npz, e.g. a run you trained and embedded.")
    try:
        bundle = cached.get_bundle(directory, cached.directory_stamp(directory))
    except AssetError as e:
        return None, e
    ft = bundle.meta.get("decoder_finetune")
    sharpened = f" + {metric_labels.plural(ft['epochs'], 'decoder fine-tuning epoch')}" if ft else ""
    st.sidebar.caption(f"{bundle.meta.get('likelihood')} likelihood · {bundle.meta.get('epoch')} "
                       f"epochs{sharpened} · {len(bundle.labels):,} mapped test images")
    return bundle, None


def main():
    st.title("Fashion-MNIST VAE explorer")
    st.markdown("A convolutional variational autoencoder maps every 28×28 product photo to a 128-dimensional "
                "latent code and back. Explore that space: click the map, move latent sliders, sample new "
                "items of a category, and cross products into hybrids.")
    bundle, error = sidebar()
    if error is not None:
        st.error(f"Cannot load the model: {error.problem}")
        st.info(f"To rebuild: {error.fix}")
        st.stop()
    if "goto_view" in st.session_state:  # a button asked for another view; set before the radio exists
        st.session_state["view"] = st.session_state.pop("goto_view")
    view = st.sidebar.radio("View", VIEWS, key="view")
    projections = list(bundle.maps)
    projection = st.sidebar.selectbox("Map projection", projections, key="projection",
                                      format_func=lambda p: MAP_LABELS[p])
    colour_by = st.sidebar.radio("Colour points by", ("category", "reconstruction error"), key="colour_by")
    st.sidebar.markdown("### Categories")
    st.sidebar.markdown("<br>".join(swatch(c) for c in range(10)), unsafe_allow_html=True)
    if view == "Latent map":
        view_map(bundle, projection, colour_by)
    else:
        {"Your image": view_upload, "Latent sliders": view_sliders, "Category sampling": view_sampling,
         "Variations": view_variations, "Interpolation & hybrids": view_interpolation,
         "Reconstructions": view_reconstructions,
         "Latent statistics": view_statistics, "Model card": view_model_card}[view](bundle)


main()
