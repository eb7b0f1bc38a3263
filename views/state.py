"""What the person has chosen in this session, shared by several views: the loaded model, the selected
point or uploaded image, the endpoints A and B, your image, samples shown on the map, the Concepts
view's groups. Views read and write these through the functions here; each is kept under a key of
``views/keys.py``. Anything made on another model is stale and set aside, never crashed on.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import selection
from training.synthesis.concepts import SELECTED
from views import keys


def bundle():
    return st.session_state[keys.BUNDLE]


def set_bundle(b) -> None:
    st.session_state[keys.BUNDLE] = b


def selected(b, projection: str | None = None) -> dict | None:
    """The current selection, or None; one made on another model (or a mix made on another map
    projection, when ``projection`` is given) is stale and dropped."""
    sel = st.session_state.get(keys.SELECTION)
    if sel is not None and not selection.is_valid(sel, b, projection if sel.get("kind") == "mix" else None):
        st.session_state.pop(keys.SELECTION, None)
        return None
    return sel


def select(sel: dict | None) -> None:
    st.session_state[keys.SELECTION] = sel


def marked(name: str, b) -> dict | None:
    """Endpoint A or B, if it is marked and belongs to this model."""
    m = st.session_state.get(name)
    return m if m is not None and selection.is_valid(m, b) else None


def mark(name: str, sel: dict) -> None:
    st.session_state[name] = sel


def start_sliders_at_selection() -> None:
    st.session_state[keys.SLIDER_START] = "selected point"


def upload() -> dict | None:
    return st.session_state.get(keys.UPLOAD)


def set_upload(up: dict | None) -> None:
    if up is None:
        st.session_state.pop(keys.UPLOAD, None)
    else:
        st.session_state[keys.UPLOAD] = up


def uploaded_picture(sel: dict) -> np.ndarray | None:
    """The prepared 28×28 picture of your image, when ``sel`` is it."""
    up = upload()
    if sel and sel["kind"] == "upload" and up is not None and up.get("name") == sel["name"]:
        return up["prepared"]
    return None


def upload_on_map(b) -> dict | None:
    m = st.session_state.get(keys.UPLOAD_ON_MAP)
    return m if m is not None and selection.is_valid(m, b) else None


def put_upload_on_map(sel: dict) -> None:
    st.session_state[keys.UPLOAD_ON_MAP] = sel


def samples_on_map(b) -> dict | None:
    m = st.session_state.get(keys.ON_MAP)
    return m if m is not None and m.get("model") == b.key else None


def show_samples_on_map(b, latents: np.ndarray, name: str) -> None:
    st.session_state[keys.ON_MAP] = {"model": b.key, "latents": latents.tolist(), "name": name}


def hide_samples_on_map() -> None:
    st.session_state.pop(keys.ON_MAP, None)


def concept_work(b) -> dict:
    """The Concepts view's work on this model: ``with`` and ``without`` (map rows), ``rule`` and
    ``opened`` (a concept read from a file, with its name; None once the groups change). Work made on
    another model is set aside, not shown on this one."""
    work = st.session_state.get(keys.CONCEPT)
    if work is None or work["model"] != b.key:
        work = st.session_state[keys.CONCEPT] = {"model": b.key, "with": (), "without": (), "rule": SELECTED,
                                                 "opened": None, "source": None}
    return work
