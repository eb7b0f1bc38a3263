"""Model-independent parts of the evaluation, computed once and cached.

The raw-pixel probes, the real-only arm of the augmentation test and the CAS protocol run on real
images depend on the data, the settings and the code that computes them, never on the VAE, yet
they are about 500 s of a full evaluation on two cores without AMX. As FID tools keep the
statistics of the real images, each value is stored under a key that holds everything it depends
on: the dataset checksum, the settings it used, a hash of the code of the functions that compute
it (as parsed: formatting, comments and docstrings do not count), the torch and scikit-learn
versions, the CPU's vector instruction set and the arithmetic. Change any of them and the value
is computed afresh; nothing stale is ever read.

Entries are looked up in the shipped ``assets/reference-metrics.json`` (read only), then in the
cache file (default ``$XDG_CACHE_HOME/fashion-vae/reference-metrics.json``), where new ones go.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import platform
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

from ..checkpoint import atomic_write_text
from ..errors import ProjectError
from ..precision import cpu_has_amx

FORMAT = "fashion-vae-reference-metrics"
SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "reference-metrics.json"


def default_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fashion-vae" / "reference-metrics.json"


def source_hash(*objects) -> str:
    """sha256 of the code of functions and classes as Python parses it: change what the code does
    and the key changes; reformatting it or editing its comments and docstrings does not."""
    return hashlib.sha256("\n".join(parsed_code(o) for o in objects).encode()).hexdigest()[:16]


def parsed_code(obj) -> str:
    """The syntax tree of an object's source without docstrings, as text."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        documented = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if documented and ast.get_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def environment_key() -> dict:
    """What float results can depend on beyond the inputs: library versions and the CPU's kernels."""
    import sklearn
    import torch
    return {"torch": torch.__version__, "sklearn": sklearn.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


FORCED_ISA = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def machine() -> str:
    """Where an entry was computed, for people reading the file (not part of any key): the CPU model,
    whether it has AMX (which the key's instruction set does not tell), and any environment variable
    that forced torch's or oneDNN's kernels to another instruction set."""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        cpu = ""
    amx = ["AMX"] if cpu_has_amx() else []
    forced = [f"{v}={os.environ[v]}" for v in FORCED_ISA if os.environ.get(v)]
    return ", ".join([cpu or platform.processor() or platform.machine() or "unknown CPU", *amx, *forced])


def _read(path: Path) -> list[dict]:
    """Entries of a reference file; one clear error if the file is not one (never overwritten)."""
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProjectError(f"{path}: not a reference-metrics file ({e}); move it away or choose another "
                         "--reference-cache") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), list):
        raise ProjectError(f"{path}: not a reference-metrics file (expected \"format\": \"{FORMAT}\"); "
                         f"move it away or choose another --reference-cache")
    return doc["entries"]


class ReferenceStore:
    """Looks values up by (name, key); computes and stores the missing ones. ``recompute`` ignores
    what is stored (and replaces it). ``log`` lists what was reused and what was computed;
    ``compute_seconds`` is the time spent computing (a one-off cost, reported apart)."""

    def __init__(self, cache_file: str | os.PathLike | None = None, shipped: Path | None = SHIPPED,
                 recompute: bool = False):
        self.cache_file = Path(cache_file) if cache_file else default_cache_file()
        self.recompute = recompute
        self._read_only = _read(shipped) if shipped and shipped.resolve() != self.cache_file.resolve() else []
        self._cached = _read(self.cache_file)   # fail now, not after fifteen minutes of evaluation
        self.log: dict[str, list[str]] = {"reused": [], "computed": []}
        self.compute_seconds = 0.0

    @staticmethod
    def _canonical(name: str, key: dict) -> str:
        return json.dumps({"name": name, "key": key}, sort_keys=True)

    def lookup(self, name: str, key: dict):
        wanted = self._canonical(name, key)
        for entry in self._read_only + self._cached:
            if self._canonical(entry.get("name"), entry.get("key")) == wanted:
                return entry.get("value")
        return None

    def get(self, name: str, key: dict, compute: Callable[[], object]):
        key = {**key, **environment_key()}
        value = None if self.recompute else self.lookup(name, key)
        if value is not None:
            self.log["reused"].append(name)
            return value
        t0 = time.perf_counter()
        value = compute()
        seconds = time.perf_counter() - t0
        self.compute_seconds += seconds
        self._store({"name": name, "key": key, "value": value, "seconds": round(seconds, 1),
                     "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()})
        self.log["computed"].append(name)
        return value

    def _store(self, entry: dict) -> None:
        # re-read first: another evaluation may have added entries since this one started
        wanted = self._canonical(entry["name"], entry["key"])
        entries = [e for e in _read(self.cache_file)
                   if self._canonical(e.get("name"), e.get("key")) != wanted]
        self._cached = entries + [entry]
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"format": FORMAT, "entries": self._cached}, indent=1, ensure_ascii=False)
            atomic_write_text(self.cache_file, text + "\n")
        except OSError as e:  # a cache that cannot be written must not cost the evaluation its result
            print(f"warning: {self.cache_file}: cannot write the reference cache ({e.strerror or e}); "
                  f"continuing without it", file=sys.stderr, flush=True)
