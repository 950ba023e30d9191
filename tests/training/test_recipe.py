from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dermcad.errors import UserError
from dermcad.training.recipe import Recipe, apply_overrides, load_recipe, recipe_to_yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.model.classes[recipe.model.classes.index("melanoma")] == "melanoma"


def test_thesis_recipes_are_the_issues() -> None:
    schedules = ["none", "step", "cosine", "cosine-warm-restarts"]
    for m in range(8):
        r = load_recipe(CONFIGS / "thesis" / f"m{m}.yaml")
        assert (r.model.net_type, r.data.img_size, r.optimizer.name) == ("resnet18", 256, "sgd")
        assert (r.optimizer.lr, r.optimizer.momentum) == (1e-3, 0.9)
        assert r.scheduler.name == schedules[m % 4]
        if m < 4:
            assert (r.epochs, r.batch_size, r.data.augment, r.model.head) == (
                20,
                400,
                "none",
                "linear",
            )
        else:
            assert (r.epochs, r.batch_size, r.patience) == (40, 1024, 10)
            assert (r.data.augment, r.model.head) == ("thesis", "multi_dropout")
    assert load_recipe(CONFIGS / "thesis" / "m1.yaml").scheduler.step_size == 15
    assert load_recipe(CONFIGS / "thesis" / "m1.yaml").scheduler.gamma == 0.2
    cosine = load_recipe(CONFIGS / "thesis" / "m2.yaml").scheduler
    assert (cosine.t_max, cosine.eta_min) == (20, 2e-4)
    restarts = load_recipe(CONFIGS / "thesis" / "m3.yaml").scheduler
    assert (restarts.t_0, restarts.eta_min) == (5, 1e-4)


def test_unknown_keys_are_rejected_with_their_path(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("optimizer: {name: sgd, lrr: 0.1}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"optimizer\.lrr"):
        load_recipe(path)
    with pytest.raises(UserError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(UserError, match="mapping"):
        load_recipe(path)


def test_overrides_are_typed_and_nested() -> None:
    recipe = load_recipe(
        None,
        [
            "optimizer.lr=3e-4",
            "model.head=dropout",
            "epochs=7",
            "model.metadata_features=[age, sex]",
        ],
    )
    assert recipe.optimizer.lr == pytest.approx(3e-4)
    assert recipe.model.head == "dropout"
    assert recipe.epochs == 7
    assert recipe.model.metadata_features == ("age", "sex")
    with pytest.raises(UserError, match="KEY=VALUE"):
        load_recipe(None, ["epochs"])
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


def test_balanced_sampler_and_class_weights_are_exclusive() -> None:
    with pytest.raises(UserError, match="either"):
        load_recipe(None, ["data.sampler=balanced", "loss.class_weights=inverse"])


def test_resolved_recipe_round_trips() -> None:
    recipe = load_recipe(None, ["scheduler.name=warmup-cosine"])
    again = Recipe.model_validate(yaml.safe_load(recipe_to_yaml(recipe)))
    assert again == recipe


def test_colour_constancy_reaches_the_run_spec() -> None:
    from dermcad.training.session import recipe_spec

    plain = Recipe.model_validate({"model": {"net_type": "resnet18"}})
    assert recipe_spec(plain).color_constancy == "none"
    sog = Recipe.model_validate(
        {"model": {"net_type": "resnet18"}, "data": {"color_constancy": "shades_of_gray"}}
    )
    spec = recipe_spec(sog)
    assert spec.color_constancy == "shades_of_gray"
    assert spec.img_size == recipe_spec(plain).img_size  # everything else as the backbone's
