#!/usr/bin/env bash
# The shipped recipe on a CUDA GPU: epoch time and images/s (eager, then --compile), a full retrain
# of the default model (`train --config default`, 50 epochs), and `evaluate` on the result, beside
# the CPU-trained model in assets/. Prints every figure and the commands that made them.
#
#   bash bench/gpu.sh [OUT_DIR]          (default runs/gpu; the dataset as `train` finds it)
#
# Needs a CUDA GPU and the project's Python packages; SKIP_RETRAIN=1 times the epochs only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu}
PY=${PYTHON:-python}
mkdir -p "$OUT"

"$PY" - <<'EOF'
import torch
assert torch.cuda.is_available(), "bench/gpu.sh: no CUDA GPU visible to PyTorch"
p = torch.cuda.get_device_properties(0)
print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
      f"bfloat16 {torch.cuda.is_bf16_supported()}")
EOF

run() { echo "+ $*"; local t0=$SECONDS; "$@"; echo "  ($((SECONDS - t0)) s)"; }
epochs() {  # per-epoch seconds and images/s of a run, from its metrics.jsonl
  "$PY" - "$1" <<'EOF'
import json, sys
log = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
seconds = [b["seconds"] - a["seconds"] for a, b in zip([{"seconds": 0}] + log, log)]
steady = seconds[1:] or seconds  # the first epoch includes warm-up (and compiling)
rates = [h["train"]["images_per_s"] for h in log[1:]] or [log[0]["train"]["images_per_s"]]
print(f"  epoch 1: {seconds[0]:.1f} s; later epochs: {min(steady):.2f}–{max(steady):.2f} s, "
      f"{max(rates):,.0f} images/s (training steps), test neg-ELBO {log[-1]['test']['neg_elbo']:.2f}")
EOF
}

for mode in eager compile; do
  flag=(); [ "$mode" = compile ] && flag=(--compile)
  rm -rf "$OUT/epochs-$mode"
  run "$PY" -m training train --config default --epochs 4 --device cuda "${flag[@]}" --quiet \
      --out "$OUT/epochs-$mode"
  epochs "$OUT/epochs-$mode"
done

[ "${SKIP_RETRAIN:-0}" = 1 ] && exit 0
rm -rf "$OUT/default"
run "$PY" -m training train --config default --device cuda --quiet --out "$OUT/default"
epochs "$OUT/default"
run "$PY" -m training evaluate --checkpoint "$OUT/default" --device cuda --quiet \
    --parts iwae,probes,samples,cas,augmentation --classifier assets
"$PY" - "$OUT/default" <<'EOF'
import json, sys
gpu, cpu = (json.load(open(f"{d}/metrics.json")) for d in (sys.argv[1], "assets"))
print(f"{'metric':28} {'GPU retrain':>12} {'assets (CPU)':>12}")
for key in ("neg_elbo_nats", "iwae_nats", "nll_common_nats", "recon_mse", "active_units", "linear_probe_acc",
            "fid_classifier_category", "category_agreement", "category_agreement_mixture", "cas_acc",
            "cas_acc_mixture"):
    if key in gpu and key in cpu:
        print(f"{key:28} {gpu[key]:>12.4f} {cpu[key]:>12.4f}")
print(f"train {json.load(open(f'{sys.argv[1]}/model.json'))['train_seconds']:.0f} s; "
      f"evaluate {gpu['seconds']:.0f} s on {gpu['device']}")
EOF
