"""Readers on small files written with the real column names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermcad.data.index import read_index, write_index
from dermcad.data.readers.folders import read_folders
from dermcad.data.readers.ham10000 import read_ham10000
from dermcad.data.readers.isic2018 import read_isic2018
from dermcad.data.readers.isic2019 import read_isic2019
from dermcad.data.readers.isic2020 import read_isic2020
from dermcad.data.readers.isic_archive import read_isic_archive
from dermcad.data.readers.merge import read_merge
from dermcad.errors import UserError

from .helpers import write_csv, write_jpegs

HAM_HEADER = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")


def _labels(result: object) -> dict[str, str]:
    frame = result.frame  # type: ignore[attr-defined]
    return dict(zip(frame["image_id"], frame["label"], strict=True))


def test_ham10000_counts_every_problem(tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_jpegs(images / "part_1", ["ISIC_1", "ISIC_2"])
    write_jpegs(images / "part_2", ["ISIC_3", "ISIC_4", "ISIC_6"])
    (images / "part_2" / "ISIC_5.jpg").write_bytes(b"not a jpeg at all")
    rows = [
        ("HAM_1", "ISIC_1", "mel", "histo", "55.0", "male", "back"),
        ("HAM_1", "ISIC_2", "mel", "histo", "55.0", "male", "back"),
        ("HAM_2", "ISIC_3", "nv", "follow_up", "", "unknown", "unknown"),
        ("HAM_3", "ISIC_4", "akiec", "histo", "70", "female", "face"),
        ("HAM_3", "ISIC_4", "akiec", "histo", "70", "female", "face"),  # duplicate
        ("HAM_4", "ISIC_5", "bcc", "histo", "60", "male", "trunk"),  # unreadable
        ("HAM_5", "ISIC_6", "nv", "histo", "60", "male", "trunk"),
        ("HAM_5", "ISIC_6", "mel", "histo", "60", "male", "trunk"),  # conflicting
        ("HAM_6", "ISIC_7", "df", "histo", "60", "male", "trunk"),  # missing
        ("HAM_7", "ISIC_8", "xyz", "histo", "60", "male", "trunk"),  # other diagnosis
    ]
    meta = write_csv(tmp_path / "HAM10000_metadata.csv", HAM_HEADER, rows)
    result = read_ham10000(meta, images)
    expected = {"ISIC_1": "melanoma", "ISIC_2": "melanoma", "ISIC_3": "nevus", "ISIC_4": "AK"}
    assert _labels(result) == expected
    assert dict(result.reasons) == {
        "excluded_diagnosis": 1,
        "missing_file": 1,
        "unreadable_image": 1,
        "duplicate_id": 1,
        "conflicting_label": 1,
    }
    assert result.problems == 4
    row = result.frame.set_index("image_id").loc["ISIC_3"]
    assert (row["lesion_id"], row["sex"], row["site"], row["diagnosis"]) == ("HAM_2", "", "", "nv")
    assert result.frame.set_index("image_id").loc["ISIC_4", "age"] == 70.0
    assert Path(result.frame.set_index("image_id").loc["ISIC_1", "path"]).is_file()


def test_ham10000_missing_columns_and_folder(tmp_path: Path) -> None:
    meta = write_csv(tmp_path / "meta.csv", ("lesion_id", "image_id"), [("HAM_1", "ISIC_1")])
    with pytest.raises(UserError, match=r"meta\.csv.*required column\(s\) dx"):
        read_ham10000(meta, tmp_path)
    good = write_csv(tmp_path / "good.csv", HAM_HEADER, [("H", "ISIC_1", "mel", "", "", "", "")])
    with pytest.raises(UserError, match=r"nowhere: HAM10000 images folder not found"):
        read_ham10000(good, tmp_path / "nowhere")


def test_isic2019_downsampled_names_and_metadata(tmp_path: Path) -> None:
    header = ("image", "MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
    rows = [
        ("ISIC_0000001_downsampled", 1.0, 0.0, 0, 0, 0, 0, 0, 0, 0),  # file without the suffix
        ("ISIC_0000002", 0, 1, 0, 0, 0, 0, 0, 0, 0),  # file with the suffix
        ("ISIC_0000003", 0, 0, 0, 0, 0, 0, 0, 1, 0),
        ("ISIC_0000004", 0, 0, 0, 0, 0, 0, 0, 0, 1),  # UNK
        ("ISIC_0000005", 1, 1, 0, 0, 0, 0, 0, 0, 0),  # two classes
        ("ISIC_0000006", 0, 0, 0, 0, 0, 1, 0, 0, 0),  # no image
    ]
    gt = write_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv", header, rows)
    names = ["ISIC_0000001", "ISIC_0000002_downsampled", "ISIC_0000003", "ISIC_0000004"]
    write_jpegs(tmp_path / "img", [*names, "ISIC_0000005"])
    meta = write_csv(
        tmp_path / "ISIC_2019_Training_Metadata.csv",
        ("image", "age_approx", "anatom_site_general", "lesion_id", "sex"),
        [("ISIC_0000001_downsampled", "45", "head/neck", "BCN_0001", "female")],
    )
    result = read_isic2019(gt, tmp_path / "img", metadata=meta)
    assert _labels(result) == {
        "ISIC_0000001": "melanoma",
        "ISIC_0000002": "nevus",
        "ISIC_0000003": "SCC",
    }
    assert result.reasons["excluded_diagnosis"] == 1
    assert result.reasons["conflicting_label"] == 1
    assert result.reasons["missing_file"] == 1
    assert result.frame["diagnosis"].tolist() == ["MEL", "NV", "SCC"]
    row = result.frame.set_index("image_id").loc["ISIC_0000001"]
    assert (row["lesion_id"], row["sex"], row["age"], row["site"]) == (
        "BCN_0001",
        "female",
        45.0,
        "head/neck",
    )
    nine = read_isic2019(gt, tmp_path / "img", num_classes=9)
    assert _labels(nine)["ISIC_0000004"] == "unknown"


def test_isic2018_with_ham_lesions(tmp_path: Path) -> None:
    header = ("image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
    rows = [("ISIC_0024306", 0, 1, 0, 0, 0, 0, 0), ("ISIC_0024329", 0, 0, 0, 1, 0, 0, 0)]
    gt = write_csv(tmp_path / "ISIC2018_Task3_Training_GroundTruth.csv", header, rows)
    write_jpegs(tmp_path / "img", ["ISIC_0024306", "ISIC_0024329"])
    ham = write_csv(
        tmp_path / "HAM10000_metadata.csv",
        HAM_HEADER,
        [("HAM_0000550", "ISIC_0024306", "nv", "follow_up", "45.0", "male", "trunk")],
    )
    result = read_isic2018(gt, tmp_path / "img", ham_metadata=ham)
    assert _labels(result) == {"ISIC_0024306": "nevus", "ISIC_0024329": "AK"}
    assert result.frame["lesion_id"].tolist() == ["HAM_0000550", ""]
    assert set(result.frame["source"]) == {"isic2018"}
    with pytest.raises(UserError, match="AKIEC"):
        read_isic2018(write_csv(tmp_path / "bad.csv", header[:4], [rows[0][:4]]), tmp_path)


def test_isic2020_train_csv(tmp_path: Path) -> None:
    header = (
        "image_name",
        "patient_id",
        "sex",
        "age_approx",
        "anatom_site_general_challenge",
        "diagnosis",
        "benign_malignant",
        "target",
    )
    rows = [
        ("ISIC_2637011", "IP_7279968", "male", "45.0", "head/neck", "unknown", "benign", 0),
        ("ISIC_0015719", "IP_3075186", "female", "45.0", "upper extremity", "unknown", "benign", 0),
        ("ISIC_0068279", "IP_6890425", "female", "45.0", "head/neck", "melanoma", "malignant", 1),
        ("ISIC_0074268", "IP_6890425", "female", "55.0", "", "nevus", "benign", 0),
        ("ISIC_0075663", "IP_8722247", "male", "", "torso", "lentigo NOS", "benign", 0),
        ("ISIC_0080512", "IP_8722247", "male", "", "torso", "cafe-au-lait macule", "benign", 0),
    ]
    meta = write_csv(tmp_path / "train.csv", header, rows)
    write_jpegs(tmp_path / "jpeg" / "train", [r[0] for r in rows])
    result = read_isic2020(meta, tmp_path / "jpeg")
    assert _labels(result) == {
        "ISIC_0068279": "melanoma",
        "ISIC_0074268": "nevus",
        "ISIC_0075663": "BKL",
    }
    assert result.reasons["excluded_diagnosis"] == 3
    assert result.frame["patient_id"].tolist() == ["IP_6890425", "IP_6890425", "IP_8722247"]
    nine = read_isic2020(meta, tmp_path / "jpeg", num_classes=9)
    assert sorted(nine.frame["label"]) == sorted(
        ["unknown", "unknown", "melanoma", "nevus", "BKL", "unknown"]
    )


def test_isic_archive_download_folder(tmp_path: Path) -> None:
    header = (
        "isic_id",
        "attribution",
        "copyright_license",
        "age_approx",
        "anatom_site_general",
        "diagnosis_1",
        "diagnosis_2",
        "diagnosis_3",
        "diagnosis_4",
        "diagnosis_5",
        "lesion_id",
        "patient_id",
        "sex",
    )
    mel = "Malignant melanocytic proliferations (Melanoma)"
    rows = [
        (
            "ISIC_0000001",
            "A",
            "CC-0",
            "50",
            "anterior torso",
            "Malignant",
            mel,
            "Melanoma Invasive",
            "",
            "",
            "IL_1",
            "IP_1",
            "male",
        ),
        (
            "ISIC_0000002",
            "A",
            "CC-0",
            "50",
            "anterior torso",
            "Benign",
            "Benign melanocytic proliferations",
            "Nevus",
            "Nevus, Spitz",
            "",
            "IL_2",
            "IP_1",
            "male",
        ),
        (
            "ISIC_0000003",
            "A",
            "CC-BY",
            "",
            "",
            "Benign",
            "Benign epidermal proliferations",
            "Solar lentigo",
            "",
            "",
            "",
            "",
            "",
        ),
        (
            "ISIC_0000004",
            "A",
            "CC-BY",
            "",
            "",
            "Benign",
            "Benign epidermal proliferations",
            "Verruca",
            "",
            "",
            "",
            "",
            "",
        ),
        ("ISIC_0000005", "A", "CC-BY", "", "", "Indeterminate", "", "", "", "", "", "", ""),
    ]
    write_csv(tmp_path / "metadata.csv", header, rows)
    write_jpegs(tmp_path, [r[0] for r in rows])
    result = read_isic_archive(tmp_path)
    assert _labels(result) == {
        "ISIC_0000001": "melanoma",
        "ISIC_0000002": "nevus",
        "ISIC_0000003": "BKL",
    }
    assert result.reasons["excluded_diagnosis"] == 2
    assert result.frame["diagnosis"].tolist() == [
        "Melanoma Invasive",
        "Nevus, Spitz",
        "Solar lentigo",
    ]
    assert result.frame["patient_id"].tolist() == ["IP_1", "IP_1", ""]
    write_csv(tmp_path / "metadata.csv", ("isic_id", "sex"), [("ISIC_0000001", "male")])
    with pytest.raises(UserError, match="diagnosis_1"):
        read_isic_archive(tmp_path)
    with pytest.raises(UserError, match="folder not found"):
        read_isic_archive(tmp_path / "absent")


def test_folders_full_and_short_names(tmp_path: Path) -> None:
    write_jpegs(tmp_path / "Melanoma", ["m1", "m2"])
    write_jpegs(tmp_path / "NV", ["n1"])
    write_jpegs(tmp_path / "basal_cell_carcinoma" / "deeper", ["b1"])
    write_jpegs(tmp_path / "scar", ["s1"])
    write_jpegs(tmp_path / "vasc", ["m1"])  # the same stem as a melanoma: a conflict
    result = read_folders(tmp_path)
    assert _labels(result) == {"m2": "melanoma", "n1": "nevus", "b1": "BCC"}
    assert result.reasons["excluded_diagnosis"] == 1
    assert result.reasons["conflicting_label"] == 1
    assert set(result.frame["source"]) == {"folders"}
    with pytest.raises(UserError, match="no class sub-folders"):
        read_folders(tmp_path / "Melanoma")


def test_merge_keeps_each_id_once_and_drops_conflicts(tmp_path: Path) -> None:
    write_jpegs(tmp_path / "img", ["a", "b", "c", "d"])
    img = tmp_path / "img"

    def index(name: str, rows: list[tuple[str, str, str]]) -> Path:
        import pandas as pd

        from dermcad.taxonomy import CLASSES_9

        frame = pd.DataFrame(
            {
                "image_id": [r[0] for r in rows],
                "path": [str(img / f"{r[0]}.jpg") for r in rows],
                "label": [r[1] for r in rows],
                "label_idx": [CLASSES_9.index(r[1]) for r in rows],
                "source": name,
                "lesion_id": [r[2] for r in rows],
            }
        )
        return write_index(frame, tmp_path / name / "index.csv")

    first = index("ham10000", [("a", "AK", "HAM_1"), ("b", "nevus", "HAM_2"), ("c", "BKL", "")])
    second = index("isic2019", [("a", "SCC", ""), ("b", "nevus", ""), ("d", "melanoma", "L4")])
    result = read_merge([first, second])
    assert _labels(result) == {"b": "nevus", "c": "BKL", "d": "melanoma"}
    assert result.reasons["conflicting_label"] == 1
    assert result.reasons["duplicate_id"] == 1
    frame = result.frame.set_index("image_id")
    assert frame.loc["b", "source"] == "ham10000"
    assert frame.loc["b", "lesion_id"] == "HAM_2"
    assert frame.loc["d", "path"] == str(img.resolve() / "d.jpg")
    with pytest.raises(UserError, match="index file not found"):
        read_merge([first, tmp_path / "none.csv"])
    assert read_index(first)["label"].tolist() == ["AK", "nevus", "BKL"]
