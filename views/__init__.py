"""The explorer's views, one script each, and the one table the app's navigation, the views' own
addresses and their links are built from.

Beside the views: ``keys`` names every session key, ``state`` holds what the person has chosen,
``linking`` turns a view's settings into its address and back, ``shared_mode`` the limits of a
shared server, ``lost_session`` the notice after a restart, ``cached`` the Streamlit caches and
``widgets`` the small pieces of UI the views share.
"""
from pathlib import Path
from typing import NamedTuple


class View(NamedTuple):
    script: str    # relative to streamlit_app.py
    title: str
    url_path: str  # its address: http://host/<url_path>; the first view is also at /
    icon: str


# grouped as the sidebar shows them; the first is the home view
SECTIONS = {
    "Explore": (View("views/latent_map.py", "Latent map", "latent-map", ":material/scatter_plot:"),
                View("views/your_image.py", "Your image", "your-image", ":material/add_photo_alternate:"),
                View("views/sliders.py", "Latent sliders", "sliders", ":material/tune:"),
                View("views/concepts.py", "Concepts", "concepts", ":material/lightbulb:")),
    "Generate": (View("views/sampling.py", "Sampling", "sampling", ":material/grid_view:"),
                 View("views/variations.py", "Variations", "variations", ":material/style:"),
                 View("views/interpolation.py", "Interpolation & hybrids", "interpolation",
                      ":material/compare_arrows:")),
    "The model": (View("views/reconstructions.py", "Reconstructions", "reconstructions", ":material/flip:"),
                  View("views/statistics.py", "Latent statistics", "statistics", ":material/bar_chart:"),
                  View("views/compare.py", "Compare models", "compare", ":material/compare:"),
                  View("views/model_card.py", "Model card", "model-card", ":material/description:")),
}
VIEWS = tuple(view for views in SECTIONS.values() for view in views)
SCRIPTS = {view.title: view.script for view in VIEWS}   # for st.switch_page
HOME = VIEWS[0].script


def url_path(script_file: str) -> str:
    """The address of the view whose script is ``script_file`` (a view's ``__file__``)."""
    name = Path(script_file).name
    return next(view.url_path for view in VIEWS if Path(view.script).name == name)
