"""Who may do what: the explorer's two modes and the limits on what one visitor can ask for.

**Private** (the default, listening on 127.0.0.1): the owner types any model directory. **Shared**
(listening on any other address, or ``EXPLORER_SHARED=1``): visitors pick among the models the
owner allowed, by name; nothing a visitor types or puts in a link becomes a file-system path, and
what they are told names models, never paths. Pure: no Streamlit.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.errors import ProjectError

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1", "")
MODELS_VARIABLE = "EXPLORER_MODELS"   # directories (or roots of directories) visitors may load
SHARED_VARIABLE = "EXPLORER_SHARED"   # 1/true/yes or 0/false/no: overrides the address's verdict


class SettingError(ProjectError):
    """A sharing setting in the environment that cannot be read; the app refuses to start on it."""


def is_shared(address: str | None, setting: str | None = None) -> bool:
    """Shared when the owner says so, else when the server listens beyond this machine."""
    if setting is not None and setting.strip():
        value = setting.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise SettingError(f"{SHARED_VARIABLE}={setting!r}: expected 1 or 0")
    return (address or "").strip().lower() not in LOCAL_ADDRESSES


def is_model_directory(path: Path) -> bool:
    return (path / "model.json").is_file() and (path / "model.safetensors").is_file()


def allowed_models(setting: str | None, shipped: dict[str, str], root: Path) -> dict[str, str]:
    """Model name → directory that a visitor may load. ``setting`` lists directories separated by
    ``os.pathsep``: a model directory is allowed itself, any other directory allows the model
    directories directly inside it (a root of runs). Unset: the shipped models. Symlinks are
    resolved, and only what resolves inside an entry is allowed."""
    if not setting or not setting.strip():
        return {name: d for name, d in shipped.items() if is_model_directory(root / d)}
    found: dict[str, str] = {}
    for entry in (e.strip() for e in setting.split(os.pathsep)):
        if not entry:
            continue
        base = Path(entry).expanduser()
        base = (base if base.is_absolute() else root / base).resolve()
        if is_model_directory(base):
            found.setdefault(base.name, str(base))
        elif base.is_dir():
            for child in sorted(p for p in base.iterdir() if p.is_dir()):
                real = child.resolve()
                if real.parent == base and is_model_directory(real):   # a symlink out of the root: no
                    found.setdefault(child.name, str(real))
    return found


@dataclass
class RateLimit:
    """``count`` events per ``seconds``, as a token bucket: up to ``burst`` at once (a quarter of the
    count by default), then one every seconds / count. A sliding window would let a client spend a
    whole minute's allowance in one burst, and five such bursts at once are what other visitors feel."""
    count: int
    seconds: float = 60.0
    burst: int = 0
    tokens: float = field(default=-1.0)
    last: float | None = None

    def __post_init__(self):
        self.burst = self.burst or max(1, self.count // 4)
        self.tokens = float(self.burst) if self.tokens < 0 else self.tokens

    def wait(self, now: float | None = None) -> float:
        """0 if one more event is allowed now (and records it), else the seconds until one is."""
        now = time.monotonic() if now is None else now
        rate = self.count / self.seconds
        if self.last is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate

    def busy(self) -> bool:
        """Whether less than half the burst is left: the client has lately asked faster than the rate
        (someone clicking every few seconds keeps the bucket nearly full)."""
        return self.tokens < self.burst / 2


# Busy sessions (see RateLimit.busy) take turns: one script run at a time per server process, the
# others waiting without using CPU. Without it, five clients firing requests without pause ran five
# heavy scripts at once, and an ordinary visitor's click shared the interpreter with all of them.
BUSY_LANE = threading.BoundedSemaphore(1)
LANE_WAIT = 10.0   # seconds a busy run waits for its turn before it runs anyway (never starved)


@contextlib.contextmanager
def taking_turns(busy: bool, lane: threading.Semaphore = BUSY_LANE, wait: float = LANE_WAIT):
    """Run the body at once, or, for a busy session, when no other busy session is running."""
    held = busy and lane.acquire(timeout=wait)
    try:
        yield
    finally:
        if held:
            lane.release()


# What one visitor session may do per minute in shared mode (private mode has no limits): every
# interaction (a click, a slider, a view), and among them the costly ones. bench/app_hostile.py
# measured what 40 interactions a minute leave for the other visitors (docs/deploy.md).
LIMITS = {"upload": 10, "draw": 60, "concept": 20, "action": 40}
LIMITS_VARIABLE = "EXPLORER_LIMITS"   # e.g. "action=60,upload=5": the owner's own limits
# The upload size a shared server takes (scripts/serve.sh passes it as --server.maxUploadSize; private
# servers keep .streamlit/config.toml's 20 MB). Streamlit receives and stores a file before the app's
# per-visitor limit can refuse it: five visitors uploading 18.5 MB photos took a server to 2.0 GB and
# other visitors' clicks to 4.2× at p95; with 5 MB, 1.1 GB and 2.3× (bench/app_hostile.py).
SHARED_UPLOAD_MB = 5


def limits(setting: str | None) -> dict[str, int]:
    """LIMITS with the owner's overrides from ``kind=count,…``; a bad entry raises a one-line SettingError."""
    out = dict(LIMITS)
    for entry in (e.strip() for e in (setting or "").split(",")):
        if not entry:
            continue
        kind, _, count = entry.partition("=")
        if kind.strip() not in LIMITS or not count.strip().isdigit() or int(count) < 1:
            raise SettingError(f"{LIMITS_VARIABLE}: {entry!r}: expected kind=count with kind one of "
                             f"{', '.join(LIMITS)} and a count ≥ 1")
        out[kind.strip()] = int(count)
    return out
