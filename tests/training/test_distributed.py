from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


@pytest.mark.slow
def test_torchrun_two_processes_rank0_writes(
    tmp_path: Path, synthetic_index: Path, synthetic_split: Path
) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "-m",
        "dermcad.cli.main",
        "train",
        "--index",
        str(synthetic_index),
        "--split",
        str(synthetic_split),
        "--out",
        str(run),
        "--set",
        "data.img_size=32",
        "--set",
        "data.workers=0",
        "--set",
        "max_batches_per_epoch=2",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("best epoch") == 1  # only rank 0 reports
    assert done.stdout.count("epoch   2/2") == 1
    assert list(pd.read_csv(run / "history.csv")["epoch"]) == [1, 2]
    assert (run / "best.pt").is_file()
