"""Compare models: the loaded model beside a second one, on the same test item, the same category
samples (same seed), the same interpolation, and their evaluations side by side. The pictures are
decoded in the browser (views/live.py): a new test image, category or seed costs the server the
latents, not 34 decodes and their PNGs."""
import math
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links
from explorer.assets import SHIPPED_MODELS, AssetError
from explorer.live_frames import Frames
from training.evaluation import catalogue
from training.evaluation import metrics as M
from training.inference import decode_pixels
from training.sampling import DEFAULT_NOISE
from views import cached, keys, linking, live, shared_mode, state, url_path
from views import widgets as w
from views.shared_mode import OTHER

URL_PATH = url_path(__file__)
STEPS = 8


def other_model(b):
    """The second model, chosen in this view, or None after saying why it cannot be loaded."""
    here = Path(b.directory).resolve()
    models = shared_mode.pickable_models()
    choices = [name for name, d in models.items() if d and Path(d).resolve() != here]
    choices += [OTHER] if OTHER in models else []
    if not choices:
        st.info("No other model is shared here to compare with.")
        return None
    c1, c2 = st.columns([1, 2])
    choice = c1.selectbox("Compare with", choices, key=keys.COMPARE_WITH)
    if choice not in choices:   # a value no option has (a crafted request): never a path
        choice = choices[0]
    if choice == OTHER:
        directory = c2.text_input("Its directory", key=keys.COMPARE_DIR, placeholder="runs/paper",
                                  help="a model directory that `embed` has written maps into")
        if not directory.strip():
            st.info("Name a model directory to compare with, e.g. a run you trained and embedded.")
            return None
    else:
        directory = models[choice]
    try:
        return cached.get_bundle(directory, cached.directory_stamp(directory))
    except AssetError as e:
        st.error(f"Cannot load the second model: {e.problem}")
        st.info(f"To rebuild: {e.fix}")
        return None


def name_of(b) -> str:
    here = Path(b.directory).resolve()
    return next((n for n, d in SHIPPED_MODELS.items() if Path(d).resolve() == here), str(b.directory))


def active_units(b) -> int:
    """Dimensions whose μ varies across the test images (Burda et al.; the evaluation's measure)."""
    return int(M.active_units(b.mu)[0])


def likelihood(b) -> str:
    """The likelihood and, for a Gaussian, its σ (the paper's loss is σ² = ½, σ ≈ 0.71)."""
    log_sigma = b.meta.get("log_sigma")
    sigma = f", σ = {math.exp(log_sigma):.3g}" if log_sigma is not None else ""
    return b.meta.get("likelihood", "?") + sigma


def finetuning(b) -> str:
    """'none', or the decoder's fine-tuning epochs and which terms trained it."""
    epochs = catalogue.finetune_epochs(b.meta)
    if not epochs:
        return "none"
    terms = "adversarial + perceptual" if catalogue.perceptual_classifier(b.meta) else "adversarial"
    return f"{catalogue.plural(epochs, 'epoch')}, {terms}"


def summary_table(a, o):
    rows = ["| | " + name_of(a) + " | " + name_of(o) + " |", "|---|---:|---:|"]
    for label, get in (("Likelihood", likelihood),
                       ("Epochs", lambda b: b.meta.get("epoch")),
                       ("Decoder fine-tuning", finetuning),
                       ("Parameters", lambda b: f"{b.meta.get('parameters', 0):,}"),
                       ("Weights stored as", lambda b: b.meta.get("weights_dtype", "float32")),
                       ("Active latent units (Var μ > 0.01)",
                        lambda b: f"{active_units(b)} of {b.latent_dim}")):
        rows.append(f"| {label} | {get(a)} | {get(o)} |")
    st.markdown("\n".join(rows))


def metrics_table(a, o):
    ma, mo = a.current_metrics, o.current_metrics
    if not ma or not mo:
        missing = [name_of(b) for b, m in ((a, ma), (o, mo)) if not m]
        st.info(f"No evaluation of {' and '.join(missing)} on its present weights: `python -m training "
                "evaluate --checkpoint DIR` writes metrics.json.")
        return
    rows = [f"| | {name_of(a)} | {name_of(o)} | better |", "|---|---:|---:|---|"]
    for title, group in catalogue.GROUPS:
        rows.append(f"| **{title}** | | | |")
        for metric in group:
            va, vo = catalogue.lookup(ma, metric.key), catalogue.lookup(mo, metric.key)
            verdict = catalogue.compare(va, vo, metric.better)
            better = {"better": name_of(a), "worse": name_of(o)}.get(verdict, "—" if metric.better else "")
            rows.append(f"| {metric.label} | {catalogue.formatted(ma, metric)} | "
                        f"{catalogue.formatted(mo, metric)} | {better} |")
    st.markdown("\n".join(rows))


def show(b, which: int, section: str, latents: np.ndarray, captions: list[str] | None, size: int,
         live_data: dict | None):
    """Latents of model ``b`` (``which``: 0 the loaded one, 1 the second) decoded in a row: by the
    browser where it can, else here."""
    if live_data is None and size is None:
        w.strip(decode_pixels(b.model, latents), captions)
        return
    if live_data is None:
        w.big_image(decode_pixels(b.model, latents)[0], captions[0], size)
        return
    f = Frames(b.latent_dim)
    f.row([f.frame("mix", z, z, 0.0, 0.0) for z in latents], captions=captions, columns=len(latents),
          size=size or 96)
    live.still(keys.live_compare(section, which), live_data, f, f"{section} {which}")


