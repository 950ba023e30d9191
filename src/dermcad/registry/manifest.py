"""The model manifest (``model.json``): one schema for every published model.

See docs/architecture.md, "Model package".

Pure pydantic, no torch, no onnxruntime: the registry commands, the API and a model card all read
it. The top level forbids unknown keys, so a typo in a hand-edited manifest fails loudly; the
metric objects allow extra keys beside the fixed ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dermcad.decision import DecisionRule
from dermcad.errors import UserError, describe_errors
from dermcad.inference.preprocess import PreprocessSpec
from dermcad.taxonomy import TARGET_CLASS

MANIFEST_FORMAT: Final = "dermcad-model/1"
MANIFEST_NAME = "model.json"
ONNX_NAME = "model.onnx"
CLASSIFIER_NAME = "classifier.npz"
GUARD_NAME = "guard.npz"
GUARD_FORMAT: Final = "dermcad-guard/1"
#: The ONNX graph's names in packages whose manifest predates the ``input`` description, and the
#: names ``dermcad export`` gives: one input, ``logits`` always, ``features`` for heat maps.
INPUT_NAME = "image"
LOGITS_OUTPUT = "logits"
FEATURES_OUTPUT = "features"
TTA_CHOICES: tuple[int, ...] = (1, 4, 8)  # dihedral views: identity, flips, all eight
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Runtime = Literal["onnxruntime", "openvino"]


class PreprocessInfo(BaseModel):
    """The preprocessing spec as stored: mirrors
    :class:`dermcad.inference.preprocess.PreprocessSpec`."""

    model_config = ConfigDict(extra="forbid")

    img_size: int = Field(ge=8)
    resize: Literal["squash"] = "squash"
    interpolation: Literal["bilinear", "bicubic", "nearest", "lanczos"] = "bilinear"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: Literal["RGB"] = "RGB"
    layout: Literal["NCHW"] = "NCHW"
    color_constancy: Literal["none", "shades_of_gray"] = "none"
    color_constancy_power: int = Field(default=6, ge=1)

    def to_spec(self) -> PreprocessSpec:
        return PreprocessSpec.from_dict(self.model_dump())

    @classmethod
    def from_spec(cls, spec: PreprocessSpec) -> PreprocessInfo:
        return cls.model_validate(spec.to_dict())


class InputInfo(BaseModel):
    """The model's input as data: a float32 ``[N, 3, size, size]`` RGB batch (NCHW), the output of
    the one preprocessing function, whose values lie in ``value_range``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default=INPUT_NAME, min_length=1)
    dtype: Literal["float32"] = "float32"
    layout: Literal["NCHW"] = "NCHW"
    channels: Literal["RGB"] = "RGB"
    size: int = Field(ge=8)
    value_range: tuple[float, float]

    @classmethod
    def for_spec(cls, spec: PreprocessSpec, name: str = INPUT_NAME) -> InputInfo:
        """What :func:`dermcad.inference.preprocess.to_array` produces for ``spec``: pixel values
        0..255 scaled to 0..1, less the mean, over the standard deviation, per channel."""
        mean = np.asarray(spec.mean, dtype=np.float64)
        std = np.asarray(spec.std, dtype=np.float64)
        low = float(np.min((0.0 - mean) / std))
        high = float(np.max((1.0 - mean) / std))
        return cls(name=name, size=spec.img_size, value_range=(round(low, 6), round(high, 6)))


class SplitMetrics(BaseModel):
    """``metrics.<split>``: a flat object with fixed keys; other keys may sit beside them."""

    model_config = ConfigDict(extra="allow")

    melanoma_auc: float | None
    melanoma_auc_ci95: tuple[float, float] | None = None
    balanced_accuracy: float | None = None
    macro_auc: float | None = None
    pauc_80: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    n_images: int = Field(ge=0)
    tta: int = 1
    split_id: str | None = None


class Calibration(BaseModel):
    """Temperature scaling and the melanoma decision threshold with its operating point."""

    model_config = ConfigDict(extra="allow")

    temperature: float = Field(default=1.0, gt=0)
    threshold: float = Field(default=0.5, ge=0, le=1)
    operating_point: str = "argmax-equivalent default (0.5); not calibrated"


