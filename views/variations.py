"""Variations: other versions of one item, drawn from its own posterior q(z|x) at a chosen strength,
each judged by the classifier. The page body is a fragment."""
import numpy as np
import streamlit as st
import torch

from explorer import latent as lat
from explorer import links
from explorer.images import grid_png, labelled_npz
from explorer.live_frames import Frames
from training.data import channels_first
from training.inference import decode_pixels
from training.synthesis.augment import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_OVERSAMPLE,
    DEFAULT_TEMPERATURE,
    around_posterior,
    first_passing,
)
from views import cached, keys, linking, live, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
OF_ITEM = "an item of a category"
STRENGTH = (0.5, 12.0, 0.5)   # bounds and step
STRENGTH_HELP = ("z = μ + T·σ·ε: 1 samples the posterior itself, whose variants barely differ; shapes start "
                 "to vary around 4 (augment's default) to 8 and break up beyond")
RECOGNISED, EVERY = "recognised", "every draw"
SHOW_HELP = (f"recognised: of {DEFAULT_OVERSAMPLE}× as many draws, the first the classifier gives the "
             f"item's category with probability ≥ {DEFAULT_MIN_CONFIDENCE:g}, as augment keeps them by "
             "default; an independent judge then recognises them as often as real photos. every draw: the "
             "posterior as it is")
PARAMS = [links.Item("item", keys.SELECTION), links.Category("cat", keys.VARIATIONS_CATEGORY),
          links.Int("k", keys.VARIATIONS_ITEM), links.Float("t", keys.VARIATIONS_STRENGTH, 0.5, 12.0),
          links.Int("n", keys.VARIATIONS_COUNT, 4, 32), links.Int("seed", keys.VARIATIONS_SEED),
          links.Choice("show", keys.VARIATIONS_SHOW, (("recognised", RECOGNISED), ("all", EVERY)))]


def source(b):
    """The item whose variants are drawn: its posterior (μ, log σ²), its picture, its label and name."""
    sel = state.selected(b)
    marked = sel if sel and sel["kind"] in ("point", "upload") else None
    c1, c2, c3 = st.columns([2, 2, 1])
    label = "your image" if marked and marked["kind"] == "upload" else "the selected point"
    if st.session_state.get(keys.VARIATIONS_OF) not in (None, label, OF_ITEM):
        st.session_state.pop(keys.VARIATIONS_OF)   # chosen for an item that is no longer the selection
    if marked:
        chosen = c1.radio("Variations of", [label, OF_ITEM], horizontal=True, key=keys.VARIATIONS_OF)
    else:   # one choice is no choice: say how to get the other instead of drawing a lone radio button
        chosen = OF_ITEM
        c1.caption("Variations of an item of a category, or of a point you click on the latent map, or of "
                   "your image")
    picture = state.uploaded_picture(marked) if chosen == label else None
    if picture is not None:
        x = channels_first(torch.from_numpy(picture.astype(np.float32))[None])
        with torch.no_grad():
            mu, logvar = b.model.encode(x)
        judged = w.judged(b, picture[None])   # its label: the classifier's, else its nearest items'
        if judged is not None:
            label = int(judged[0].argmax())
        elif not b.categories:
            label = None
        else:
            near, _ = lat.nearest_neighbours(b.mu, mu[0].numpy(), 5)
            label = int(np.bincount(b.labels[near]).argmax())
        return mu[0].numpy(), logvar[0].numpy(), picture, label, marked["name"]
    if chosen == label and marked["kind"] == "point":
        i = marked["index"]
    else:
        c = w.category_box(c2, "Category", b, keys.VARIATIONS_CATEGORY, 7)
        members = w.members(b, c)
        item = st.session_state.get(keys.VARIATIONS_ITEM, 0)
        if item >= len(members):   # from a link, or a category with more items
            of = f"{b.categories[c]} items" if c is not None else "images"
            st.caption(f"Item {item} is past the {len(members):,} {of}: showing the first.")
            st.session_state[keys.VARIATIONS_ITEM] = 0
        i = int(members[c3.number_input("Item", 0, len(members) - 1, 0, key=keys.VARIATIONS_ITEM)])
    picture = w.original_image(b, i)
    if picture is None:
        picture = decode_pixels(b.model, b.mu[i])[0]
    label = int(b.labels[i]) if b.categories else None
    return b.mu[i], b.logvar[i], picture, label, f"test image {b.index[i]}"


