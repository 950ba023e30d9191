"""Which models a server exposes: YAML file, environment list, or the whole registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermcad.errors import UserError
from dermcad.registry.exposure import parse_models_list, read_models_file, resolve_exposed
from serving.tiny import Tiny


def test_whole_registry_by_default(tiny: Tiny) -> None:
    [model] = resolve_exposed(tiny.registry, None)
    assert (model.id, model.default) == (tiny.model_id, True)


def test_aliases_from_the_environment_list(tiny: Tiny) -> None:
    exposed = resolve_exposed(tiny.registry, parse_models_list(["public=tiny", "tiny"]), "tiny")
    assert [(m.id, m.package.id, m.default) for m in exposed] == [
        ("public", "tiny", False),
        ("tiny", "tiny", True),
    ]


def test_yaml_file(tiny: Tiny, tmp_path: Path) -> None:
    config = tmp_path / "models.yaml"
    config.write_text(
        "default: b\nmodels:\n  - id: a\n    package: tiny\n"
        "  - id: b\n    package: tiny\n    display_name: Bee\n"
    )
    exposed = resolve_exposed(tiny.registry, read_models_file(config))
    assert [(m.id, m.display_name, m.default) for m in exposed] == [
        ("a", "Tiny test model", False),
        ("b", "Bee", True),
    ]


def test_preferred_default_when_exposed(tiny: Tiny) -> None:
    config = parse_models_list(["x=tiny", "tiny"])
    assert [m.default for m in resolve_exposed(tiny.registry, config, None, "tiny")] == [
        False,
        True,
    ]
    assert [m.default for m in resolve_exposed(tiny.registry, config, None, "nope")] == [
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: []\n", "models"),
        ("models:\n  - id: a\n    pakage: tiny\n", "pakage"),
        ("models:\n  - id: a\n    package: missing\n", "no model 'missing'"),
        ("models:\n  - id: a\n  - id: a\n", "repeat"),
        ("default: zzz\nmodels:\n  - id: tiny\n", "zzz"),
        ("models: [", "cannot read"),
    ],
)
def test_invalid_configurations_fail_at_start(
    tiny: Tiny, tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "models.yaml"
    config.write_text(text)
    with pytest.raises(UserError, match=message):
        resolve_exposed(tiny.registry, read_models_file(config))


def test_empty_registry_fails(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no models"):
        resolve_exposed(tmp_path, None)
