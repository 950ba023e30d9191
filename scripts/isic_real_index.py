"""Write a dermcad index of the external test set: the 150 UDA-1 images of ``isic-real``
(ISIC_0000000..ISIC_0000556, melanoma vs nevus; a collection other than HAM10000).

    python scripts/isic_real_index.py ../shared/data/isic-real OUT/isic-uda1.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from dermcad.data.index import write_index
from dermcad.taxonomy import CLASSES

LAST_UDA1_ID = "ISIC_0000556"
LABELS = {"melanoma": "melanoma", "nevus": "nevus"}


def build(root: Path) -> pd.DataFrame:
    labels = pd.read_csv(root / "labels.csv", dtype=str)
    uda1 = labels[labels["isic_id"] <= LAST_UDA1_ID].copy()
    unknown = sorted(set(uda1["diagnosis"]) - set(LABELS))
    if unknown:
        raise SystemExit(f"unexpected diagnoses in UDA-1 rows: {unknown}")
    label = uda1["diagnosis"].map(LABELS)
    return pd.DataFrame(
        {
            "image_id": uda1["isic_id"],
            "path": [str((root / "images" / f"{i}.jpg").resolve()) for i in uda1["isic_id"]],
            "label": label,
            "label_idx": [CLASSES.index(v) for v in label],
            "source": "isic-archive",
            "patient_id": "",
            "lesion_id": "",
            "sex": "",
            "age": "",
            "site": "",
            "diagnosis": uda1["diagnosis"],
        }
    )


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    frame = build(root)
    write_index(frame, out, relative_paths=False)
    print(f"wrote {out}: {len(frame)} images, {frame['label'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
