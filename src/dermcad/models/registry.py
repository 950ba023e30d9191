"""The backbone registry: every network dermcad knows, described by data (timm-style).

Each entry names the timm architecture and the preprocessing its weights expect. Names that are
not registered here are still accepted when timm knows them; their preprocessing comes from timm's
own pretrained configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermcad.errors import UserError
from dermcad.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, Interpolation, PreprocessSpec

INCEPTION_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
INCEPTION_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneEntry:
    """One registered backbone: the timm architecture and its input contract."""

    name: str
    timm_name: str
    img_size: int
    interpolation: Interpolation = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    description: str = ""

    def preprocess_spec(self, img_size: int | None = None) -> PreprocessSpec:
        return PreprocessSpec(
            img_size=img_size or self.img_size,
            interpolation=self.interpolation,
            mean=self.mean,
            std=self.std,
        )


_EFFICIENTNET_SIZES = (224, 240, 260, 300, 380, 456, 528, 600)


def _default_entries() -> list[BackboneEntry]:
    entries = [
        BackboneEntry("resnet18", "resnet18", 256, description="the thesis' network (256 px)"),
        BackboneEntry("resnet34", "resnet34", 256),
        BackboneEntry("resnet50", "resnet50", 256),
        BackboneEntry("convnext_tiny", "convnext_tiny", 224, "bicubic"),
        BackboneEntry("efficientnet_lite0", "efficientnet_lite0", 224, "bicubic"),
        BackboneEntry(
            "tf_efficientnet_lite0",
            "tf_efficientnet_lite0",
            224,
            "bicubic",
            INCEPTION_MEAN,
            INCEPTION_STD,
            "TensorFlow-padded Lite0; takes the offline ImageNet weights",
        ),
    ]
    for b, size in enumerate(_EFFICIENTNET_SIZES):
        entries.append(BackboneEntry(f"efficientnet_b{b}", f"efficientnet_b{b}", size, "bicubic"))
    return entries


def _build_table(entries: list[BackboneEntry]) -> dict[str, BackboneEntry]:
    table: dict[str, BackboneEntry] = {}
    for entry in entries:
        if entry.name in table:
            raise ValueError(f"backbone {entry.name!r} registered twice")
        table[entry.name] = entry
    return table


BACKBONES: dict[str, BackboneEntry] = _build_table(_default_entries())


def list_backbones() -> list[str]:
    """The registered names (any other timm name also works)."""
    return sorted(BACKBONES)


def get_backbone(name: str) -> BackboneEntry:
    """The registry entry for ``name``, or one derived from timm's configuration for that name."""
    if name in BACKBONES:
        return BACKBONES[name]
    import timm

    if not timm.is_model(name):
        raise UserError(
            f"unknown backbone {name!r}: not registered ({', '.join(list_backbones())}) "
            "and not a timm model name"
        )
    cfg = timm.get_pretrained_cfg(name)
    if cfg is None:
        return BackboneEntry(name, name, 224)
    interpolation: Interpolation = "bicubic" if cfg.interpolation == "bicubic" else "bilinear"
    return BackboneEntry(
        name,
        name,
        int(cfg.input_size[-1]),
        interpolation,
        tuple(float(v) for v in cfg.mean),  # type: ignore[arg-type]
        tuple(float(v) for v in cfg.std),  # type: ignore[arg-type]
    )


def preprocess_spec_for(net_type: str, img_size: int | None = None) -> PreprocessSpec:
    """The preprocessing a backbone's weights expect, optionally at another image size."""
    return get_backbone(net_type).preprocess_spec(img_size)
