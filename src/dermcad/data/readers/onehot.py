"""Shared by the ISIC 2019 and 2018 readers: one-hot ground-truth rows -> diagnosis column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dermcad.errors import UserError


def onehot_diagnosis(table: pd.DataFrame, columns: Sequence[str], path: Path) -> pd.Series:
    """The name of the column holding 1 in each row; "" when none does, "+"-joined when several.

    A row naming several classes is reported as a conflicting label by the caller.
    """
    try:
        values = table[list(columns)].apply(pd.to_numeric, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: ground-truth columns must hold 0 or 1 ({exc})") from exc
    hot = values >= 0.5
    names = pd.Series(
        ["+".join(c for c, on in zip(columns, row, strict=True) if on) for row in hot.to_numpy()],
        index=table.index,
    )
    return names
