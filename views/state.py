"""The explorer's session state, named in one place, and each view's link.

Views read and write what the user has selected, marked and uploaded through these accessors, never
through string keys of their own. A view's link is its list of ``explorer.links`` parameters: at
the top of the view ``follow_link`` applies a link opened from outside this session (a pasted URL,
the browser's back and forward buttons), and at the end ``publish`` writes what the view shows back
into the address bar, so a copied link reopens it.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from explorer import links, selection, sharing
from explorer.assets import SHIPPED_MODELS

ROOT = Path(__file__).resolve().parents[1]

BUNDLE = "bundle"           # the loaded model and its maps (explorer.assets.Bundle)
SELECTION = "selection"     # the map click or your image (an explorer.selection dict)
UPLOAD = "upload"           # your image: signature, name, original (shown), size, prepared, encoded
UPLOAD_ON_MAP = "upload_on_map"   # your image's marker on the map
ON_MAP = "on_map"           # generated samples shown on the map: model, latents, name
SAVED = "_saved"            # each linked widget's last value, restored when its view is opened again
WRITTEN = "_written"        # the query parameters this session last wrote or followed
VIEW = "_view"              # the view shown last, to tell an arrival from a rerun
ARRIVAL = "_arrival"        # what a view opened from the sidebar showed on arrival (its address stays bare)
LINKED = "linked"           # …or: the address carries the view's parameters
SESSION_SEEN = "_session_seen"   # when a resumed session began, or None (see lost_an_earlier_session)
NOTICE_SECONDS = 30
CONCEPT = "concept"         # the Concepts view: groups (map rows), their rule, a concept opened from a file
MARKS = ("A", "B")          # the interpolation's endpoints, marked on the map or on your image
SLIDER_START = "slider_start"   # where the sliders start: "selected point", "category mean" or "origin"
ANY_VIEW = {"item", "at", "a", "b", "map", "colour", "start", "cat", "dims", "z", "sweep", "n", "noise",
            "seed", "sampler", "cluster", "k", "t", "steps", "path", "ha", "hb", "pairs", "mix", "hseed", "x",
            "y", "concept", "s", "with"}            # every view's link parameters


def lost_an_earlier_session() -> bool:
    """True in the first NOTICE_SECONDS of a new session that the browser opened to resume one this
    server does not hold: the server restarted, or (behind scripts/serve.sh) the replica that held it
    stopped. On a reconnect, Streamlit's frontend names the session it had as the third WebSocket
    subprotocol (after "streamlit" and the XSRF token); a first visit names none. The frontend reruns
    the page by itself on reconnecting, so a notice shown for one run only could vanish at the
    person's next click before they read it."""
    ss = st.session_state
    if SESSION_SEEN not in ss:
        offered = st.context.headers.get("Sec-Websocket-Protocol", "").split(",")
        resumed = len(offered) >= 3 and bool(offered[2].strip())
        ss[SESSION_SEEN] = time.monotonic() if resumed else None
    return ss[SESSION_SEEN] is not None and time.monotonic() - ss[SESSION_SEEN] < NOTICE_SECONDS


# --- sharing: the mode, the models visitors may load, and each session's rate limits --------------
LIMITS = "_limits"          # this session's sharing.RateLimit per kind of request
NOUNS = {"upload": "uploads", "draw": "new sample grids", "concept": "new concepts", "action": "interactions"}
TARPIT_SECONDS = 1.0
FULL_RUN = "_full_run"      # set while the whole app runs, so its fragments do not count it again


OTHER = "another directory…"   # the model pickers' choice that opens a directory box (private mode only)


def shared_mode() -> bool:
    """True when visitors, not the owner, use this server (see explorer/sharing.py). A bad
    EXPLORER_SHARED value raises ValueError."""
    return sharing.is_shared(st.get_option("server.address"), os.environ.get(sharing.SHARED_VARIABLE))


def limits() -> dict[str, int]:
    """Each kind of request's count per minute; a bad EXPLORER_LIMITS raises ValueError."""
    return sharing.limits(os.environ.get(sharing.LIMITS_VARIABLE))


