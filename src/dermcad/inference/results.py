"""The result of one image, as ``/from_task`` returns it and ``dermcad predict`` writes it.

One builder for both, so the API's JSON items and the CLI's CSV rows carry the same fields
(docs/api.md plus the additions of docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from dermcad.inference.guard import OUT_OF_DOMAIN_REASON
from dermcad.inference.runner import Prediction
from dermcad.registry.manifest import Manifest


def model_metadata(manifest: Manifest) -> dict[str, Any]:
    return {
        "origin": manifest.origin,
        "net_type": manifest.net_type,
        "img_size": manifest.img_size,
        "out_dim": manifest.out_dim,
    }


def guard_metadata(manifest: Manifest) -> dict[str, Any] | None:
    """What ``/models`` says about a model's out-of-distribution guard (``None``: it has none)."""
    guard = manifest.guard
    if guard is None:
        return None
    return {
        "method": guard.method,
        "threshold": guard.threshold,
        "pass_rate": guard.pass_rate,
        "fitted_on": guard.fitted_on,
    }


def result_item(
    *,
    name: str,
    model_id: str,
    manifest: Manifest,
    tta: int,
    width: int | None,
    height: int | None,
    prediction: Prediction | None = None,
    error: str | None = None,
    heatmap_url: str | None = None,
) -> dict[str, Any]:
    """One ``/from_task`` item; ``prediction`` is ``None`` exactly when ``error`` is given."""
    item: dict[str, Any] = {
        "name": name,
        "probabilities": None,
        "metadata": model_metadata(manifest),
        "prediction": None,
        "model_id": model_id,
        "melanoma_probability": None,
        "threshold": manifest.threshold,
        "tta": tta,
        "width": width,
        "height": height,
        "heatmap_url": None,
        "heatmap_class": None,
        "error": error,
        # The out-of-distribution guard (docs/architecture.md): null without a guard or a result.
        "in_domain": None,
        "ood_score": None,
        "ood_reason": None,
    }
    if prediction is not None:
        decision = prediction.decision
        item["probabilities"] = {
            cls: float(p) for cls, p in zip(manifest.classes, prediction.probabilities, strict=True)
        }
        item["prediction"] = {
            "target": bool(decision.target),
            "label": int(decision.label),
            "prediction": decision.prediction,
        }
        item["melanoma_probability"] = float(decision.melanoma_probability)
        item["heatmap_url"] = heatmap_url if prediction.cam is not None else None
        if item["heatmap_url"] is not None:
            item["heatmap_class"] = manifest.decision_rule.target_class
        if prediction.in_domain is not None:
            item["in_domain"] = prediction.in_domain
            item["ood_score"] = prediction.ood_score
            item["ood_reason"] = None if prediction.in_domain else OUT_OF_DOMAIN_REASON
    return item


def spreadsheet_safe(text: str) -> str:
    """Text that a spreadsheet will not run as a formula (a leading ``= + - @``, tab or CR
    gets a quote), for the CSV files users open in Excel or LibreOffice."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_columns(classes: list[str]) -> list[str]:
    return [
        "name",
        "model_id",
        "prediction",
        "label",
        "target",
        "melanoma_probability",
        "threshold",
        "tta",
        "width",
        "height",
        *[f"p_{cls}" for cls in classes],
        "error",
        "heatmap",
        "in_domain",
        "ood_score",
        "ood_reason",
    ]


def flatten_item(item: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """One CSV row from one result item (the same fields, flattened)."""
    decision = item.get("prediction") or {}
    probs = item.get("probabilities") or {}
    row = {
        "name": spreadsheet_safe(item["name"]),
        "model_id": item["model_id"],
        "prediction": decision.get("prediction", ""),
        "label": decision.get("label", ""),
        "target": decision.get("target", ""),
        "melanoma_probability": item.get("melanoma_probability"),
        "threshold": item["threshold"],
        "tta": item["tta"],
        "width": item.get("width"),
        "height": item.get("height"),
        "error": spreadsheet_safe(item.get("error") or ""),
        "heatmap": spreadsheet_safe(item.get("heatmap_url") or ""),
        "in_domain": "" if item.get("in_domain") is None else item["in_domain"],
        "ood_score": "" if item.get("ood_score") is None else item["ood_score"],
        "ood_reason": item.get("ood_reason") or "",
    }
    for cls in classes:
        row[f"p_{cls}"] = probs.get(cls, "")
    return {column: row[column] for column in csv_columns(classes)}
