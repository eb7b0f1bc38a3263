"""Live decoding: the model's decoder runs in the visitor's browser, so the pictures follow a control
while it is dragged and the server hears of the drag once, when it ends. The latent sliders are one
kind of live view (``views/sliders.py``); the others are one control above rows of frames
(``frames``: Interpolation's scrubber, the hybrids' mix, a concept's strength, Sampling's
noise scale, Variations' strength), each frame a latent the browser computes from vectors the server
sends once (``explorer/live_frames.py``).

The decoder is the model's own, exported as ONNX (``training/synthesis/decoder_onnx.py``); the runtime
is onnxruntime-web's WebAssembly backend, pinned in ``package-lock.json`` and installed by
``scripts/setup.sh``; ``views/live.js`` is the Streamlit component (components v2, no build step)
that runs them. The app serves all three itself, from ``static/live/`` (``server.enableStaticServing``),
under names that hold a hash of their content, never a path: a browser keeps them (Cache Storage), so a
second visit downloads neither. When they cannot be served, or do not load in the browser within
``TIMEOUT_MS``, the view decodes on the server as before and says so in one line.
"""
from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path

import streamlit as st

from explorer.live_frames import Frames
from training.checkpoint import atomic_write_bytes
from training.errors import ProjectError
from training.synthesis import decoder_onnx
from views import keys

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "static" / "live"     # served at /app/static/live/ (Streamlit's static serving)
URL = "/app/static/live/"
RUNTIME = ROOT / "node_modules" / "onnxruntime-web" / "dist"
RUNTIME_FILES = {"module": "ort.wasm.bundle.min.mjs", "wasm": "ort-wasm-simd-threaded.wasm"}
TIMEOUT_MS = 8000   # the runtime (15 MB, 3.8 MB gzipped) and a decoder (4 MB) on a first visit
SETUP = "bash scripts/setup.sh"

HERE = Path(__file__).parent
# One component for every live view: the latent arithmetic (plain functions), then the controllers.
COMPONENT = st.components.v2.component(
    "fashion_vae_live", css=(HERE / "live.css").read_text(),
    js=(HERE / "live_latent.js").read_text() + "\n" + (HERE / "live.js").read_text())


def _hashed_name(source: Path) -> str:
    """``name.<first 16 hex digits of its SHA-256>.suffix``: a new file, a new name."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    stem, _, suffix = source.name.rpartition(".")
    return f"{stem}.{digest}.{suffix}"


def _publish(source: Path, name: str) -> str:
    """``source`` in the static directory as ``name`` (written atomically, once); its URL."""
    target = STATIC / name
    if not target.is_file():
        STATIC.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, source.read_bytes())
    return URL + name


@functools.cache
def runtime() -> dict[str, str] | None:
    """The runtime's URLs (an ES module and its WebAssembly), None when it is not installed."""
    files = {role: RUNTIME / name for role, name in RUNTIME_FILES.items()}
    if not all(f.is_file() for f in files.values()):
        return None
    return {role: _publish(f, _hashed_name(f)) for role, f in files.items()}


def decoder_name(weights_sha256: str) -> str:
    return f"decoder.{weights_sha256[:16]}.onnx"


@functools.lru_cache(maxsize=16)
def _decoder(directory: str, weights_sha256: str, model) -> str:
    """The URL of the decoder of these weights: the model directory's ``decoder.onnx`` where it was
    made from them, else exported now (a few seconds, once per server)."""
    name = decoder_name(weights_sha256)
    if (STATIC / name).is_file():
        return URL + name
    beside = Path(directory) / decoder_onnx.DECODER_FILE
    if beside.is_file() and decoder_onnx.weights_of(beside) == weights_sha256:
        return _publish(beside, name)
    decoder_onnx.export_decoder(model, STATIC / name)
    return URL + name


def decoder(b) -> tuple[str | None, str | None]:
    """The URL of the loaded model's decoder, or None and why it cannot be served. A spinner only
    while it is made: every rerun asks, and the answer is almost always at hand."""
    weights = b.meta.get("weights_sha256", "")
    if (STATIC / decoder_name(weights)).is_file():
        return URL + decoder_name(weights), None
    try:
        with st.spinner("Preparing the decoder for your browser…"):
            return _decoder(str(b.directory.resolve()), weights, b.model), None
    except (ProjectError, OSError) as e:
        return None, f"this model's decoder cannot be run in the browser ({e})"


def keep_only(weights: set[str]) -> None:
    """In shared mode, serve only the allowed models' decoders: remove any other left in the static
    directory (by an owner's private session, say)."""
    wanted = {decoder_name(w) for w in weights}
    for path in STATIC.glob("decoder.*.onnx"):
        if path.name not in wanted:
            path.unlink(missing_ok=True)
    _decoder.cache_clear()