def check_settings() -> None:
    """Raise ValueError (one line) for a bad sharing setting: the app refuses to start rather than guess."""
    shared_mode()
    limits()


def pickable_models() -> dict[str, str]:
    """Model name → directory that the pickers offer. Shared: the models the owner allows. Private:
    the shipped ones on this disk, and OTHER (no directory yet: the person types one)."""
    if shared_mode():
        return sharing.allowed_models(os.environ.get(sharing.MODELS_VARIABLE), SHIPPED_MODELS, ROOT)
    return {name: d for name, d in SHIPPED_MODELS.items() if Path(d).is_dir()} | {OTHER: ""}


def allow(kind: str) -> bool:
    """In shared mode, whether this session may make one more request of this kind now; if not, a
    one-line notice says when it may. Private mode has no limits."""
    if not shared_mode():
        return True
    limit = st.session_state.setdefault(LIMITS, {}).setdefault(kind, sharing.RateLimit(limits()[kind]))
    wait = limit.wait()
    if wait:
        # Tarpit: the refused session's own script thread waits a moment (no CPU, no other session
        # held up), so a client that fires requests without pause is slowed to one a second.
        time.sleep(min(wait, TARPIT_SECONDS))
        st.warning(f"This shared explorer allows {limit.count} {NOUNS[kind]} a minute per visitor: try again "
                   f"in {max(1, round(wait))} s.", icon=":material/hourglass_top:")
    return not wait


def taking_turns():
    """A context for the work of a script run: in shared mode, a session that has lately asked faster
    than its interaction limit (``RateLimit.busy``) waits until no other such session is running."""
    limit = st.session_state.get(LIMITS, {}).get("action")
    return sharing.taking_turns(limit is not None and shared_mode() and limit.busy())


def fragment(body):
    """``st.fragment`` that counts a rerun of the fragment alone as one interaction in shared mode: a
    visitor past the limit gets the notice in its place, and the server does no work for them; a busy
    visitor's fragment takes its turn (``taking_turns``)."""
    @functools.wraps(body)
    def run(*args, **kwargs):
        if st.session_state.get(FULL_RUN):
            return body(*args, **kwargs)
        if not allow("action"):
            return None
        with taking_turns():
            return body(*args, **kwargs)
    return st.fragment(run)


def bundle():
    return st.session_state[BUNDLE]


def set_bundle(b) -> None:
    st.session_state[BUNDLE] = b


def selected(b, projection: str | None = None) -> dict | None:
    """The current selection, or None; one made on another model (or a mix made on another map
    projection, when ``projection`` is given) is stale and dropped."""
    sel = st.session_state.get(SELECTION)
    if sel is not None and not selection.is_valid(sel, b, projection if sel.get("kind") == "mix" else None):
        st.session_state.pop(SELECTION, None)
        return None
    return sel


def select(sel: dict | None) -> None:
    st.session_state[SELECTION] = sel


def marked(name: str, b) -> dict | None:
    """Endpoint A or B, if it is marked and belongs to this model."""
    m = st.session_state.get(name)
    return m if m is not None and selection.is_valid(m, b) else None


def mark(name: str, sel: dict) -> None:
    st.session_state[name] = sel


def start_sliders_at_selection() -> None:
    st.session_state[SLIDER_START] = "selected point"


def upload() -> dict | None:
    return st.session_state.get(UPLOAD)


def set_upload(up: dict | None) -> None:
    if up is None:
        st.session_state.pop(UPLOAD, None)
    else:
        st.session_state[UPLOAD] = up


def uploaded_picture(sel: dict) -> np.ndarray | None:
    """The prepared 28×28 picture of your image, when ``sel`` is it."""
    up = upload()
    if sel and sel["kind"] == "upload" and up is not None and up.get("name") == sel["name"]:
        return up["prepared"]
    return None


