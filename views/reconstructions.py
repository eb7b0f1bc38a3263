"""Reconstructions: test images beside their reconstructions from μ (paper fig. 2)."""
import numpy as np
import streamlit as st

from explorer import links
from explorer.images import rows_png
from training.inference import decode_pixels
from views import cached, keys, linking, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
PARAMS = [links.Int("seed", keys.RECONSTRUCTIONS_SEED), links.Int("n", keys.RECONSTRUCTIONS_COUNT, 4, 16)]


@shared_mode.fragment
def reconstructions(b):
    c1, c2 = st.columns([1, 4])
    seed = c1.number_input("Seed", 0, 2**31 - 1, 0, key=keys.RECONSTRUCTIONS_SEED)
    n = c1.slider("Images", 4, 16, 10, key=keys.RECONSTRUCTIONS_COUNT)
    n = min(n, len(b.labels))   # a small folder's test split may hold fewer
    idx = np.random.default_rng(seed).choice(len(b.labels), n, replace=False)
    originals = np.stack([w.original_image(b, i) for i in idx])
    recons = decode_pixels(b.model, b.mu[idx])
    errors = ((recons - originals) ** 2).reshape(n, -1).mean(1)
    with c2:
        w.picture(rows_png([originals, recons], scale=1),
                  "top: test images · bottom: reconstructions from μ (paper fig. 2)")
        st.caption("  ·  ".join(f"{w.caption_category(b, i)}: MSE {e:.4f}"
                                for i, e in zip(idx, errors, strict=True)))
        st.caption(f"Mean reconstruction MSE over all {len(b.labels):,} test images: "
                   f"{b.recon_mse.mean():.4f}")
    with c1:
        w.link_box(URL_PATH, linking.publish(PARAMS, b), "and the same images")


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    folder = b.folder
    if cached.test_images(b) is None and folder:
        st.info(f"Reconstructions need the model's real test images, from {shared_mode.shown_path(folder)}, "
                "which is missing or has changed since the model was trained (`python -m training data` on "
                "it says which).")
        return
    if cached.test_images(b) is None:
        st.info("Reconstructions need the real test images, which are not installed here. Install them with "
                "`apt-get install dataset-fashion-mnist` (or set FASHION_MNIST_DIR) and reload.")
        return
    reconstructions(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
