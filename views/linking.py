"""Each view's link: what it shows, in the address bar, and back.

A view declares its link once, as ``PARAMS``: a list of ``explorer.links`` parameters, each bound
to a session key of ``views/keys.py``. At the top of the view, ``follow_link`` applies a link opened
from outside this session (a pasted URL, the browser's back and forward buttons); at the end,
``publish`` writes what the view shows back into the address bar, so a copied link reopens it. A
parameter marked ``once`` is not a widget's value but something the view acts on one time (a spot
on the map to select): the view takes it with ``from_link``.
"""
from __future__ import annotations

import functools
import importlib
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

from explorer import links
from views import VIEWS, keys

LINKED = "linked"   # ARRIVAL's value once the address carries the view's parameters


@functools.cache
def every_view_parameter() -> frozenset[str]:
    """The names of every view's link parameters: a link that carries another view's settings (as
    back and forward can) has them dropped quietly, and only names no view knows get a notice."""
    names = set()
    for view in VIEWS:
        module = importlib.import_module(f"views.{Path(view.script).stem}")
        names |= {p.name for p in module.PARAMS}
    return frozenset(names)


def _query() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params if k not in links.STREAMLIT_PARAMS}


def follow_link(view: str, params: list[links.Param], b) -> bool:
    """Apply the address bar's parameters when they did not come from this session (a link opened,
    back or forward), with a one-line notice for any it cannot use; else restore the view's widgets
    as they were when the person last left it (Streamlit forgets a widget that is not drawn).
    True when a link was followed."""
    ss = st.session_state
    query = _query()
    if ss.get(keys.VIEW) != view:   # arriving: from the sidebar (no parameters) or by a link
        ss[keys.VIEW], ss[keys.ARRIVAL] = view, (None if not query else LINKED)
    followed = bool(query) and query != ss.get(keys.WRITTEN)
    if followed:
        # Another view's settings are dropped quietly: on back and forward Streamlit can rerun a view
        # with the parameters of the entry it left.
        ours = {p.name for p in params}
        values, notices = links.read({k: v for k, v in query.items()
                                      if k in ours or k not in every_view_parameter()}, params, b)
        once = {p.key for p in params if p.once}
        for key, value in values.items():
            if key in once:
                ss.setdefault(keys.FROM_LINK, {})[key] = value
            else:
                ss[key] = value
        if notices:
            st.warning("This link's " + "; ".join(notices) + ". Those settings are at their defaults.",
                       icon=":material/link_off:")
        ss[keys.WRITTEN] = query
    saved = ss.setdefault(keys.SAVED, {})
    for p in params:
        if p.key not in ss and p.key in saved:
            ss[p.key] = saved[p.key]
    return followed


def from_link(key: str):
    """The value a followed link gave a ``once`` parameter, taken (None after the first time, or when
    the link had none)."""
    return st.session_state.get(keys.FROM_LINK, {}).pop(key, None)


def publish(params: list[links.Param], b, **computed) -> dict[str, str]:
    """Write the view's settings (session values by key, or ``computed`` ones) into the address
    bar, replacing its parameters; returns them (the view's full link)."""
    ss = st.session_state
    values = {p.key: computed[p.key] if p.key in computed else ss.get(p.key) for p in params}
    ss.setdefault(keys.SAVED, {}).update({p.key: values[p.key] for p in params
                                          if p.key not in computed and values[p.key] is not None})
    query = links.write(values, params, b)
    # Streamlit pushes a browser-history entry for every change of st.query_params, after the one a
    # view opened from the sidebar already has. Writing the settings on arrival would make two
    # entries for one visit (and back would seem to do nothing), so a view opened from the sidebar
    # keeps its bare address until a setting changes; its link box always has the full link.
    if ss.get(keys.ARRIVAL, LINKED) is None:
        ss[keys.ARRIVAL] = query
    if query != _query() and query != ss.get(keys.ARRIVAL):
        st.query_params.from_dict(query)
        ss[keys.ARRIVAL], ss[keys.WRITTEN] = LINKED, query
    return query


def link_to(url_path: str, query: dict[str, str]) -> str | None:
    """The full address of a view with these parameters, as the person's browser reaches the app."""
    base = st.context.url
    if not base:
        return None
    return base.rstrip("/") + "/" + url_path + (("?" + urlencode(query)) if query else "")
