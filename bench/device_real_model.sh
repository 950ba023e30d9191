#!/usr/bin/env bash
# The real model in ONE command on a lent GPU machine (docs/models.md, "Reproduce"):
#   carry [".whl", ".realdata"] (prepared by bench/prepare_device_carry.sh), then run
#   bash bench/device_real_model.sh
# Installs the carried wheels (packages the machine's image lacks), trains and evaluates with
# bench/train_real_model.sh, and leaves in $OUT: log.txt, best.pt, results.tar.gz (the run
# directory without checkpoints, plus the index and split files).
# Local dry run on CPU: SKIP_PIP=1 DEVICE=cpu OUT=/tmp/out EXTRA="--epochs 1 ..." bash bench/...
set -uo pipefail
OUT=${OUT:-/tmp/dermcad-out}
WORK=${WORK:-/tmp/dermcad-work}
mkdir -p "$OUT"
if [ -z "${SKIP_PIP:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/src
fi
export PYTHONUNBUFFERED=1
export DERMCAD="python3 $PWD/bench/dermcad_stages.py"  # no serving imports needed
nvidia-smi -L 2>/dev/null || true
python3 -c "import torch, timm, albumentations, pydantic, typer, dermcad; print('torch', torch.__version__, 'timm', timm.__version__, 'albumentations', albumentations.__version__, 'cuda', torch.cuda.is_available())" || exit 1
# shellcheck disable=SC2086
TRAIN_SECONDS=${TRAIN_SECONDS:-330} EVAL_SPLITS="train val test" EVAL_BATCH=${EVAL_BATCH:-256} \
  DEVICE=${DEVICE:-cuda} bench/train_real_model.sh .realdata/ham10000-200x150 - "$WORK" \
  --set "model.pretrained=$PWD/.realdata/lite0-offline-fp16.safetensors" \
  --set "data.workers=${WORKERS:-14}" ${EXTRA:-} 2>&1 | tee "$OUT/log.txt"
status=${PIPESTATUS[0]}
tar czf "$OUT/results.tar.gz" -C "$WORK" --exclude=last.pt --exclude=best.pt run data
cp "$WORK/run/best.pt" "$OUT/best.pt"
ls -la "$OUT"
exit "$status"