class Parity(BaseModel):
    """Reference outputs for ``registry verify``: seeded inputs and the logits they must give."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    n: int = Field(ge=1)
    reference: Literal["torch", "onnxruntime", "openvino"]
    logits: list[list[float]]
    max_prob_diff: float
    tolerance: float = Field(gt=0)
    images_checked: int = Field(default=0, ge=0)


class Quantization(BaseModel):
    """How an int8 package was made and what it cost."""

    model_config = ConfigDict(extra="allow")

    method: str
    calibration_images: int = Field(ge=0)
    fp32_melanoma_auc: float | None = None
    int8_melanoma_auc: float | None = None
    auc_change: float | None = None
    eval_split: str | None = None
    eval_images: int = 0


class GuardInfo(BaseModel):
    """``guard``: the out-of-distribution guard (:mod:`dermcad.inference.guard`), versioned.

    An image whose ``score`` (of the identity view) is above ``threshold`` is out of domain: it is
    never flagged as melanoma. ``figures`` holds what was measured when it was fitted (pass rates
    on real dermoscopy, refusal rates and AUROC on non-dermoscopy images); extra keys are allowed
    beside the fixed ones."""

    model_config = ConfigDict(extra="allow")

    format: Literal["dermcad-guard/1"] = GUARD_FORMAT
    method: Literal["mahalanobis", "energy"]
    file: Literal["guard.npz"] | None = "guard.npz"  # None for ``energy`` (nothing to store)
    components: int | None = Field(default=None, ge=1)
    threshold: float
    pass_rate: float = Field(gt=0, le=1)  # the share of validation images meant to pass
    val_pass_rate: float | None = Field(default=None, ge=0, le=1)  # the share that did
    fitted_on: str
    threshold_on: str
    figures: dict[str, Any] = {}
    created: str = ""


class Manifest(BaseModel):
    """Everything needed to use ``model.onnx`` without the code that wrote it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format: Literal["dermcad-model/1"] = MANIFEST_FORMAT
    id: str = Field(pattern=MODEL_ID_PATTERN)
    version: str = "1"
    display_name: str = ""
    origin: str
    net_type: str
    img_size: int = Field(ge=8)
    out_dim: int = Field(ge=2)
    classes: list[str]
    target_class: str = TARGET_CLASS
    preprocess: PreprocessInfo
    tta: int = 1
    calibration: Calibration = Calibration()
    metrics: dict[str, SplitMetrics] = {}
    recipe: dict[str, Any] = {}
    dataset: dict[str, Any] = {}
    versions: dict[str, str] = {}
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    classifier_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    outputs: list[str] = [LOGITS_OUTPUT]
    # The out-of-distribution guard and the sha256 of its file; absent in older packages.
    guard: GuardInfo | None = None
    guard_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # The input as data; absent in older manifests, whose input is ``InputInfo.for_spec``.
    input: InputInfo | None = None
    precision: Literal["fp32", "int8"] = "fp32"
    # The runtime that must run model.onnx: "openvino" for NNCF-quantized int8 packages, which
    # ONNX Runtime runs without a speed-up (docs/performance.md); absent in older manifests.
    runtime: Runtime = "onnxruntime"
    quantization: Quantization | None = None
    parity: Parity | None = None
    created: str
    intended_use: str
    license: str = ""
    card: str = ""

    @field_validator("tta")
    @classmethod
    def _tta_choice(cls, value: int) -> int:
        if value not in TTA_CHOICES:
            raise ValueError(f"tta must be one of {TTA_CHOICES}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if len(self.classes) != self.out_dim:
            raise ValueError(f"out_dim is {self.out_dim} but {len(self.classes)} classes are named")
        if self.target_class not in self.classes:
            raise ValueError(f"target_class {self.target_class!r} is not one of the classes")
        if self.preprocess.img_size != self.img_size:
            raise ValueError("preprocess.img_size differs from img_size")
        if LOGITS_OUTPUT not in self.outputs:
            raise ValueError(f"outputs must include {LOGITS_OUTPUT!r}")
        if self.input is not None and self.input.size != self.img_size:
            raise ValueError("input.size differs from img_size")
        if self.guard is not None:
            if (self.guard.file is None) != (self.guard_sha256 is None):
                raise ValueError("guard.file and guard_sha256 go together")
            if self.guard.method == "mahalanobis" and (
                FEATURES_OUTPUT not in self.outputs or self.guard.file is None
            ):
                raise ValueError("a mahalanobis guard needs the 'features' output and its file")
        elif self.guard_sha256 is not None:
            raise ValueError("guard_sha256 without a guard section")
        return self

    @property
    def has_heatmaps(self) -> bool:
        return FEATURES_OUTPUT in self.outputs and self.classifier_sha256 is not None

    @property
    def model_input(self) -> InputInfo:
        """The input description: the stored one, or today's default for older manifests."""
        return self.input if self.input is not None else InputInfo.for_spec(self.spec)

    @property
    def spec(self) -> PreprocessSpec:
        return self.preprocess.to_spec()

    @property
    def decision_rule(self) -> DecisionRule:
        """The one decision rule (:mod:`dermcad.decision`): ``target_class`` and the threshold."""
        return DecisionRule.of(self.classes, self.threshold, self.target_class)

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    @property
    def temperature(self) -> float:
        return self.calibration.temperature

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def parse_manifest(data: dict[str, Any], source: str) -> Manifest:
    """Validate manifest data; a :class:`UserError` naming ``source`` and every problem."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc.errors())
        raise UserError(f"{source}: invalid model manifest: {problems}") from exc


def read_manifest(path: Path) -> Manifest:
    """Read and validate ``model.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no model manifest here") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the model manifest: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: a model manifest is a JSON object")
    return parse_manifest(data, str(path))
