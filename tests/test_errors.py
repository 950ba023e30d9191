"""Validation errors read as one line that names each bad value's place."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from dermcad.errors import UserError, describe_errors
from dermcad.settings import load_settings
from dermcad.training.recipe import recipe_from_mapping


class _Inner(BaseModel):
    lr: float


class _Outer(BaseModel):
    optimizer: _Inner
    epochs: int


def test_each_problem_is_named_by_its_location() -> None:
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"optimizer": {"lr": "fast"}, "epochs": "many"})
    text = describe_errors(info.value.errors())
    assert text.startswith("optimizer.lr: ")
    assert "; epochs: " in text
    assert describe_errors(info.value.errors(), env_prefix="X_").startswith("X_OPTIMIZER.LR: ")
    assert describe_errors([{"loc": (), "msg": "bad"}]) == "(top): bad"


def test_settings_errors_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERMCAD_PORT", "not-a-port")
    with pytest.raises(UserError, match=r"^invalid settings: DERMCAD_PORT: "):
        load_settings()


def test_recipe_errors_name_the_file_and_the_key() -> None:
    with pytest.raises(UserError, match=r"^m9\.yaml: invalid recipe: epochs: "):
        recipe_from_mapping({"epochs": 0}, "m9.yaml")
