"""Carry the shipped references (assets/reference-metrics.json) over a change of the code they hash
that leaves their results unchanged (a refactor, a generalisation).

Each reference is keyed on a hash of the code that computes it (training/evaluation/trials.py), so
any edit of that code makes every shipped entry unreadable and the next full evaluation recomputes
them for minutes on each machine. This script runs the references' computations (the CAS on real
images, and one seed of the few-label benchmark, both arms) with the code of revision ``--before`` and
with the current code, on this machine, and only if every value comes out identical writes the
current code hashes into the shipped entries. A difference is printed and nothing is written: the
change did change the results, and the references must be recomputed instead.

    python scripts/rekey_references.py --before REV   # several minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in each checkout: the values its code computes, fp32 on 2 threads, nothing read from a cache.
PROBE = """
import json, sys, torch
sys.path.insert(0, sys.argv[1]); torch.set_num_threads(2)
from training import data as fmnist
from training.evaluation import trials
from training.evaluation.references import ReferenceStore
from training.evaluation.settings import FULL
from training.model import load_model
d = fmnist.load()
s = FULL.__class__(**{**FULL.__dict__, "classifier_precision": "fp32"})
xt, yt = fmnist.to_tensor(d.test_images), torch.from_numpy(d.test_labels.astype("int64"))
fresh = ReferenceStore(sys.argv[2], shipped=None, recompute=True)
cas = trials.cas_real_reference(d.train_images, d.train_labels, xt, yt, s, 0, fresh, d.checksum)
model = load_model(sys.argv[1] + "/assets")
arms = trials.augmentation_trial(model, 0, d.train_images, d.train_labels, xt, yt, s, fresh, d.checksum)
print(json.dumps({"cas_real": cas, "augmentation (real only, with synthetic)": list(arms)}))
"""


def values(checkout: Path, scratch: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, str(checkout), str(scratch / f"{checkout.name}.json")],
                       capture_output=True, text=True, cwd=checkout)
    if r.returncode != 0:
        raise SystemExit(f"{checkout}: the probe failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="the revision whose code computed the shipped entries")
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from training.checkpoint import atomic_write_text
    from training.evaluation.references import SHIPPED
    from training.evaluation.trials import reference_codes
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), a.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            old, new = values(before, Path(tmp)), values(ROOT, Path(tmp))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           capture_output=True)
    for name in old:
        same = "(same)" if old[name] == new[name] else "(DIFFERENT)"
        print(f"{name}: {a.before} {old[name]}, now {new[name]} {same}")
    if old != new:
        print("the results changed: nothing rewritten; recompute the references instead", file=sys.stderr)
        return 1
    doc, codes = json.loads(SHIPPED.read_text()), reference_codes()
    for e in doc["entries"]:
        e["key"]["code"] = codes[e["name"]]
    atomic_write_text(SHIPPED, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"identical: {SHIPPED.relative_to(ROOT)} re-keyed to {codes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
