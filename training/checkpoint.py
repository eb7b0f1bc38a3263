"""Atomic file writes and the resume state.

Every file is written to a temporary name in the same directory, flushed to disk and renamed
over the target, so a run killed at any moment leaves either the old or the new file, never half
of one. The resume state holds only tensors and plain values, so it loads with
``torch.load(weights_only=True)``: nothing is unpickled as code.
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from .errors import ProjectError

RESUME_FILE = "resume.pt"
_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(ProjectError):
    """A resume state that is missing or cannot be loaded safely; the message is one line."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def npz_bytes(arrays: dict, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A compressed .npz whose bytes depend only on the arrays (numpy's own writer stamps the time).
    ``zipfile.ZIP_LZMA`` is about a tenth smaller on latents and slower to write; ``np.load`` reads both."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def safetensors_bytes(tensors: dict) -> bytes:
    from safetensors.torch import save
    return save(tensors)


PENDING = ".next"  # suffix of a config whose weights may already be in place (see below)


def pending_config(config_path) -> Path:
    return Path(str(config_path) + PENDING)


def save_weights_and_config(module, weights_path, config_path, meta: dict) -> dict:
    """Write a module's weights (safetensors, float32) and a JSON config that records their
    SHA-256. Two files cannot be replaced in one step, so the config goes first to a pending name,
    then the weights replace the old ones, then the pending config replaces the old config. A kill
    at any moment leaves a loadable pair: old weights + old config, or new weights + the pending
    config that matches them (``matching_config`` finds it; the next run completes the rename).
    Returns the config written."""
    import hashlib
    import json
    state = module.state_dict()
    payload = safetensors_bytes({k: v.detach().float().cpu().contiguous() for k, v in state.items()})
    meta = {**meta, "weights_sha256": hashlib.sha256(payload).hexdigest(),
            "parameters": sum(p.numel() for p in module.parameters())}
    Path(weights_path).parent.mkdir(parents=True, exist_ok=True)
    pending = pending_config(config_path)
    atomic_write_bytes(pending, (json.dumps(meta, indent=2) + "\n").encode())
    atomic_write_bytes(weights_path, payload)
    os.replace(pending, config_path)
    _fsync_dir(Path(config_path).parent)
    return meta


def matching_config(config_path, payload: bytes, meta: dict) -> dict | None:
    """The config that describes these weights: ``meta`` if its SHA-256 matches, else a pending
    config left by a write interrupted between the weights and the config (None: neither)."""
    import hashlib
    import json
    digest = hashlib.sha256(payload).hexdigest()
    if meta.get("weights_sha256") in (None, digest):
        return meta
    try:
        pending = json.loads(pending_config(config_path).read_text())
    except (OSError, ValueError):
        return None
    return pending if isinstance(pending, dict) and pending.get("weights_sha256") == digest else None


def complete_interrupted_write(weights_path, config_path) -> None:
    """Finish (or drop) a config write that a kill interrupted: called when a run resumes."""
    pending = pending_config(config_path)
    if not pending.is_file():
        return
    import json
    try:
        current = json.loads(Path(config_path).read_text())
    except (OSError, ValueError):
        current = {}
    weights = Path(weights_path)
    if weights.is_file() and matching_config(config_path, weights.read_bytes(), current) is not current:
        os.replace(pending, config_path)
    else:
        pending.unlink(missing_ok=True)


def remove_stale_temporaries(directory: str | os.PathLike) -> None:
    """Temporary files left by a run killed mid-write are garbage; the real files are intact."""
    for p in Path(directory).glob(".*.tmp"):
        p.unlink(missing_ok=True)


def save_resume_state(directory, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(directory) / RESUME_FILE, buf.getvalue())


def load_resume_state(directory) -> dict:
    path = Path(directory) / RESUME_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: no resume state — was this run started with this tool?")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file or a pickle that wants to run code
        raise CheckpointError(f"{path}: cannot be loaded safely ({str(e).splitlines()[0][:200]})") from None
