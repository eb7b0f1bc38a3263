"""Sampling: new items of a category, from its clusters (the default) or, as the paper did, around its
mean (fig. 5 and 6); or from the whole model without naming a category, from its learned prior (a
mixture fitted to where the training images' latents lie) or from N(0, I). The samples follow the noise
scale while it is dragged: the server sends their centres and offsets once and the browser decodes
centre + scale · offset (views/live.py). The page body is a fragment: new settings redraw the samples."""
import numpy as np
import streamlit as st

from explorer import links
from explorer.assets import embed_command
from explorer.images import grid_png, labelled_npz, unlabelled_npz
from explorer.live_frames import Frames
from training.evaluation import catalogue
from training.inference import decode_pixels
from training.sampling import DEFAULT_NOISE, sample_around, sample_mixture, sample_prior
from views import keys, linking, live, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
# The category samplers, the default first; the paper's (fig. 6) is one click away.
CLUSTERS, PAPERS, ISOTROPIC = ("category clusters", "around the mean (paper, fig. 6)",
                               "around the mean, isotropic")
SAMPLER_KEYS = {CLUSTERS: "mixture", PAPERS: "covariance"}   # the samplers the evaluation measured
ALL_CLUSTERS = "all clusters"
NOISE = (0.0, 2.0, 0.05)   # the noise scale's bounds and step
NOISE_HELP = "0 gives the mean itself; 1 is one standard deviation of the chosen noise"

# Drawing without a category: the learned prior (the default: its samples look like the data) or the
# VAE's own prior, whose samples show why it is not used; at noise 1 both sample their density.
BY_CATEGORY, WHOLE_MODEL = "a category", "the whole model"
LEARNED, NORMAL = "learned prior", "N(0, I), the VAE's prior"
MODEL_NOISE = 1.0

CATEGORY_PARAMS = [links.Category("cat", keys.SAMPLE_CATEGORY), links.Int("n", keys.SAMPLE_ITEMS, 4, 64),
                   links.Float("noise", keys.SAMPLE_NOISE, 0.0, 2.0), links.Int("seed", keys.SAMPLE_SEED),
                   links.Choice("sampler", keys.SAMPLE_KIND, (("clusters", CLUSTERS), ("paper", PAPERS),
                                                              ("isotropic", ISOTROPIC))),
                   links.Int("cluster", keys.SAMPLE_CLUSTER_LINK, 1, 64, once=True)]
MODEL_PARAMS = [links.Choice("from", keys.SAMPLE_SOURCE, (("category", BY_CATEGORY), ("model", WHOLE_MODEL))),
                links.Choice("prior", keys.SAMPLE_PRIOR, (("learned", LEARNED), ("normal", NORMAL))),
                links.Int("n", keys.SAMPLE_ITEMS, 4, 64),
                links.Float("scale", keys.SAMPLE_MODEL_NOISE, 0.0, 2.0), links.Int("seed", keys.SAMPLE_SEED)]
PARAMS = CATEGORY_PARAMS + [p for p in MODEL_PARAMS if p.name not in {q.name for q in CATEGORY_PARAMS}]


def pick_cluster(order) -> int | None:
    """The one cluster drawn from (its rank, heaviest first), or None for all of them by their shares."""
    ss = st.session_state
    linked = linking.from_link(keys.SAMPLE_CLUSTER_LINK)
    if linked is not None:
        if linked <= len(order):
            ss[keys.SAMPLE_CLUSTER] = str(linked)
        else:
            st.warning(f"This link's `cluster={linked}`: this category has {len(order)} clusters. Drawing "
                       "from all of them.", icon=":material/link_off:")
            ss[keys.SAMPLE_CLUSTER] = ALL_CLUSTERS
    chosen = ss.get(keys.SAMPLE_CLUSTER)
    if chosen not in (None, ALL_CLUSTERS) and int(chosen) > len(order):
        ss[keys.SAMPLE_CLUSTER] = ALL_CLUSTERS   # chosen on another category with more clusters
    # one style only: samples around that cluster's centre, as the evaluation measures each cluster
    picked = st.segmented_control(
        "Draw from", [ALL_CLUSTERS] + [str(r + 1) for r in range(len(order))], default=ALL_CLUSTERS,
        key=keys.SAMPLE_CLUSTER,
        help="all clusters: each sample picks a cluster by its share; a number: only that cluster "
             "(numbered as in the strip below, heaviest first)")
    return None if picked in (None, ALL_CLUSTERS) else int(picked) - 1