@shared_mode.fragment
def variations(b):
    mu, logvar, picture, label, name = source(b)
    live_data, notice = live.ready(b)
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1.4])
    lo, hi, step = STRENGTH
    if live_data is None:
        strength = c1.slider("Strength T", lo, hi, DEFAULT_TEMPERATURE, step, key=keys.VARIATIONS_STRENGTH,
                             help=STRENGTH_HELP)
    else:   # dragged over the variants, which the browser decodes
        strength = live.taken(keys.LIVE_VARIATIONS, keys.VARIATIONS_STRENGTH, DEFAULT_TEMPERATURE,
                              lo, hi, step)
    n = c2.number_input("Variants", 4, 32, 16, step=4, key=keys.VARIATIONS_COUNT)
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key=keys.VARIATIONS_SEED)
    judging = label is not None and cached.classifier(b) is not None
    show = EVERY
    if judging:
        show = c4.radio("Show", (RECOGNISED, EVERY), key=keys.VARIATIONS_SHOW, help=SHOW_HELP)
    if not shared_mode.allow("draw"):
        return
    draws = n * DEFAULT_OVERSAMPLE if show == RECOGNISED else n
    z, _ = around_posterior(mu, logvar, draws, strength, np.random.default_rng(seed))
    # z = μ + T·(σ·ε): the offsets σ·ε are the draws at T = 1 around 0, what the browser scales
    offsets, _ = around_posterior(np.zeros_like(mu), logvar, draws, 1.0, np.random.default_rng(seed))
    images = decode_pixels(b.model, z)
    probs = w.judged(b, images)
    if show == RECOGNISED:
        keep = first_passing(probs[:, label] >= DEFAULT_MIN_CONFIDENCE, 1, n)
        z, offsets, images, probs = z[keep], offsets[keep], images[keep], probs[keep]
    if probs is None:
        kept, captions = None, [""] * len(z)
    else:
        kept = probs.argmax(1) == label
        captions = [("✓ " if k else "✗ ") + f"{b.categories[int(p.argmax())]} {float(p.max()):.0%}"
                    for k, p in zip(kept, probs, strict=True)]
    if notice:
        st.info(notice, icon=":material/speed:")
    left, right = st.columns([1, 4], gap="medium")
    with left:
        if label is not None:
            st.markdown(w.swatch(b, label), unsafe_allow_html=True)
        w.big_image(picture, name, 168)
    with right:
        if live_data is None:
            w.thumbnails(images, captions, per_row=8, size=84)
        else:
            f = Frames(b.latent_dim)
            f.row([f.frame("line", mu, offset) for offset in offsets], columns=8)
            live.frames(keys.LIVE_VARIATIONS, live_data, keys.VARIATIONS_STRENGTH, strength,
                        live.control("Strength T", lo, hi, step, STRENGTH_HELP), f, notes=[captions])
        if kept is None:
            st.caption(w.no_judge_note(b))
        elif show == RECOGNISED:
            short = (f" Only {len(z)} of them did: few drawings of this item's posterior read as its "
                     f"category at T = {strength:g}." if len(z) < n else "")
            st.caption(f"The first {len(z)} of {draws} draws the classifier gives the item's category with "
                       f"probability ≥ {DEFAULT_MIN_CONFIDENCE:g}, as `augment` keeps them.{short} Show "
                       "'every draw' to see the posterior unfiltered. In a benchmark with few labels such "
                       "variants add at most a few tenths of a point to a classifier: docs/augmentation.md.")
        else:
            st.caption(f"The classifier keeps the category in {kept.mean():.0%} of these {n} variants (✓). "
                       "In a benchmark with few labels, such variants added at most a few tenths of a point "
                       "to a classifier's accuracy: docs/augmentation.md.")
        d1, d2, d3 = st.columns(3)
        d1.download_button("Download PNG", lambda: grid_png(images, ncol=8),
                           file_name=f"variations_{seed}.png", mime="image/png", on_click="ignore")
        if label is not None:   # an unlabelled set's variants have no label to write
            d2.download_button("Download .npz", lambda: labelled_npz(images, label, z),
                               file_name=f"variations_{seed}.npz",
                               help="the variants as uint8 images, the item's label and their latent codes z",
                               on_click="ignore")
        of_item = st.session_state.get(keys.VARIATIONS_OF, OF_ITEM) == OF_ITEM or state.selected(b) is None
        query = linking.publish([p for p in PARAMS if p.name != "item"] if of_item else PARAMS, b)
        with d3:
            w.link_box(URL_PATH, query, "and the same variants")


def main():
    b = state.bundle()
    # a link with an item shows the item's variations; one without, a category's
    if linking.follow_link(URL_PATH, PARAMS, b):
        if "item" in st.query_params:
            st.session_state[keys.VARIATIONS_OF] = "the selected point"
        else:
            st.session_state.pop(keys.VARIATIONS_OF, None)
    st.markdown("Other versions of one item: latents drawn from the item's own posterior q(z|x), widened by "
                "a strength T, and decoded. Each keeps the item's category; under each, what the classifier "
                "calls it. `python -m training augment` writes such variants of a whole labelled set.")
    variations(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
