"""Stratified, grouped splits and the split file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermcad.data.index import read_index
from dermcad.data.splits import (
    group_keys,
    kfold_train_val,
    load_split,
    split_holdout,
    split_kfold,
    subset,
    write_split,
)
from dermcad.errors import UserError
from dermcad.taxonomy import CLASSES


@st.composite
def grouped_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Random indexes: images spread over patients and lesions, some ids missing."""
    n = draw(st.integers(min_value=3, max_value=80))
    n_patients = draw(st.integers(min_value=1, max_value=n))
    n_lesions = draw(st.integers(min_value=1, max_value=n))
    ints = st.integers
    patients = draw(st.lists(ints(0, n_patients - 1) | st.none(), min_size=n, max_size=n))
    lesions = draw(st.lists(ints(0, n_lesions - 1) | st.none(), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from(CLASSES[:4]), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "image_id": [f"img{i}" for i in range(n)],
            "label": labels,
            "patient_id": ["" if p is None else f"p{p}" for p in patients],
            "lesion_id": ["" if x is None else f"l{x}" for x in lesions],
        }
    )


def _crossing(frame: pd.DataFrame, assignment: dict[str, str], column: str) -> list[str]:
    named = frame[frame[column] != ""]
    sides = named.assign(side=named["image_id"].map(assignment)).groupby(column)["side"]
    return [str(k) for k, v in sides.nunique().items() if v > 1]


@settings(max_examples=150, deadline=None)
@given(frame=grouped_frames(), seed=st.integers(0, 2**16), folds=st.integers(2, 4))
def test_no_patient_or_lesion_ever_crosses_a_split(
    frame: pd.DataFrame, seed: int, folds: int
) -> None:
    n_groups = group_keys(frame, "auto").nunique()
    if n_groups >= 3:
        holdout = split_holdout(frame, seed=seed)
        assert set(holdout) == set(frame["image_id"])
        assert _crossing(frame, holdout, "patient_id") == []
        assert _crossing(frame, holdout, "lesion_id") == []
    if n_groups >= folds:
        kfold = split_kfold(frame, folds, seed=seed)
        assert _crossing(frame, kfold, "patient_id") == []
        assert _crossing(frame, kfold, "lesion_id") == []
        assert set(kfold.values()) == {str(k) for k in range(folds)}


@settings(max_examples=60, deadline=None)
@given(frame=grouped_frames(), group_by=st.sampled_from(["patient", "lesion"]))
def test_explicit_grouping_keeps_that_group_together(frame: pd.DataFrame, group_by: str) -> None:
    if group_keys(frame, group_by).nunique() < 3:
        return
    assignment = split_holdout(frame, seed=1, group_by=group_by)
    assert _crossing(frame, assignment, f"{group_by}_id") == []


def test_same_seed_same_split_other_seed_other_split(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index)
    first = split_holdout(frame, seed=7)
    assert split_holdout(frame.sample(frac=1.0, random_state=3), seed=7) == first
    assert split_holdout(frame, seed=8) != first


def test_sizes_and_class_shares_follow_the_request(synthetic_index: Path) -> None:
    frame = read_index(synthetic_index)
    assignment = split_holdout(frame, (0.6, 0.2, 0.2), seed=0)
    sides = frame["image_id"].map(assignment)
    shares = sides.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.05)
    assert shares["val"] == pytest.approx(0.2, abs=0.05)
    assert shares["test"] == pytest.approx(0.2, abs=0.05)
    for name in ("train", "val", "test"):
        assert set(frame.loc[sides == name, "label"]) == set(CLASSES)