def cluster_strip(b, c: int, order, component):
    mixtures = b.category_mixtures
    weights = mixtures.weight[c][order]
    judged = catalogue.cluster_recognition(b.current_metrics, b.categories[c], weights)
    st.markdown(f"**The {b.categories[c]} clusters**: each cluster's centre decoded; under it, the "
                "cluster's share of the category's training images (each sample picks its cluster by "
                "that share) and how many of the samples above came from it."
                + (f" ✓: how often the evaluation's classifier recognises a {b.categories[c]} in samples "
                   "drawn from that cluster alone, beside how often it does in the cluster's real test "
                   "images. Samples that trail their real images mark a style the model draws less "
                   "clearly than the data shows it."
                   if judged else ""))
    w.thumbnails(decode_pixels(b.model, mixtures.mean[c][order]),
                 [f"{r + 1} · {mixtures.weight[c][j]:.0%} · {np.sum(component == j)} drawn"
                  for r, j in enumerate(order)],
                 per_row=min(8, len(order)),
                 notes=judged and [f"✓ {ok:.0%} · real {'—' if real is None else f'{real:.0%}'}"
                                   for ok, real in judged])


def draw(b, c: int, kind: str, order, rank: int | None, n: int, noise: float, seed: int):
    """The samples' latents (n×k), each one's cluster (None but for the clusters sampler), each one's
    centre (n×k: the mean or cluster centre it is drawn around) and a phrase saying where from. Their
    offsets from their centres scale with ``noise``: drawn at noise 1 with the centres at 0, they are
    what the browser scales while the noise is dragged (z = centre + noise · offset)."""
    mixtures = b.category_mixtures
    if kind == CLUSTERS and rank is None:
        z, component = sample_mixture(mixtures.weight[c], mixtures.mean[c], mixtures.cov[c], n, noise, seed)
        return z, component, mixtures.mean[c][component], f"from the {b.categories[c]} clusters"
    if kind == CLUSTERS:
        j = order[rank]
        z = sample_around(mixtures.mean[c][j], n, noise, seed, mixtures.cov[c][j])
        return (z, np.full(n, j), np.repeat(mixtures.mean[c][j][None], n, 0),
                f"from {b.categories[c]} cluster {rank + 1} ({mixtures.weight[c][j]:.0%} of the category)")
    cov = b.category_cov[c] if kind == PAPERS else None
    z = sample_around(b.category_mean[c], n, noise, seed, cov)
    return z, None, np.repeat(b.category_mean[c][None], n, 0), f"around the {b.categories[c]} mean"


def offsets(b, c: int, kind: str, order, rank: int | None, n: int, seed: int) -> np.ndarray:
    """What ``draw`` adds to each centre at noise 1: the same draws around centres at 0."""
    mixtures = b.category_mixtures
    if kind == CLUSTERS and rank is None:
        return sample_mixture(mixtures.weight[c], np.zeros_like(mixtures.mean[c]), mixtures.cov[c], n, 1.0,
                              seed)[0]
    if kind == CLUSTERS:
        return sample_around(np.zeros(b.latent_dim), n, 1.0, seed, mixtures.cov[c][order[rank]])
    return sample_around(np.zeros(b.latent_dim), n, 1.0, seed, b.category_cov[c] if kind == PAPERS else None)


