#!/usr/bin/env bash
# One prepared GPU call (docs/models.md, docs/performance.md section 4): training throughput on
# synthetic tensors, then three runs side by side on the one GPU, each evaluated on train and val
# (TTA 8). The test split is evaluated afterwards on the CPU (its images do not travel: the
# device's working tree is limited to 64 MiB of disk blocks). Needs the folder
# bench/prepare_device_carry.sh writes (.carry: ham.tgz with the train+val images, index and
# split; wheels; Lite0 weights). On the device:
#   bash bench/device_train_batch.sh
# Local dry run on the CPU:  SKIP_PIP=1 DEVICE=cpu SMOKE=1 OUT=/tmp/out bash bench/device_train_batch.sh
# $OUT receives: log.txt, runs.tgz (every run directory without checkpoints, plus the throughput
# JSON), lite0-best.pt (the Lite0 run with the better validation AUC: chosen on val only) and
# resnet18-best.pt.part-* (split in 15 MiB parts; `cat` them back together).
set -uo pipefail
OUT=${OUT:-/tmp/dermcad-out}
WORK=${WORK:-/tmp/dermcad-work}
C=${CARRY:-$PWD/.carry}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/log.txt") 2>&1
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*"; }
if [ -z "${SKIP_PIP:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$C"/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
fi
export PYTHONUNBUFFERED=1
H=$WORK/ham
if [ ! -d "$H" ]; then mkdir -p "$WORK" && tar xzf "$C/ham.tgz" -C "$WORK" || exit 1; fi
D="python3 $PWD/bench/dermcad_stages.py"
nvidia-smi -L 2>/dev/null || true
python3 -c "import torch, timm, albumentations; print('torch', torch.__version__, 'timm', timm.__version__, 'albumentations', albumentations.__version__, 'cuda', torch.cuda.is_available())" || exit 1

if [ -n "${SMOKE:-}" ]; then
  tp=(--batch 4 --batches 1 --rounds 1 --size 64)
  short=(--epochs 1 --set max_batches_per_epoch=2 --set data.workers=0 --set data.img_size=64)
  TRAIN_SECONDS=${TRAIN_SECONDS:-120} EVAL=(--split val) EVAL_BATCH=32
else
  tp=(--batch 256 --batches 10 --rounds 2)
  short=(--set data.workers=5)
  TRAIN_SECONDS=${TRAIN_SECONDS:-380} EVAL=(--split train --split val) EVAL_BATCH=256
fi
if [ -z "${SEEDS:-}" ]; then
  stamp "training throughput, synthetic tensors ($DEVICE)"
  python3 bench/train_throughput.py --device "$DEVICE" "${tp[@]}" --json "$WORK/train_gpu_resnet18.json"
  python3 bench/train_throughput.py --device "$DEVICE" --net tf_efficientnet_lite0 "${tp[@]}" \
    --json "$WORK/train_gpu_lite0.json"
fi

data=(--index "$H/ham10000.csv" --split "$H/ham10000-split.json" --no-progress --device "$DEVICE")
lite0=(configs/ham10000/tf_efficientnet_lite0-224.yaml --set "model.pretrained=$C/lite0-fp16.pth" --epochs 10)
declare -A runs=(
  [lite0-ema]="${lite0[*]} --set ema_decay=0.998"
  [lite0]="${lite0[*]}"
  [resnet18]="configs/ham10000/resnet18-256-scratch.yaml"
)
if [ -n "${SEEDS:-}" ]; then
  # Second call: the shipped recipe's 30-epoch schedule (stopped by TRAIN_SECONDS) with a weight
  # average, one run per seed; no ResNet18.
  runs=()
  for seed in $SEEDS; do
    runs[lite0-s$seed]="configs/ham10000/tf_efficientnet_lite0-224.yaml --set model.pretrained=$C/lite0-fp16.pth --set ema_decay=0.998 --set seed=$seed"
  done
fi
stamp "train ${!runs[*]} side by side (stopped after $TRAIN_SECONDS s; best.pt is kept)"
pids=()
for name in "${!runs[@]}"; do
  # shellcheck disable=SC2086
  (timeout --signal=INT "$TRAIN_SECONDS" $D train ${runs[$name]} "${data[@]}" "${short[@]}" \
     --out "$WORK/$name" > "$WORK/$name.train.log" 2>&1; echo "$name train exit $?") &
  pids+=($!)
done
wait "${pids[@]}"  # not a bare `wait`: it would also wait for the `tee` above, forever
stamp "evaluate ${EVAL[*]} (TTA 8)"
pids=()
for name in "${!runs[@]}"; do
  tail -n 14 "$WORK/$name.train.log"
  ($D evaluate "$WORK/$name" "${EVAL[@]}" --tta 8 --device "$DEVICE" --batch-size "$EVAL_BATCH" \
     --no-progress > "$WORK/$name.eval.log" 2>&1; echo "$name eval exit $?") &
  pids+=($!)
done
wait "${pids[@]}"
for name in "${!runs[@]}"; do tail -n 30 "$WORK/$name.eval.log"; done
best=$(python3 - "$WORK" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
scores = {p.parent.name: json.loads(p.read_text()).get("best_val_melanoma_auc") or 0.0
          for p in work.glob("lite0*/run.json")}
print(max(scores, key=scores.get))
PY
)
stamp "Lite0 chosen on validation: $best"
cp "$WORK/$best/best.pt" "$OUT/lite0-best.pt"
[ -f "$WORK/resnet18/best.pt" ] && split -b 15M -d "$WORK/resnet18/best.pt" "$OUT/resnet18-best.pt.part-"
tar czf "$OUT/runs.tgz" -C "$WORK" --exclude='*.pt' --exclude=ham .
ls -la "$OUT"
stamp done
