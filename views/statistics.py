"""Latent statistics: any two latent dimensions of a category against the prior (paper fig. 4), and
how much each dimension is used (its average KL)."""
import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links, plots
from explorer.colours import UNLABELLED
from views import keys, linking, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
PARAMS = [links.Category("cat", keys.STATISTICS_CATEGORY),
          links.Int("x", keys.STATISTICS_X, 0, links.last_latent_dim),
          links.Int("y", keys.STATISTICS_Y, 0, links.last_latent_dim)]


@shared_mode.fragment
def statistics(b):
    ranked = lat.rank_dimensions(b.kl_per_dim)
    c1, c2, c3, c4 = st.columns([3, 3, 3, 1], vertical_alignment="bottom")
    c = w.category_box(c1, "Category", b, keys.STATISTICS_CATEGORY)
    dx = c2.selectbox("x: latent dimension", range(b.latent_dim), index=int(ranked[0]), key=keys.STATISTICS_X)
    dy = c3.selectbox("y: latent dimension", range(b.latent_dim), index=int(ranked[1]), key=keys.STATISTICS_Y)
    with c4:
        w.link_box(URL_PATH, linking.publish(PARAMS, b), "and the same dimensions")
    prior = np.random.default_rng(0).standard_normal((2000, 2))
    name, colour = ("all images", UNLABELLED) if c is None else (b.categories[c], b.colours[c])
    st.plotly_chart(plots.latent_pair(b.mu[w.members(b, c)], dx, dy, name, colour, prior),
                    key=keys.STATISTICS_PAIR_CHART)
    st.caption("The paper's figure 4 plots dimensions 0 and 1 of T-shirts; here any pair and category. Used "
               "dimensions spread the categories apart; in unused ones every μ sits at 0, because their "
               "posterior is the prior itself.")


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    statistics(b)
    st.plotly_chart(plots.kl_bars(b.kl_per_dim), key=keys.STATISTICS_KL_CHART)
    active = int((b.kl_per_dim > 0.01).sum())
    st.caption(f"{active} of {b.latent_dim} dimensions carry more than 0.01 nats of KL on average.")


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