@shared_mode.fragment
def sampler(b):
    ss = st.session_state
    live_data, notice = live.ready(b)
    if live_data is None:
        c1, c2, c3, c4, c5 = st.columns([2, 1, 2, 1, 2])
    else:   # the noise scale is dragged over the samples
        (c1, c2, c4, c5), c3 = st.columns([2, 1, 1, 2]), None
    c = w.category_box(c1, "Category", b, keys.SAMPLE_CATEGORY, 8)
    n = c2.number_input("Items", 4, 64, 16, step=4, key=keys.SAMPLE_ITEMS)
    lo, hi, step = NOISE
    if live_data is None:
        noise = c3.slider("Noise scale", lo, hi, DEFAULT_NOISE, step, key=keys.SAMPLE_NOISE, help=NOISE_HELP)
    else:
        noise = live.taken(keys.LIVE_SAMPLES, keys.SAMPLE_NOISE, DEFAULT_NOISE, lo, hi, step)
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key=keys.SAMPLE_SEED)
    if c not in range(len(b.categories)):   # a value no option has (a crafted request)
        c = 0
    if not shared_mode.allow("draw"):
        return
    mixtures = b.category_mixtures
    kinds = (*((CLUSTERS,) if mixtures is not None else ()), PAPERS, ISOTROPIC)
    if ss.get(keys.SAMPLE_KIND) not in (None, *kinds):
        ss.pop(keys.SAMPLE_KIND)   # clusters asked for on a model whose embeddings have none
    kind = c5.radio("Sampler", kinds, key=keys.SAMPLE_KIND,
                    help="category clusters: around the centres of the category's clusters (a mixture of "
                         "Gaussians), so samples keep to the styles the category has; around the mean: the "
                         "category's fitted Gaussian around its mean, as the paper samples; isotropic: N(0, "
                         "I) noise in prior units around the mean, the same in every direction"
                         + ("" if mixtures is not None else
                            ". Clusters need embeddings made since they were added: "
                            f"`{embed_command(b.directory)}`"))
    order = mixtures.components(c) if kind == CLUSTERS else None
    rank = pick_cluster(order) if kind == CLUSTERS else None
    z, component, centres, around = draw(b, c, kind, order, rank, n, noise, seed)
    if notice:
        st.info(notice, icon=":material/speed:")
    left, right = st.columns([1, 4], gap="medium")
    with left:
        st.markdown(w.swatch(b, c), unsafe_allow_html=True)
        if rank is None:
            w.big_image(decode_pixels(b.model, b.category_mean[c])[0], "category mean, decoded", 168)
        else:
            w.big_image(decode_pixels(b.model, mixtures.mean[c][order[rank]])[0],
                        f"cluster {rank + 1} centre, decoded", 168)
    with right:
        title = f"{n} samples {around}, noise {{s}}, seed {seed}"
        if live_data is None:
            w.picture(grid_png(decode_pixels(b.model, z), ncol=8, scale=1), title.format(s=noise))
        else:
            f = Frames(b.latent_dim)
            f.row([f.frame("line", centre, offset) for centre, offset in
                   zip(centres, offsets(b, c, kind, order, rank, n, seed), strict=True)], title, columns=8)
            live.frames(keys.LIVE_SAMPLES, live_data, keys.SAMPLE_NOISE, noise,
                        live.control("Noise scale", lo, hi, step, NOISE_HELP), f)
        measured = b.current_metrics
        if SAMPLER_KEYS.get(kind) == "mixture" and rank is not None:
            note = catalogue.cluster_note(measured, b.categories[c], mixtures.weight[c][order], rank, noise)
        else:
            note = SAMPLER_KEYS.get(kind) and catalogue.recognised_note(measured, b.categories[c], noise,
                                                                         SAMPLER_KEYS[kind])
        if note:
            st.caption(note)
        d1, d2, d3, d4 = st.columns([2, 2, 3, 2], vertical_alignment="center")
        d1.download_button("Download PNG", lambda: grid_png(decode_pixels(b.model, z), ncol=8),
                           file_name=f"samples_{c}_{seed}.png", mime="image/png", on_click="ignore")
        d2.download_button("Download .npz", lambda: labelled_npz(decode_pixels(b.model, z), c, z),
                           file_name=f"samples_{c}_{seed}.npz",
                           help="the samples as uint8 images, their category labels and their latent codes z",
                           on_click="ignore")
        if d3.toggle("Show on the latent map", key=keys.SAMPLE_ON_MAP):
            state.show_samples_on_map(b, z, f"generated {b.categories[c]}")
        elif (state.samples_on_map(b) or {}).get("name", "").startswith("generated"):
            state.hide_samples_on_map()
        query = linking.publish(CATEGORY_PARAMS, b,
                                **{keys.SAMPLE_CLUSTER_LINK: None if rank is None else rank + 1})
        with d4:
            w.link_box(URL_PATH, query, "and the same samples")
    if kind == CLUSTERS:
        cluster_strip(b, c, order, component)
    if st.toggle("Novelty check", key=keys.SAMPLE_NOVELTY):
        w.novelty_check(b, z, "samples")


