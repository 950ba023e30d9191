#!/usr/bin/env bash
# Prepare the ignored folders the GPU scripts need on a lent machine, which has no network and
# only Python 3.12 with PyTorch (and timm). Run from the repository root with the venv active.
#
#   bench/prepare_device_carry.sh [HAM_DIR]
#
# Writes .carry/ for bench/device_train_batch.sh (carry [".carry"]), within the 64 MiB of disk
# blocks the device's working tree may hold (the tracked tree is ~21 MiB of it):
#   .carry/ham.tgz         ham/ham10000.csv (every row, image paths relative: images/<id>.jpg),
#                          ham/ham10000-split.json (by lesion, 80/10/10, seed 42) and ham/images/
#                          with the train and val images only, each losslessly re-encoded by
#                          `jpegtran -optimize -copy none` (same pixels, checked; ~11% smaller);
#                          one archive, because 9,016 small files cost a 4 KiB block each
#   .carry/wheels/         the packages the machine lacks (stringzilla 3.12, a 0.3 MB wheel, not 5.x)
#   .carry/lite0-fp16.pth  the offline Lite0 ImageNet weights without their ImageNet classifier,
#                          as fp16 (what `model.pretrained` reads)
# Needs jpegtran (apt-get install libjpeg-turbo-progs).
set -euo pipefail
HAM=${1:-../shared/data/ham10000-200x150}
grep -qx "/.carry/" .git/info/exclude || echo "/.carry/" >> .git/info/exclude
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf .carry && mkdir -p .carry/wheels "$tmp/ham/images"
dermcad ingest ham10000 --metadata "$HAM/HAM10000_metadata.csv" --images "$HAM/images" \
  --out "$tmp/full.csv"
dermcad split "$tmp/full.csv" --out "$tmp/ham/ham10000-split.json" --holdout 0.8 0.1 0.1 \
  --seed 42 --group lesion
python3 - "$tmp" <<'PY'
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

tmp = Path(sys.argv[1])
index = pd.read_csv(tmp / "full.csv")
assignment = json.loads((tmp / "ham" / "ham10000-split.json").read_text())["assignment"]
for row in index[index["image_id"].map(assignment).isin(["train", "val"])].itertuples():
    src, dst = Path(row.path), tmp / "ham" / "images" / Path(row.path).name
    subprocess.run(["jpegtran", "-optimize", "-copy", "none", "-outfile", str(dst), str(src)], check=True)
    if not np.array_equal(np.asarray(Image.open(src).convert("RGB")), np.asarray(Image.open(dst).convert("RGB"))):
        raise SystemExit(f"{src}: jpegtran changed the pixels")
index["path"] = ["images/" + Path(p).name for p in index["path"]]
index.to_csv(tmp / "ham" / "ham10000.csv", index=False)

import torch
from dermcad.models.weights import lite0_offline_path, read_state_dict
state = read_state_dict(lite0_offline_path())
half = {k: v.half() if v.is_floating_point() else v for k, v in state.items() if not k.startswith("_fc.")}
torch.save(half, ".carry/lite0-fp16.pth")
PY
tar czf .carry/ham.tgz -C "$tmp" ham
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 -d .carry/wheels pydantic==2.14.4 pydantic_core==2.50.5 \
  annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0 albumentations==2.0.8 \
  albucore==0.0.24 simsimd==6.5.16 stringzilla==3.12.6
du -sk .carry
git ls-files -co --exclude-standard -z | du -ck --files0-from=- | tail -1