def upload_on_map(b) -> dict | None:
    m = st.session_state.get(UPLOAD_ON_MAP)
    return m if m is not None and selection.is_valid(m, b) else None


def put_upload_on_map(sel: dict) -> None:
    st.session_state[UPLOAD_ON_MAP] = sel


def samples_on_map(b) -> dict | None:
    m = st.session_state.get(ON_MAP)
    return m if m is not None and m.get("model") == b.key else None


def show_samples_on_map(b, latents: np.ndarray, name: str) -> None:
    st.session_state[ON_MAP] = {"model": b.key, "latents": latents.tolist(), "name": name}


def hide_samples_on_map() -> None:
    st.session_state.pop(ON_MAP, None)


def concept_work(b) -> dict:
    """The Concepts view's work on this model: ``with`` and ``without`` (map rows), ``rule`` and
    ``opened`` (a concept read from a file, with its name; None once the groups change). Work made on
    another model is set aside, not shown on this one."""
    from training.concepts import SELECTED
    work = st.session_state.get(CONCEPT)
    if work is None or work["model"] != b.key:
        work = st.session_state[CONCEPT] = {"model": b.key, "with": (), "without": (), "rule": SELECTED,
                                            "opened": None, "source": None}
    return work


# --- links --------------------------------------------------------------------------------------
def _query() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params if k not in links.STREAMLIT_PARAMS}


def follow_link(view: str, params: list[links.Param], b) -> bool:
    """Apply the address bar's parameters when they did not come from this session (a link opened,
    back or forward), with a one-line notice for any it cannot use; else restore the view's widgets
    as they were when the person last left it (Streamlit forgets a widget that is not drawn).
    True when a link was followed."""
    ss = st.session_state
    query = _query()
    if ss.get(VIEW) != view:   # arriving: from the sidebar (no parameters) or by a link
        ss[VIEW], ss[ARRIVAL] = view, (None if not query else LINKED)
    followed = bool(query) and query != ss.get(WRITTEN)
    if followed:
        # Another view's settings are dropped quietly: on back and forward Streamlit can rerun a view
        # with the parameters of the entry it left.
        ours = {p.name for p in params}
        values, notices = links.read({k: v for k, v in query.items() if k in ours or k not in ANY_VIEW},
                                     params, b)
        for key, value in values.items():
            ss[key] = value
        if notices:
            st.warning("This link's " + "; ".join(notices) + ". Those settings are at their defaults.",
                       icon=":material/link_off:")
        ss[WRITTEN] = query
    saved = ss.setdefault(SAVED, {})
    for p in params:
        if p.key not in ss and p.key in saved:
            ss[p.key] = saved[p.key]
    return followed


def publish(params: list[links.Param], b, **computed) -> dict[str, str]:
    """Write the view's settings (session values by key, or ``computed`` ones) into the address
    bar, replacing its parameters; returns them (the view's full link)."""
    ss = st.session_state
    values = {p.key: computed[p.key] if p.key in computed else ss.get(p.key) for p in params}
    ss.setdefault(SAVED, {}).update({p.key: values[p.key] for p in params
                                     if p.key not in computed and values[p.key] is not None})
    query = links.write(values, params, b)
    # Streamlit pushes a browser-history entry for every change of st.query_params, after the one a
    # view opened from the sidebar already has. Writing the settings on arrival would make two
    # entries for one visit (and back would seem to do nothing), so a view opened from the sidebar
    # keeps its bare address until a setting changes; its link box always has the full link.
    if ss.get(ARRIVAL, LINKED) is None:
        ss[ARRIVAL] = query
    if query != _query() and query != ss.get(ARRIVAL):
        st.query_params.from_dict(query)
        ss[ARRIVAL], ss[WRITTEN] = LINKED, query
    return query


def link_to(url_path: str, query: dict[str, str]) -> str | None:
    """The full address of a view with these parameters, as the person's browser reaches the app."""
    base = st.context.url
    if not base:
        return None
    return base.rstrip("/") + "/" + url_path + (("?" + urlencode(query)) if query else "")