def model_draw(b, kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The whole model's samples at noise 1 as centres and offsets (z = centre + noise · offset), and
    each one's component of the learned prior (None for N(0, I))."""
    if kind == LEARNED:
        prior = b.learned_prior
        offsets, component = sample_mixture(prior.weight, np.zeros_like(prior.mean), prior.cov, n, 1.0, seed)
        return prior.mean[component], offsets, component
    return np.zeros((n, b.latent_dim)), sample_prior(n, b.latent_dim, seed), None


def prior_strip(b, component: np.ndarray):
    prior = b.learned_prior
    order = np.argsort(-prior.weight, kind="stable")[:prior.components]
    st.markdown(f"**The learned prior's {len(order)} components**, heaviest first: each centre decoded, "
                "with its share of the training images and how many of the samples above came from it. "
                "No category went into them; they are where the encoder put the images.")
    # share and draws only: no command picks a component by its rank, and a third part wraps at 84 px
    w.thumbnails(decode_pixels(b.model, prior.mean[order]),
                 [f"{prior.weight[j]:.0%} · {np.sum(component == j)} drawn" for j in order], per_row=8)


@shared_mode.fragment
def from_the_model(b):
    """Samples without a category: from the learned prior, or from N(0, I)."""
    ss = st.session_state
    live_data, notice = live.ready(b)
    if live_data is None:
        c1, c2, c3, c4 = st.columns([3, 1, 2, 1])
    else:
        (c1, c2, c4), c3 = st.columns([3, 1, 1]), None
    kinds = (LEARNED, NORMAL) if b.learned_prior is not None else (NORMAL,)
    if ss.get(keys.SAMPLE_PRIOR) not in (None, *kinds):
        ss.pop(keys.SAMPLE_PRIOR)   # the learned prior asked for on a model whose embeddings have none
    kind = c1.radio("Prior", kinds, key=keys.SAMPLE_PRIOR, horizontal=True,
                    help="learned prior: a mixture of Gaussians fitted to where the encoder put every "
                         "training image, so samples land where images are; N(0, I): the prior the VAE was "
                         "trained towards, whose samples also land between the images and decode to blends"
                         + ("" if b.learned_prior is not None else
                            ". The learned prior needs embeddings made since it was added: "
                            f"`{embed_command(b.directory)}`"))
    n = c2.number_input("Items", 4, 64, 16, step=4, key=keys.SAMPLE_ITEMS)
    lo, hi, step = NOISE
    help = "1 samples the prior itself; below 1, samples stay nearer its centres (less variety)"
    if live_data is None:
        noise = c3.slider("Noise scale", lo, hi, MODEL_NOISE, step, key=keys.SAMPLE_MODEL_NOISE, help=help)
    else:
        noise = live.taken(keys.LIVE_MODEL_SAMPLES, keys.SAMPLE_MODEL_NOISE, MODEL_NOISE, lo, hi, step)
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key=keys.SAMPLE_SEED)
    if not shared_mode.allow("draw"):
        return
    centres, offsets_at_1, component = model_draw(b, kind, n, seed)
    z = centres + noise * offsets_at_1
    if notice:
        st.info(notice, icon=":material/speed:")
    drawn_from = "the learned prior" if kind == LEARNED else "the prior N(0, I)"
    title = f"{n} samples from {drawn_from}, noise {{s}}, seed {seed}"
    if live_data is None:
        w.picture(grid_png(decode_pixels(b.model, z), ncol=8, scale=1), title.format(s=noise))
    else:
        f = Frames(b.latent_dim)
        f.row([f.frame("line", c, o) for c, o in zip(centres, offsets_at_1, strict=True)], title, columns=8)
        live.frames(keys.LIVE_MODEL_SAMPLES, live_data, keys.SAMPLE_MODEL_NOISE, noise,
                    live.control("Noise scale", lo, hi, step, help), f)
    note = catalogue.unconditional_note(b.current_metrics, "learned" if kind == LEARNED else "prior", noise)
    if note:
        st.caption(note)
    name = "learned-prior" if kind == LEARNED else "prior"
    d1, d2, d3, d4 = st.columns([2, 2, 3, 2], vertical_alignment="center")
    d1.download_button("Download PNG", lambda: grid_png(decode_pixels(b.model, z), ncol=8),
                       file_name=f"samples_{name}_{seed}.png", mime="image/png", on_click="ignore")
    d2.download_button("Download .npz", lambda: unlabelled_npz(decode_pixels(b.model, z), z),
                       file_name=f"samples_{name}_{seed}.npz",
                       help="the samples as uint8 images and their latent codes z (no labels: no category "
                            "was asked for)", on_click="ignore")
    if d3.toggle("Show on the latent map", key=keys.SAMPLE_ON_MAP):
        state.show_samples_on_map(b, z, f"generated ({'learned prior' if kind == LEARNED else 'N(0, I)'})")
    elif (state.samples_on_map(b) or {}).get("name", "").startswith("generated"):
        state.hide_samples_on_map()
    query = linking.publish(MODEL_PARAMS, b)
    with d4:
        w.link_box(URL_PATH, query, "and the same samples")
    if component is not None:
        prior_strip(b, component)
    if st.toggle("Novelty check", key=keys.SAMPLE_NOVELTY):
        w.novelty_check(b, z, "samples")


