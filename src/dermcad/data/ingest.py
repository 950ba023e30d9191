"""The service behind ``dermcad ingest``: summarize a reader's result, print it, write it.

Nothing is written when the result is empty, or when ``strict`` and any image was missing,
unreadable, duplicated or conflicting; otherwise the index and ``INDEX.summary.json`` are both
written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dermcad.data.index import EXCLUSION_REASONS, make_summary, write_index, write_summary
from dermcad.data.readers.common import IngestResult, summary_details
from dermcad.errors import UserError


def _text(value: object) -> str:
    return str(value.resolve()) if isinstance(value, Path) else str(value)


def summarize(result: IngestResult, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of an ingestion: counts per class and per exclusion reason."""
    details = summary_details(result, {k: _text(v) for k, v in inputs.items()})
    return make_summary(result.frame, result.reasons, source=result.source, details=details)


def format_summary(summary: Mapping[str, Any]) -> str:
    """A plain-text table: images per class, then images left out per reason."""
    total = max(int(summary["n_images"]), 1)
    lines = [f"{'class':<12} {'images':>8} {'share':>7}"]
    for name, count in summary["classes"].items():
        lines.append(f"{name:<12} {count:>8} {100 * count / total:>6.1f}%")
    lines.append(f"{'total':<12} {summary['n_images']:>8}")
    lines.append("")
    lines.append(f"{'left out':<20} {'images':>8}")
    for reason in EXCLUSION_REASONS:
        lines.append(f"{reason:<20} {summary['excluded'][reason]:>8}")
    return "\n".join(lines)


def check(result: IngestResult, out: Path, *, strict: bool) -> None:
    """Refuse an empty result, and with ``strict`` any problem, before anything is written."""
    if result.frame.empty:
        reasons = ", ".join(f"{k} {v}" for k, v in result.reasons.items() if v) or "no rows"
        raise UserError(f"{out}: no images to index ({reasons}); nothing written")
    if strict and result.problems:
        reasons = ", ".join(
            f"{k} {result.reasons[k]}" for k in EXCLUSION_REASONS[1:] if result.reasons[k]
        )
        raise UserError(
            f"{out}: --strict and {result.problems} problem(s) ({reasons}); nothing written"
        )


def save(result: IngestResult, out: Path, summary: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write the index and its summary; returns both paths."""
    index_path = write_index(result.frame, out)
    return index_path, write_summary(summary, index_path)
