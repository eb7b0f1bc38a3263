"""Digests of what the quick commands write, to show that a change of code is not a change of program.

    python scripts/output_digests.py --out /tmp/after > after.txt
    python scripts/output_digests.py --checkout /tmp/before --out /tmp/before-run > before.txt
    diff before.txt after.txt        # no output: the same files, byte for byte

Runs ``python -m training`` from ``--checkout`` (default: this one): a short ``train``,
``finetune-decoder``, ``embed``, ``generate`` (four samplers and formats, a concept), ``augment`` (npz
and IDX, filtered), ``evaluate --quick``, ``encode``, ``figure``, ``export``, ``classifier`` and
``report``, all on small real subsets, then prints one line per file written: its path and SHA-256.
JSON files are digested without what changes from run to run (times, dates, where the files and
the checkout are); ``resume.pt`` by its tensors and plain values, without the seconds it records;
what each command printed, without its timings. Everything else is digested byte for byte. Takes
2 to 3 minutes on 2 cores; ``--digests-only`` prints the digests of a directory a run filled.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# keys whose values are times, dates or where a run happened to be
VOLATILE = {"created", "seconds", "train_seconds", "timings", "images_per_s", "compute_seconds", "command",
            "resumed_with", "commands", "cache", "checkpoint", "directory", "directories", "classifier",
            "fitted_from", "statistics", "file", "files", "machine", "ran_on", "threads"}
TIMES = re.compile(r"\d+(\.\d+)? ?(s|min|MB)\b|\d+(\.\d+)?it/s|\d\d:\d\d")


def commands(out: Path, checkout: Path) -> list[list[str]]:
    r, quick = str(out), ["--quiet"]
    sneaker = str(checkout / "docs" / "example-sneaker.png")
    return [
        ["train", "--config", "default", "--epochs", "2", "--limit", "512", "--eval-limit", "256",
         "--threads", "2", "--out", f"{r}/train", *quick],
        ["finetune-decoder", "--checkpoint", f"{r}/train", "--out", f"{r}/sharp", "--epochs", "1", "--limit",
         "256", "--eval-limit", "128", "--threads", "2", *quick],
        ["embed", "--checkpoint", f"{r}/sharp", "--out", f"{r}/sharp", "--limit", "400", "--threads", "2",
         "--mixture-components", "2"],
        ["generate", "--checkpoint", f"{r}/sharp", "--all", "--n", "12", "--out", f"{r}/mixture.npz"],
        ["generate", "--checkpoint", f"{r}/sharp", "--category", "Sneaker", "--n", "20", "--sampler",
         "covariance", "--format", "idx", "--out", f"{r}/idx/"],
        ["generate", "--checkpoint", f"{r}/sharp", "--category", "Bag", "--n", "10", "--sampler", "mixture",
         "--cluster", "2", "--min-confidence", "0.2", "--classifier", str(checkout / "assets"),
         "--out", f"{r}/cluster.npz"],
        ["generate", "--checkpoint", f"{r}/sharp", "--category", "Trouser", "--n", "3", "--sampler", "prior",
         "--classifier", str(checkout / "assets"), "--out", f"{r}/prior.npz"],
        ["generate", "--checkpoint", str(checkout / "assets"), "--category", "T-shirt", "--n", "8",
         "--concept", str(checkout / "assets" / "concepts" / "long-sleeves.json"), "--strength", "1.5",
         "--out", f"{r}/tees.npz"],
        ["augment", "--input", f"{r}/mixture.npz", "--per-image", "3", "--checkpoint", f"{r}/sharp",
         "--out", f"{r}/variants.npz"],
        ["augment", "--input", f"{r}/idx", "--per-image", "2", "--checkpoint", f"{r}/sharp",
         "--format", "idx", "--min-confidence", "0.3", "--classifier", str(checkout / "assets"),
         "--out", f"{r}/variants/"],
        ["evaluate", "--checkpoint", f"{r}/sharp", "--quick", "--threads", "2", "--classifier",
         str(checkout / "assets"), "--reference-cache", f"{r}/references.json", "--quiet"],
        ["encode", sneaker, "--checkpoint", f"{r}/sharp", "--classifier", str(checkout / "assets"),
         "--out", f"{r}/encoded"],
        ["figure", "--checkpoint", f"{r}/sharp", "--out", f"{r}/sheet.png"],
        ["export", "--checkpoint", f"{r}/sharp", "--out", f"{r}/half"],
        ["classifier", "--out", f"{r}/judge", "--epochs", "1", "--limit", "1000", "--eval-limit", "500",
         "--threads", "2", *quick],
        ["report", "--model", f"quick={r}/sharp", "--out", f"{r}/report/benchmark.md"],
    ]


def steady(value):
    """A JSON value without the volatile keys, anywhere in it."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def digest(path: Path, root: Path) -> str:
    """SHA-256 of a file the commands wrote, with ``root`` (where they wrote) read as RUN."""
    data = path.read_bytes()
    if path.suffix in (".json", ".jsonl", ".md"):
        data = data.replace(str(root).encode(), b"RUN")
    if path.suffix == ".json":
        data = json.dumps(steady(json.loads(data)), sort_keys=True).encode()
    elif path.suffix == ".jsonl":
        data = "\n".join(json.dumps(steady(json.loads(line)), sort_keys=True)
                         for line in data.decode().splitlines() if line.strip()).encode()
    elif path.suffix == ".next" or path.name.endswith(".json.next"):
        data = b""
    elif path.name == "resume.pt":
        import torch
        state = torch.load(io.BytesIO(data), weights_only=True)
        state.pop("seconds", None)
        for key in [k for k in state if k.endswith("_json")]:
            state[key] = steady(json.loads(state[key].replace(str(root), "RUN")))
        buf = io.BytesIO()
        torch.save(state, buf)
        data = buf.getvalue()
    elif path.suffix == ".md":
        data = re.sub(rb"\| full, [^|]*\||training time \(min\) \|[^\n]*|`[^`]*python -m training[^`]*`", b"",
                      data)
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkout", default=str(ROOT), help="the checkout whose code runs (default: this one)")
    p.add_argument("--out", required=True, help="an empty directory for the files the commands write")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--digests-only", action="store_true",
                   help="run nothing: print the digests of an --out that a run has filled")
    a = p.parse_args()
    checkout, out = Path(a.checkout).resolve(), Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()) and not a.digests_only:
        p.error(f"--out {out}: not empty")
    env = {**os.environ, "PYTHONPATH": str(checkout), "XDG_CACHE_HOME": str(out / ".cache")}
    for args in [] if a.digests_only else commands(out, checkout):
        done = subprocess.run([a.python, "-m", "training", *args], cwd=checkout, env=env, capture_output=True,
                              text=True)
        said = (done.stdout + done.stderr).replace(str(out), "RUN").replace(str(checkout), "CO")
        said = "\n".join(line for line in TIMES.sub("T", said).splitlines() if "%|" not in line)
        printed = hashlib.sha256(said.encode()).hexdigest()[:16]
        print(f"{args[0]:<18} exit {done.returncode}  printed {printed}")
        if done.returncode:
            print(said, file=sys.stderr)
    for path in sorted(p for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts):
        print(f"{digest(path, out)[:16]}  {path.relative_to(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
