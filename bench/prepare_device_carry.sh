#!/usr/bin/env bash
# Prepare the ignored folders that bench/device_real_model.sh needs on a GPU machine, which has
# no network and only Python 3.12 with PyTorch: .whl/ (wheels its image lacks) and .realdata/
# (HAM10000 200x150 and the offline Lite0 ImageNet weights as fp16 safetensors, to stay under
# the 64 MiB the working tree may carry).  Run from the repository root with the venv active.
set -euo pipefail
DATA=${1:-../shared/data/ham10000-200x150}
grep -qx "/.whl/" .git/info/exclude || echo "/.whl/" >> .git/info/exclude
grep -qx "/.realdata/" .git/info/exclude || echo "/.realdata/" >> .git/info/exclude
rm -rf .whl && mkdir -p .whl .realdata
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
  typing_extensions==4.16.0 albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 \
  stringzilla==5.3.2 timm==1.0.31 typer==0.29.2 annotated-doc==0.0.7
rm -rf .realdata/ham10000-200x150 && cp -r "$DATA" .realdata/ham10000-200x150
python3 - <<'PY'
from safetensors.torch import save_file
from dermcad.models.weights import lite0_offline_path, read_state_dict
state = read_state_dict(lite0_offline_path())
half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
save_file(half, ".realdata/lite0-offline-fp16.safetensors")
PY
du -sb .whl .realdata
git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1