def same_item(a, o, live_data):
    st.markdown("#### The same test image, reconstructed by each")
    sel = state.selected(a)
    default = int(a.index[sel["index"]]) if sel and sel["kind"] == "point" else int(a.index[0])
    shared = np.intersect1d(a.index, o.index)
    if not len(shared):
        st.warning("The two models' maps share no test image.")
        return
    start = default if default in shared else int(shared[0])
    number = st.number_input("Test image", 0, int(shared.max()), start, key=keys.COMPARE_ITEM,
                             help="a test image's number (the map's point or any other)")
    if number not in shared:
        st.caption(f"Test image {number} is not on both maps.")
        return
    ra, ro = int(np.flatnonzero(a.index == number)[0]), int(np.flatnonzero(o.index == number)[0])
    original = w.original_image(a, ra)
    columns = st.columns(3 if original is not None else 2)
    if original is not None:
        with columns[0]:
            w.big_image(original, f"test image {number} · {w.caption_category(a, ra)}", 168)
    for which, (b, r) in enumerate(((a, ra), (o, ro))):
        with columns[which - 2]:
            show(b, which, "item", b.mu[r][None], [f"{name_of(b)} · MSE {b.recon_mse[r]:.4f}"], 168,
                 live_data[which])


def same_samples(a, o, live_data):
    st.markdown("#### The same category, the same seed")
    if w.needs_categories(a, "Sampling by category"):
        return
    c1, c2, c3 = st.columns([2, 1, 1])
    c = w.category_box(c1, "Category", a, keys.COMPARE_CATEGORY)
    n = c2.number_input("Items", 4, 16, 8, step=4, key=keys.COMPARE_ITEMS)
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key=keys.COMPARE_SEED)
    for which, b in enumerate((a, o)):
        mixtures = b.category_mixtures
        sampler = (f"its {mixtures.weight.shape[1]} clusters per category" if mixtures is not None
                   else "its Gaussian (no clusters stored)")
        st.caption(f"**{name_of(b)}**: from {sampler}, noise {DEFAULT_NOISE}")
        show(b, which, "samples", lat.category_samples(b, c, n, DEFAULT_NOISE, seed), None, None,
             live_data[which])


def same_path(a, o, live_data):
    st.markdown("#### The same interpolation")
    marked = [state.marked(m, a) for m in keys.MARKS]
    ends = [int(a.index[m["index"]]) if m and m["kind"] == "point" else None for m in marked]
    c1, c2 = st.columns(2)
    first = c1.number_input("From test image", 0, 9999, 0 if ends[0] is None else ends[0],
                            key=keys.COMPARE_FROM)
    last = c2.number_input("To test image", 0, 9999, 1 if ends[1] is None else ends[1], key=keys.COMPARE_TO)
    for which, b in enumerate((a, o)):
        rows = [np.flatnonzero(b.index == i) for i in (first, last)]
        if not all(len(r) for r in rows):
            st.caption(f"{name_of(b)}: test images {first} and {last} are not both on its map.")
            continue
        path = lat.interpolate(b.mu[rows[0][0]], b.mu[rows[1][0]], STEPS)
        st.caption(f"**{name_of(b)}**: linear in its latent space, {w.caption_category(b, rows[0][0])} → "
                   f"{w.caption_category(b, rows[1][0])}")
        show(b, which, "path", path, None, None, live_data[which])


@shared_mode.fragment
def side_by_side(a, o):
    """The item, samples and path: a change of one reruns this part, not the tables around it."""
    ready = [live.ready(b) for b in (a, o)]
    notice = next((notice for _, notice in ready if notice), None)
    if notice:   # either model's decoder cannot run in the browser: both decode here
        st.info(notice, icon=":material/speed:")
    live_data = [None, None] if notice else [data for data, _ in ready]
    same_item(a, o, live_data)
    same_samples(a, o, live_data)
    same_path(a, o, live_data)
    query = linking.publish(PARAMS if st.session_state.get(keys.COMPARE_WITH) != OTHER else PARAMS[1:], a)
    w.link_box(URL_PATH, query, "and the same second model, item, category and seed")


def _checksum(b) -> str | None:
    return (b.meta.get("dataset") or {}).get("checksum")


def _data_words(b) -> str:
    folder = b.folder
    return f"{shared_mode.shown_path(folder)}, {len(b.categories)} categories" if folder else "Fashion-MNIST"


def compare(a):
    o = other_model(a)
    if o is None:
        return
    if o.key == a.key:
        st.info("That is the loaded model itself: pick another to compare with.")
        return
    if (a.categories, _checksum(a)) != (o.categories, _checksum(o)):
        st.info(f"{name_of(o)} was trained on other images than the loaded model ({_data_words(o)} against "
                f"{_data_words(a)}): the two can only be compared on the same test images and categories.")
        return
    summary_table(a, o)
    side_by_side(a, o)
    st.markdown("#### Their evaluations")
    metrics_table(a, o)


SLUGS = tuple(("default" if d == "assets" else Path(d).name, n) for n, d in SHIPPED_MODELS.items())
PARAMS = [links.Choice("with", keys.COMPARE_WITH, SLUGS),
          links.Int("item", keys.COMPARE_ITEM, 0, 9999), links.Category("cat", keys.COMPARE_CATEGORY),
          links.Int("seed", keys.COMPARE_SEED)]


def main():
    a = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, a)
    st.markdown("The loaded model beside another: the same test image reconstructed, the same category "
                "sampled with the same seed, the same interpolation, and every metric of both evaluations. "
                "Two more models ship: the paper's loss as published (σ² = ½), which uses only a handful of "
                "its 128 latent dimensions, and the previous default: the same encoder, with its decoder as "
                "it was before the perceptual fine-tuning.")
    compare(a)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
