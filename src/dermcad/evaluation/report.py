"""``dermcad report``: the thesis' Table 3 (train/val/test melanoma AUC per model, mean and SD per
group) for any set of run directories, as Markdown and CSV."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dermcad.atomic import write_text_atomic
from dermcad.errors import UserError

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class RunRow:
    name: str
    group: str
    aucs: dict[str, float]  # split -> melanoma AUC (NaN when not evaluated)
    tta: int | None


def read_run_row(run_dir: Path) -> RunRow:
    metrics_path = run_dir / "eval" / "metrics.json"
    if not metrics_path.is_file():
        raise UserError(f"{run_dir}: no eval/metrics.json; run `dermcad evaluate {run_dir}` first")
    try:
        metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {metrics_path}: {exc}") from exc
    recipe: dict[str, Any] = {}
    recipe_path = run_dir / "recipe.yaml"
    if recipe_path.is_file():
        recipe = yaml.safe_load(recipe_path.read_text(encoding="utf-8")) or {}
    aucs = {}
    for split in SPLITS:
        value = (metrics.get(split) or {}).get("melanoma_auc")
        aucs[split] = math.nan if value is None else float(value)
    tta = next((metrics[s].get("tta") for s in SPLITS if isinstance(metrics.get(s), dict)), None)
    return RunRow(
        name=str(recipe.get("name") or run_dir.name),
        group=str(recipe.get("group") or "all"),
        aucs=aucs,
        tta=tta,
    )


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    sd = statistics.stdev(finite) if len(finite) > 1 else math.nan
    return statistics.fmean(finite), sd


def table_rows(rows: Sequence[RunRow]) -> list[dict[str, str]]:
    """Rows of Table 3: each run, then a mean +- SD line after each group."""
    out: list[dict[str, str]] = []
    groups = list(dict.fromkeys(r.group for r in rows))

    def fmt(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.3f}"

    for group in groups:
        members = [r for r in rows if r.group == group]
        for r in members:
            out.append({"model": r.name, "group": group} | {s: fmt(r.aucs[s]) for s in SPLITS})
        summary = {"model": "mean ± SD", "group": group}
        for s in SPLITS:
            mean, sd = _mean_sd([r.aucs[s] for r in members])
            summary[s] = fmt(mean) if math.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"
        out.append(summary)
    return out


def to_markdown(rows: Sequence[dict[str, str]], tta: int | None) -> str:
    header = "| model | group | train AUC | val AUC | test AUC |\n|---|---|---:|---:|---:|\n"
    body = "".join(
        f"| {r['model']} | {r['group']} | {r['train']} | {r['val']} | {r['test']} |\n" for r in rows
    )
    note = f"\nMelanoma-vs-rest ROC AUC (TTA {tta} views, calibrated probabilities).\n"
    return header + body + note


def write_report(run_dirs: Sequence[Path], out_dir: Path) -> tuple[Path, Path]:
    import csv
    import io

    if not run_dirs:
        raise UserError("report needs at least one run directory")
    runs = [read_run_row(Path(d)) for d in run_dirs]
    rows = table_rows(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = out_dir / "table3.md", out_dir / "table3.csv"
    write_text_atomic(md_path, to_markdown(rows, runs[0].tta))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["model", "group", *SPLITS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, buffer.getvalue())
    return md_path, csv_path