@functools.cache
def _serving_only(directories: frozenset[str]) -> None:
    from training import read_config
    weights = set()
    for directory in directories:
        try:
            weights.add(read_config(directory).get("weights_sha256", ""))
        except ProjectError:   # a model that does not load is not served at all
            continue
    keep_only(weights)


def serve_only(models: dict[str, str]) -> None:
    """Shared mode, once per server process (every script run asks): the decoders of ``models``
    (name → directory) and no other."""
    _serving_only(frozenset(models.values()))


def off_reason() -> str | None:
    """Why live decoding is off in this session (the browser could not run it), or None."""
    return st.session_state.get(keys.LIVE_OFF)


def turn_off(reason: str) -> None:
    st.session_state[keys.LIVE_OFF] = reason


def fall_back_if_failed(result) -> None:
    """The browser said it cannot load the runtime or the decoder: live decoding off for the session,
    and the view runs again, decoding on the server."""
    if result.failed:
        turn_off(result.failed)
        st.rerun()


def ready(b) -> tuple[dict | None, str | None]:
    """What the component needs (the runtime's and the decoder's URLs), or None and a one-line notice
    saying why this view decodes on the server instead."""
    reason = off_reason()
    if reason:
        return None, (f"Live decoding is off in this browser ({reason}): the pictures follow a slider when "
                      "it is released.")
    urls = runtime()
    if urls is None:
        from views.shared_mode import shared_mode
        how = "" if shared_mode() else f" (`{SETUP}` installs it)"   # visitors get no command to run
        return None, ("Live decoding needs the browser runtime, which is not installed on this server"
                      f"{how}: the pictures follow a slider when it is released.")
    url, problem = decoder(b)
    if url is None:
        return None, f"Live decoding is off: {problem}. The pictures follow a slider when it is released."
    return {"runtime": urls, "decoder": url, "timeout_ms": TIMEOUT_MS, "side": b.image_size,
            "channels": b.channels}, None


def taken(component: str, value_key: str, default: float, lo: float, hi: float, step: float) -> float:
    """The control's value: what the browser released last (once per release, snapped to the control's
    steps and bounds, whatever a client sends), else the view's value, else ``default``. Call before
    the view uses the value, then draw with ``frames``."""
    ss = st.session_state
    released = (ss.get(component) or {}).get("released")   # {"value": v, "at": a stamp}
    if isinstance(released, dict) and released.get("at") != ss.get(keys.live_taken(component)):
        ss[keys.live_taken(component)] = released.get("at")
        try:
            value = float(released.get("value"))
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value):
            value = min(hi, max(lo, value))
            value = min(hi, lo + round((value - lo) / step) * step)
            ss[value_key] = ss[keys.live_shown(component)] = round(value, 6)
    value = ss.get(value_key, default)
    return float(value)


def frames(component: str, live_data: dict, value_key: str, value: float, control: dict, rows: Frames,
           notes: list[list[str]] | None = None) -> None:
    """The control and the rows of frames, decoded in the browser; ``notes`` (a caption per frame,
    by row) hold for ``value``. A browser that cannot decode turns live decoding off for the session
    and the view runs again, decoding on the server."""
    ss = st.session_state
    if ss.get(keys.live_shown(component)) != value:   # set by a link, a reset, another view: not a drag
        ss[keys.live_shown(component)] = value
        ss[keys.live_version(component)] = ss.get(keys.live_version(component), 0) + 1
    data = {**live_data, "kind": "frames", "version": ss.get(keys.live_version(component), 0),
            "control": {**control, "value": value}, **rows.data(),
            "notes": None if notes is None else {"value": value, "rows": notes}}
    fall_back_if_failed(COMPONENT(key=component, data=data, default={"released": None, "failed": None},
                                  on_released_change=lambda: None, on_failed_change=lambda: None))


def still(component: str, live_data: dict, rows: Frames, name: str) -> None:
    """Rows of frames with no control, decoded in the browser: the server sends latents, not pictures
    (Compare's reconstructions, samples and paths). ``name`` marks the view's element for tests."""
    data = {**live_data, "kind": "frames", "version": 0, "control": None, "name": name, **rows.data(),
            "notes": None}
    fall_back_if_failed(COMPONENT(key=component, data=data, default={"failed": None},
                                  on_failed_change=lambda: None))


def control(label: str, lo: float, hi: float, step: float, help: str = "") -> dict:
    """A live control's range input: its label, bounds, step, the digits its value is shown with and
    its tooltip."""
    decimals = f"{step:g}".partition(".")[2]
    digits = len(decimals)
    return {"label": label, "min": lo, "max": hi, "step": step, "digits": digits, "help": help}
