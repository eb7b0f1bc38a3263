"""The app's side of sharing (the rules are plain functions in ``explorer/sharing.py``): whether this
server is shared, which models its pickers offer, and each visitor session's limits and turns.

Private mode (the default) has no limits and lets the owner type any model directory. Shared mode
offers the models the owner allowed, by name, and counts every interaction of a session: past its
per-minute limit a request gets a one-line notice instead of work, and a session that keeps asking
faster than the limit takes turns with the other such sessions.
"""
from __future__ import annotations

import contextlib
import functools
import os
import time
from pathlib import Path

import streamlit as st

from explorer import sharing
from explorer.assets import SHIPPED_MODELS
from views import keys

ROOT = Path(__file__).resolve().parents[1]
OTHER = "another directory…"   # the model pickers' choice that opens a directory box (private mode only)
NOUNS = {"upload": "uploads", "draw": "new sample grids", "concept": "new concepts", "action": "interactions"}
TARPIT_SECONDS = 1.0


def shared_mode() -> bool:
    """True when visitors, not the owner, use this server (see explorer/sharing.py). A bad
    EXPLORER_SHARED value raises a SettingError."""
    return sharing.is_shared(st.get_option("server.address"), os.environ.get(sharing.SHARED_VARIABLE))


def limits() -> dict[str, int]:
    """Each kind of request's count per minute; a bad EXPLORER_LIMITS raises a SettingError."""
    return sharing.limits(os.environ.get(sharing.LIMITS_VARIABLE))


def check_settings() -> None:
    """Raise a SettingError (one line) for a bad sharing setting: the app refuses to start rather than
    guess."""
    shared_mode()
    limits()


def shown_path(path) -> str:
    """A server path as a page may show it: whole to the owner, only its last name to a visitor
    (where a folder model's images or a run lie is the owner's business)."""
    return Path(path).name if shared_mode() else str(path)


def shown_paths(value, *paths):
    """``value`` (text, or JSON-like lists and dicts of it) with each of ``paths`` written as
    ``shown_path`` writes it: the model card's commands and JSON name the owner's directories."""
    if not shared_mode():
        return value
    if isinstance(value, str):
        for p in sorted((str(p) for p in paths if p), key=len, reverse=True):
            value = value.replace(p, Path(p).name)
        return value
    if isinstance(value, dict):
        return {k: shown_paths(v, *paths) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_paths(v, *paths) for v in value]
    return value


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
    limit = st.session_state.setdefault(keys.LIMITS, {}).setdefault(kind, sharing.RateLimit(limits()[kind]))
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
    limit = st.session_state.get(keys.LIMITS, {}).get("action")
    return sharing.taking_turns(limit is not None and shared_mode() and limit.busy())


@contextlib.contextmanager
def whole_app():
    """A context for a run of the whole app, which counted itself as one interaction: the fragments
    it draws do not count again."""
    st.session_state[keys.FULL_RUN] = True
    try:
        yield
    finally:
        st.session_state[keys.FULL_RUN] = False


def fragment(body):
    """``st.fragment`` that counts a rerun of the fragment alone as one interaction in shared mode: a
    visitor past the limit gets the notice in its place, and the server does no work for them; a busy
    visitor's fragment takes its turn (``taking_turns``)."""
    @functools.wraps(body)
    def run(*args, **kwargs):
        if st.session_state.get(keys.FULL_RUN):
            return body(*args, **kwargs)
        if not allow("action"):
            return None
        with taking_turns():
            return body(*args, **kwargs)
    return st.fragment(run)