def test_image_grouping_ignores_patients() -> None:
    frame = pd.DataFrame(
        {"image_id": list("abcdef"), "label": ["nevus"] * 6, "patient_id": ["p"] * 6}
    )
    assert len(set(split_holdout(frame, (0.5, 0.5), group_by="image").values())) == 2
    with pytest.raises(UserError, match="only 1 group"):
        split_holdout(frame, (0.5, 0.5), group_by="patient")


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1), (0.5, 0.6, -0.1), (1.0,), (0.25, 0.25, 0.25, 0.25)]
)
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    frame = pd.DataFrame({"image_id": list("abcd"), "label": ["nevus"] * 4})
    with pytest.raises(UserError):
        split_holdout(frame, fractions)


def test_unknown_grouping_is_refused() -> None:
    frame = pd.DataFrame({"image_id": list("abcd"), "label": ["nevus"] * 4})
    with pytest.raises(UserError, match="grouping"):
        split_holdout(frame, group_by="hospital")


def test_split_file_roundtrip_and_fingerprint_check(synthetic_index: Path, tmp_path: Path) -> None:
    frame = read_index(synthetic_index)
    assignment = split_holdout(frame, seed=3)
    path = write_split(
        tmp_path / "split.json",
        frame,
        assignment,
        seed=3,
        group_by="auto",
        fractions=(0.8, 0.1, 0.1),
    )
    record = json.loads(path.read_text())
    assert record["format"] == "dermcad-split/1"
    assert record["scheme"] == "holdout"
    assert record["seed"] == 3
    assert sum(record["counts"]["test"].values()) == list(assignment.values()).count("test")
    split = load_split(path, frame)
    assert split.assignment == assignment
    assert split.names == ("train", "val", "test")
    test_rows = subset(frame, split, "test")
    assert set(test_rows["image_id"]) == {i for i, s in assignment.items() if s == "test"}
    other = frame.assign(label=frame["label"].where(frame.index != 0, "unknown"))
    with pytest.raises(UserError, match="another index"):
        load_split(path, other)
    with pytest.raises(UserError, match="no split named"):
        subset(frame, split, "holdout")


def test_kfold_file_and_train_val(synthetic_index: Path, tmp_path: Path) -> None:
    frame = read_index(synthetic_index)
    assignment = split_kfold(frame, 4, seed=0)
    path = write_split(tmp_path / "k.json", frame, assignment, seed=0, group_by="auto", folds=4)
    split = load_split(path, frame)
    assert split.scheme == "kfold"
    assert split.names == ("0", "1", "2", "3")
    train, val = kfold_train_val(frame, split, 2)
    assert len(train) + len(val) == len(frame)
    assert set(train["patient_id"]).isdisjoint(val["patient_id"])
    sizes = pd.Series(assignment).value_counts()
    assert sizes.max() - sizes.min() <= 0.1 * len(frame)


def test_load_split_refuses_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_split(tmp_path / "none.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(UserError, match=r"garbage\.json"):
        load_split(garbage)
    partial = tmp_path / "partial.json"
    partial.write_text('{"format": "dermcad-split/1", "scheme": "holdout"}')
    with pytest.raises(UserError, match="malformed split file"):
        load_split(partial)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"format": "other"}')
    with pytest.raises(UserError, match="not a dermcad-split/1"):
        load_split(wrong)


@pytest.mark.realdata
def test_ham10000_by_lesion_keeps_class_shares_within_1_5_points(shared_data: Path) -> None:
    meta = pd.read_csv(shared_data / "ham10000-200x150" / "HAM10000_metadata.csv")
    frame = pd.DataFrame(
        {"image_id": meta["image_id"], "label": meta["dx"], "lesion_id": meta["lesion_id"]}
    )
    assignment = split_holdout(frame, (0.8, 0.1, 0.1), seed=42, group_by="lesion")
    sides = frame["image_id"].map(assignment)
    overall = frame["label"].value_counts(normalize=True)
    for name, fraction in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        part = frame[sides == name]
        assert len(part) / len(frame) == pytest.approx(fraction, abs=0.01)
        shares = part["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0)
        assert ((shares - overall).abs() * 100).max() <= 1.5
    assert _crossing(frame, assignment, "lesion_id") == []
