"""``dermcad registry verify``: schema, sha256, and a parity run against stored reference logits.

At export the package records seeded inputs (regenerated here from the seed) and the logits the
reference (the torch model, or for int8 packages the quantized model itself) gave for them. Verify
runs the ONNX file on the same inputs and compares calibrated probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dermcad.errors import UserError
from dermcad.inference.models import ModelsConfig, open_models
from dermcad.inference.runner import ModelRunner
from dermcad.inference.runtime import RuntimeOptions, check_files, load_guard
from dermcad.inference.tta import softmax
from dermcad.registry.store import open_package


def parity_inputs(seed: int, n: int, img_size: int) -> np.ndarray:
    """Deterministic model inputs ``[n, 3, S, S]``, uniform in [-2, 2] (normalised-pixel range)."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, 3, img_size, img_size), dtype=np.float32) * 4.0 - 2.0).astype(np.float32)


def max_prob_diff(logits_a: np.ndarray, logits_b: np.ndarray, temperature: float = 1.0) -> float:
    """Largest absolute difference between the calibrated probabilities of two logit arrays."""
    return float(np.abs(softmax(logits_a, temperature) - softmax(logits_b, temperature)).max())


def parity_diff(runner: ModelRunner) -> float:
    """Largest probability difference between an opened package and its parity reference."""
    manifest = runner.manifest
    if manifest.parity is None:
        raise UserError(f"model {manifest.id!r}: the manifest holds no parity reference")
    parity = manifest.parity
    logits = runner.logits(parity_inputs(parity.seed, parity.n, manifest.img_size))
    return max_prob_diff(np.asarray(parity.logits), logits, manifest.temperature)


@dataclass
class VerifyReport:
    model_id: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append((name, passed, detail))


def verify_package(
    registry: Path, model_id: str, options: RuntimeOptions = RuntimeOptions()
) -> VerifyReport:
    """Run every check; the report says which passed (never raises for a failed check)."""
    report = VerifyReport(model_id)
    try:
        package = open_package(registry, model_id)
    except UserError as exc:
        report.add("schema", False, str(exc))
        return report
    report.add("schema", True, "model.json is a valid manifest")
    try:
        check_files(package)  # a missing runtime shows under "parity", where the model is opened
    except UserError as exc:
        report.add("sha256", False, str(exc))
        return report
    report.add("sha256", True, package.manifest.sha256)
    guard = package.manifest.guard
    if guard is None:
        report.add("guard", True, "absent: images are not checked for being dermoscopy")
    else:
        try:
            load_guard(package)
        except UserError as exc:
            report.add("guard", False, str(exc))
            return report
        report.add("guard", True, f"{guard.method}, threshold {guard.threshold:.4g}")
    parity = package.manifest.parity
    if parity is None:
        report.add("parity", False, "the manifest holds no parity reference")
        return report
    try:
        (runner,) = open_models(ModelsConfig.one_package(package.path, options)).values()
        diff = parity_diff(runner)
    except UserError as exc:
        report.add("parity", False, str(exc))
        return report
    report.add(
        "parity",
        diff < parity.tolerance,
        f"max probability difference {diff:.2e} vs {parity.reference} "
        f"(tolerance {parity.tolerance:.0e})",
    )
    return report
