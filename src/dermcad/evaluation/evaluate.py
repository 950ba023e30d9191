"""``evaluate_run``: TTA predictions, calibration on val, metrics, plots and predictions files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermcad.atomic import write_json_atomic
from dermcad.errors import UserError
from dermcad.evaluation.calibration import (
    fit_temperature,
    negative_log_likelihood,
    replay_proba,
)
from dermcad.evaluation.metrics import expected_calibration_error, threshold_for_sensitivity
from dermcad.evaluation.outputs import write_predictions
from dermcad.evaluation.plots import plot_confusion, plot_reliability, plot_roc
from dermcad.evaluation.predict import Predictions, predict_frame
from dermcad.evaluation.summary import (
    by_source_metrics,
    isic2017_challenge,
    json_number,
    split_metrics,
    target_index,
)
from dermcad.inference.preprocess import PreprocessSpec

Log = Callable[[str], None]


@dataclass
class EvaluationSettings:
    splits: Sequence[str] = ("val", "test")
    tta: int = 8
    external: Sequence[tuple[str, Path]] = ()
    index: Path | None = None  # instead of the run's own (moved data, an imported model)
    split_file: Path | None = None
    min_sensitivity: float = 0.90
    n_boot: int = 1000
    batch_size: int = 64
    device: str = "cpu"
    progress: bool = True
    guard_package: Path | None = None  # also report this package's out-of-distribution guard


@dataclass
class Calibration:
    temperature: float
    threshold: float
    ece_before: float
    ece_after: float
    operating_point: str
    nll_before: float | None = None
    nll_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "threshold": self.threshold,
            "operating_point": self.operating_point,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
        }


def _known(pred: Predictions) -> Predictions:
    keep = pred.labels >= 0
    return Predictions(
        [i for i, k in zip(pred.image_ids, keep, strict=True) if k],
        pred.labels[keep],
        pred.view_logits[:, keep],
        pred.probs[keep],
    )


def calibrate(val: Predictions, classes: Sequence[str], min_sensitivity: float) -> Calibration:
    """Temperature (validation NLL) and the melanoma threshold for the operating point."""
    temperature = fit_temperature(val.view_logits, val.labels)
    calibrated = replay_proba(val.view_logits, temperature)
    target = target_index(classes)
    positives = val.labels == target
    if not positives.any():
        raise UserError("the validation split holds no melanoma: no threshold can be chosen")
    threshold = threshold_for_sensitivity(positives, calibrated[:, target], min_sensitivity)
    return Calibration(
        temperature=temperature,
        threshold=threshold,
        ece_before=expected_calibration_error(val.probs, val.labels),
        ece_after=expected_calibration_error(calibrated, val.labels),
        operating_point=f"sensitivity >= {min_sensitivity:.2f} on the validation split",
        nll_before=negative_log_likelihood(val.probs, val.labels),
        nll_after=negative_log_likelihood(calibrated, val.labels),
    )


def _split_frames(
    run_info: dict[str, Any], run_dir: Path, settings: EvaluationSettings
) -> dict[str, pd.DataFrame]:
    from dermcad.data.run_split import run_split_frames

    parts = run_split_frames(
        run_info, run_dir, index=settings.index, split_file=settings.split_file
    )
    names = settings.splits
    missing = [n for n in names if n not in parts]
    if missing:
        raise UserError(f"this run's split has no {', '.join(missing)} (it has {', '.join(parts)})")
    return {n: parts[n] for n in dict.fromkeys(["val", *names])}


def _read_metrics(path: Path) -> dict[str, Any]:
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
        except json.JSONDecodeError:
            pass
    return {}


def _stale_removed(metrics: dict[str, Any], tta: int, log: Log) -> dict[str, Any]:
    # Splits evaluated with other TTA views were calibrated differently: not mixed into one file.
    stale = [
        k for k, v in metrics.items() if isinstance(v, dict) and v.get("tta") not in (None, tta)
    ]
    if stale:
        log(f"dropping {', '.join(stale)} from metrics.json (evaluated with other TTA views)")
    return {k: v for k, v in metrics.items() if k not in stale}


def _stored_calibration(metrics: dict[str, Any], tta: int) -> Calibration | None:
    stored = metrics.get("calibration")
    if not isinstance(stored, dict) or stored.get("tta") != tta:
        return None
    try:
        return Calibration(
            float(stored["temperature"]),
            float(stored["threshold"]),
            float(stored["ece_before"]),
            float(stored["ece_after"]),
            str(stored["operating_point"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _predict_all(
    model: Any,
    frames: dict[str, pd.DataFrame],
    spec: PreprocessSpec,
    classes: tuple[str, ...],
    settings: EvaluationSettings,
    log: Log,
) -> dict[str, Predictions]:
    preds: dict[str, Predictions] = {}
    for name, frame in frames.items():
        tic = time.perf_counter()
        preds[name] = _known(
            predict_frame(
                model,
                frame,
                spec,
                classes,
                tta=settings.tta,
                batch_size=settings.batch_size,
                device=settings.device,
                progress=settings.progress,
            )
        )
        log(
            f"{name}: {len(preds[name].image_ids)} images, TTA {settings.tta}, "
            f"{time.perf_counter() - tic:.1f} s"
        )
    return preds


def evaluate_run(
    run_dir: Path | str, settings: EvaluationSettings, log: Log = print
) -> dict[str, Any]:
    """Evaluate a run directory; merges into ``RUN/eval/metrics.json`` and returns it.

    Calibration (temperature, threshold) is fitted on the validation split whenever ``val`` is
    evaluated; an evaluation of external sets alone reuses the stored calibration of the same TTA.
    """
    from dermcad.data.index import read_index
    from dermcad.models import load_run

    run_dir = Path(run_dir)
    model, info = load_run(run_dir)
    classes = tuple(info["model"]["classes"])
    spec = PreprocessSpec.from_dict(info["preprocess"])
    eval_dir = run_dir / "eval"
    metrics = _stale_removed(_read_metrics(eval_dir / "metrics.json"), settings.tta, log)
    calibration = None if settings.splits else _stored_calibration(metrics, settings.tta)
    frames = _split_frames(info, run_dir, settings) if calibration is None else {}
    for name, index_path in settings.external:
        frames[name] = read_index(index_path)
    preds = _predict_all(model, frames, spec, classes, settings, log)
    if calibration is None:
        calibration = calibrate(preds["val"], classes, settings.min_sensitivity)
        metrics["calibration"] = {
            k: json_number(v) if isinstance(v, float) else v
            for k, v in calibration.to_dict().items()
        } | {"tta": settings.tta}
    wanted = [*settings.splits, *(n for n, _ in settings.external)]
    for name in wanted:
        sources = _sources(frames[name], preds[name].image_ids)
        metrics[name] = _write_split(
            eval_dir, name, preds[name], classes, calibration, settings, sources
        )
        log(_summary_line(name, metrics[name]))
        if "isic2017_challenge" in metrics[name]:
            log(_challenge_line(metrics[name]["isic2017_challenge"]))
        for source, block in metrics[name].get("by_source", {}).items():
            log(_summary_line(f"  {name} / {source}", block))
            if "isic2017_challenge" in block:
                log(_challenge_line(block["isic2017_challenge"]))
    if settings.guard_package is not None:
        metrics["guard"] = _guard_figures(
            settings.guard_package, {name: frames[name] for name in wanted}, log
        )
    write_json_atomic(eval_dir / "metrics.json", metrics)
    return metrics


def _guard_figures(package: Path, frames: dict[str, pd.DataFrame], log: Log) -> dict[str, Any]:
    """The package's guard on every evaluated set (share of real dermoscopy refused) and on the
    non-dermoscopy set (share refused, AUROC against ``val`` when val is evaluated), through the
    package's own runner, as served."""
    from dermcad.evaluation.guard_report import guard_figures
    from dermcad.inference.models import ModelsConfig, open_models

    (runner,) = open_models(ModelsConfig.one_package(package, batch_size=32)).values()
    sets = {name: [Path(p) for p in frame["path"]] for name, frame in frames.items()}
    figures = guard_figures(runner, sets, reference="val" if "val" in sets else None)
    log(f"out-of-distribution guard of {figures['model_id']} ({figures['method']}):")
    for name, row in figures["dermoscopy_refused"].items():
        log(f"  {name}: {row['refused']:.1%} of {row['n_images']} dermoscopy images refused")
    row = figures["non_dermoscopy"]["all"]
    auroc = row.get("auroc_vs_val")
    log(
        f"  non-dermoscopy: {row['refused']:.1%} of {row['n_images']} images refused"
        + ("" if auroc is None else f", AUROC vs val {auroc:.4f}")
    )
    return figures


