"""Fashion-MNIST VAE latent explorer — the Streamlit app's entry.

Run with ``streamlit run streamlit_app.py``. This script sets up the page, loads the model chosen in
the sidebar and hands over to one of the views in ``views/``, each with its own URL. The views are
layout and widgets only: every number comes from ``explorer/`` (pure functions) and ``training``.
"""
import os
from pathlib import Path

import streamlit as st

from explorer import sharing
from explorer.assets import AssetError
from training.errors import ProjectError
from training.evaluation import catalogue
from views import HOME, SECTIONS, cached, keys, live, lost_session, shared_mode, state
from views.shared_mode import OTHER
from views.widgets import swatch

DEFAULT_MODEL_DIR = os.environ.get("EXPLORER_MODEL_DIR", "assets")
TITLE = "Fashion-MNIST VAE explorer"
st.set_page_config(page_title=TITLE, page_icon="👗", layout="wide")
# Pixels stay square when the browser scales an image; less empty space above the title.
st.html("""<style>
[data-testid="stImage"] img, [data-testid="stImageContainer"] img { image-rendering: pixelated; }
.block-container { padding-top: 2.2rem; }
h1 { padding-top: 0; }
</style>""")


def model_directory() -> str:
    """The directory the sidebar's picker names. Private: a shipped model by its name, or any other
    directory the owner types. Shared: one of the models the owner allowed, by name only."""
    st.sidebar.markdown("### Model")
    here = Path(DEFAULT_MODEL_DIR).resolve()
    models = shared_mode.pickable_models()
    if not models:
        st.error(f"No model is shared here: the owner lists them in {sharing.MODELS_VARIABLE} "
                 "(docs/deploy.md).")
        return ""
    names = list(models)
    fallback = names[-1] if OTHER in models else names[0]   # private: the directory box; shared: the first
    start = next((name for name, d in models.items() if d and Path(d).resolve() == here), fallback)
    choice = st.sidebar.selectbox("Model", names, index=names.index(start), key=keys.MODEL_CHOICE,
                                  help="the models this project ships, or a directory of your own"
                                  if OTHER in models else "the models shared here")
    if choice not in models:   # Streamlit 1.67 resets a value no option has; never a path if that changes
        choice = start
    if choice != OTHER:
        return models[choice]
    return st.sidebar.text_input("Model directory", DEFAULT_MODEL_DIR if models[start] == "" else "",
                                 key=keys.MODEL_DIR, placeholder="runs/default",
                                 help="A directory with model.safetensors, model.json and embeddings.npz, "
                                      "e.g. a run you trained and embedded.")


def load_model():
    """The model the sidebar names, or None after saying why it cannot be loaded."""
    directory = model_directory()
    if not directory.strip():
        st.info("Name a model directory in the sidebar, or pick a shipped model.")
        return None
    try:
        b = cached.get_bundle(directory, cached.directory_stamp(directory))
    except AssetError as e:
        st.error(f"Cannot load the model: {e.problem}")
        st.info(f"To rebuild: {e.fix}")
        return None
    epochs = catalogue.finetune_epochs(b.meta)
    sharpened = f" + {catalogue.plural(epochs, 'decoder fine-tuning epoch')}" if epochs else ""
    st.sidebar.caption(f"{b.meta.get('likelihood')} likelihood · {b.meta.get('epoch')} "
                       f"epochs{sharpened} · {len(b.labels):,} mapped test images")
    return b


def main():
    pages = {section: [st.Page(v.script, title=v.title, url_path=v.url_path, icon=v.icon,
                               default=v.script == HOME) for v in views]
             for section, views in SECTIONS.items()}
    page = st.navigation(pages)
    heading = st.empty()   # the home page's title names the model's images once it is loaded
    heading.title(page.title if page.title != "Latent map" else TITLE)
    try:
        shared_mode.check_settings()
    except ProjectError as e:   # a misconfigured server refuses to guess who its visitors are
        st.error(f"Cannot start: {e}.")
        st.stop()
    if shared_mode.shared_mode():   # visitors get the allowed models' decoders, no other
        live.serve_only(shared_mode.pickable_models())
    if not shared_mode.allow("action"):   # before the model, the maps and the view: a refusal costs little
        st.stop()
    with shared_mode.taking_turns():
        show(page, heading)


def show(page, heading):
    """The model, the chosen view and the sidebar's legend."""
    if lost_session.lost_an_earlier_session():
        st.info("The server process that held your session has stopped, so this is a new session. What "
                "the address holds is back (the view, the point, the settings); an uploaded image and "
                "marks that are not in the address are not: upload or mark them again.")
    b = load_model()
    if b is None:
        st.stop()
    state.set_bundle(b)
    if page.title == "Latent map" and b.folder:
        heading.title(f"VAE explorer · {Path(b.folder).name}")
    with shared_mode.whole_app():
        page.run()
    if b.categories:
        st.sidebar.markdown("### Categories")
        st.sidebar.markdown("<br>".join(swatch(b, c) for c in range(len(b.categories))),
                            unsafe_allow_html=True)


main()