def main():
    b = state.bundle()
    ss = st.session_state
    if linking.follow_link(URL_PATH, PARAMS, b) and "from" not in st.query_params:
        ss[keys.SAMPLE_SOURCE] = BY_CATEGORY   # a category's link, opened where the whole model was shown
    if not b.categories:   # an unlabelled folder: there is only the whole model to draw from
        st.markdown("Draw new images from the whole model: from its learned prior, where the training "
                    "images' latents lie, or from the N(0, I) prior it was trained towards.")
        ss[keys.SAMPLE_SOURCE] = WHOLE_MODEL
        from_the_model(b)
        return
    source = st.segmented_control("Sample from", (BY_CATEGORY, WHOLE_MODEL), default=BY_CATEGORY,
                                  key=keys.SAMPLE_SOURCE,
                                  help="a category: new items of the category you pick; the whole model: new "
                                       "items without naming a category, as a generative model samples")
    if source == WHOLE_MODEL:
        st.markdown("New items from the whole model, no category named: from its learned prior (a mixture "
                    "fitted to where the training images' latents lie), or from the N(0, I) prior.")
        from_the_model(b)
    else:
        st.markdown("Draw new items of a category from its clusters (the default: samples keep to the styles "
                    "the category has), or as the paper did, around the category's mean latent (fig. 5), "
                    "decoded on the left (fig. 6).")
        sampler(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
