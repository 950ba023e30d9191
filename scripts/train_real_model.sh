#!/usr/bin/env bash
# Train and evaluate dermcad's real model on HAM10000 (docs/models.md), in one command:
#   ingest -> split (by lesion, 80/10/10, seed 42) -> train -> evaluate (train, val, test; TTA 8)
#   -> external test on the 150 UDA-1 images of isic-real (if given).
#
#   scripts/train_real_model.sh HAM_DIR ISIC_REAL_DIR|- WORK_DIR [extra `dermcad train` options]
#
# HAM_DIR holds HAM10000_metadata.csv and images/; ISIC_REAL_DIR holds labels.csv and images/
# ("-" skips the external test). WORK_DIR receives data/ (index, split) and run/.
# Environment:
#   DERMCAD       how to call the CLI (default: dermcad, else python3 -m dermcad.cli.main on src/)
#   RECIPE        recipe file (default: configs/ham10000/tf_efficientnet_lite0-224.yaml)
#   DEVICE        cpu, cuda (default: auto)
#   TRAIN_SECONDS stop training after this many seconds (SIGINT; best.pt is kept) [none]
#   EVAL_SPLITS   splits to evaluate (default: "train val test")
#   EVAL_BATCH    images per forward pass in evaluation (default 128)
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n '2,18p' "$0"
  exit 2
fi
HAM_DIR=$1 ISIC_REAL_DIR=$2 WORK_DIR=$3
shift 3
HERE=$(cd "$(dirname "$0")/.." && pwd)
RECIPE=${RECIPE:-$HERE/configs/ham10000/tf_efficientnet_lite0-224.yaml}
if [ -z "${DERMCAD:-}" ]; then
  # Without an installed `dermcad`, the CLI from the source tree (its data and training commands
  # need no serving dependency: tests/test_import_graph.py).
  if command -v dermcad >/dev/null 2>&1; then DERMCAD=dermcad; else DERMCAD="env PYTHONPATH=$HERE/src python3 -m dermcad.cli.main"; fi
fi
DEVICE_ARGS=()
EVAL_DEVICE=cpu
if [ -n "${DEVICE:-}" ]; then DEVICE_ARGS=(--device "$DEVICE"); EVAL_DEVICE=$DEVICE;
elif python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then EVAL_DEVICE=cuda; fi
read -r -a SPLITS <<< "${EVAL_SPLITS:-train val test}"
SPLIT_ARGS=()
for s in "${SPLITS[@]}"; do SPLIT_ARGS+=(--split "$s"); done

mkdir -p "$WORK_DIR/data"
DATA=$WORK_DIR/data RUN=$WORK_DIR/run
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*"; }

stamp "ingest HAM10000"
$DERMCAD ingest ham10000 --metadata "$HAM_DIR/HAM10000_metadata.csv" --images "$HAM_DIR/images" \
  --out "$DATA/ham10000.csv"
stamp "split by lesion 80/10/10, seed 42"
$DERMCAD split "$DATA/ham10000.csv" --out "$DATA/ham10000-split.json" --holdout 0.8 0.1 0.1 \
  --seed 42 --group lesion

stamp "train $RECIPE"
train_cmd=($DERMCAD train "$RECIPE" --index "$DATA/ham10000.csv" --split "$DATA/ham10000-split.json" \
  --out "$RUN" --no-progress "${DEVICE_ARGS[@]}" "$@")
if [ -n "${TRAIN_SECONDS:-}" ]; then
  timeout --signal=INT "$TRAIN_SECONDS" "${train_cmd[@]}" || echo "training stopped (status $?); evaluating best.pt"
else
  "${train_cmd[@]}"
fi
stamp "trained"

stamp "evaluate ${SPLITS[*]} (TTA 8)"
$DERMCAD evaluate "$RUN" "${SPLIT_ARGS[@]}" --tta 8 --device "$EVAL_DEVICE" \
  --batch-size "${EVAL_BATCH:-128}" --no-progress
if [ "$ISIC_REAL_DIR" != "-" ]; then
  stamp "external test: isic-real UDA-1 (150 images, melanoma vs nevus)"
  python3 "$HERE/scripts/isic_real_index.py" "$ISIC_REAL_DIR" "$DATA/isic-uda1.csv"
  $DERMCAD evaluate "$RUN" --external "$DATA/isic-uda1.csv" --name isic-uda1 --tta 8 \
    --device "$EVAL_DEVICE" --batch-size "${EVAL_BATCH:-128}" --no-progress
fi
stamp "done: $RUN/eval/metrics.json"