def _sources(frame: pd.DataFrame, image_ids: Sequence[str]) -> list[str]:
    """The source of each evaluated image (in ``image_ids`` order)."""
    if "source" not in frame.columns:
        return [""] * len(image_ids)
    by_id = dict(
        zip(frame["image_id"].astype(str), frame["source"].fillna("").astype(str), strict=True)
    )
    return [by_id.get(str(i), "") for i in image_ids]


def _write_split(
    eval_dir: Path,
    name: str,
    pred: Predictions,
    classes: Sequence[str],
    calibration: Calibration,
    settings: EvaluationSettings,
    sources: Sequence[str] = (),
) -> dict[str, Any]:
    probs = replay_proba(pred.view_logits, calibration.temperature)
    result = split_metrics(
        pred.labels,
        probs,
        classes,
        threshold=calibration.threshold,
        tta=settings.tta,
        n_boot=settings.n_boot,
    )
    if len(set(sources)) > 1:  # every metric per source as well as for the whole
        result["by_source"] = by_source_metrics(
            pred.labels,
            probs,
            classes,
            sources,
            threshold=calibration.threshold,
            tta=settings.tta,
            n_boot=settings.n_boot,
        )
    elif set(sources) == {"isic2017"}:
        result["isic2017_challenge"] = isic2017_challenge(result)
    write_predictions(
        eval_dir, name, pred.image_ids, pred.labels, probs, classes, calibration.threshold
    )
    plot_roc(eval_dir / f"roc_{name}.png", pred.labels, probs, classes, f"ROC, {name}")
    plot_confusion(
        eval_dir / f"confusion_{name}.png",
        np.asarray(result["confusion_matrix"]),
        classes,
        f"Confusion matrix, {name}",
    )
    plot_reliability(
        eval_dir / f"reliability_{name}.png",
        pred.labels,
        {"uncalibrated": pred.probs, f"T = {calibration.temperature:.2f}": probs},
        f"Reliability, {name}",
    )
    return result


def _summary_line(name: str, m: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    ci = m["melanoma_auc_ci95"]
    return (
        f"{name}: melanoma AUC {fmt(m['melanoma_auc'])} [{fmt(ci[0])}, {fmt(ci[1])}]  "
        f"pAUC80 {fmt(m['pauc_80'])}  balanced acc {fmt(m['balanced_accuracy'])}  "
        f"macro AUC {fmt(m['macro_auc'])}  sens {fmt(m['sensitivity'])}  "
        f"spec {fmt(m['specificity'])}  (n={m['n_images']}, TTA {m['tta']})"
    )


def _challenge_line(c: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    return (
        f"    ISIC 2017 challenge terms: melanoma AUC {fmt(c['melanoma_auc'])}, seborrheic "
        f"keratosis AUC {fmt(c['seborrheic_keratosis_auc'])}, mean {fmt(c['mean_auc'])} "
        f"(the challenge's best melanoma AUC: {c['top_melanoma_auc_2017']})"
    )
