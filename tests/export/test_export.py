"""``dermcad export``: ONNX with logits and features, parity with torch, int8, publishing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dermcad.cli.main import app
from dermcad.errors import UserError
from dermcad.export.from_run import ExportOptions, export_run
from dermcad.inference.runner import ModelRunner
from dermcad.inference.verify import verify_package
from dermcad.registry.store import open_package
from serving.tiny import Tiny, torch_probabilities

runner = CliRunner()


def test_package_has_dynamic_batch_and_both_outputs(tiny: Tiny) -> None:
    loaded = ModelRunner.open(open_package(tiny.registry, tiny.model_id))
    session = loaded.loaded.session
    [image] = session.get_inputs()
    assert (
        image.name == "image" and isinstance(image.shape[0], str) and image.shape[1:] == [3, 64, 64]
    )
    assert [o.name for o in session.get_outputs()] == ["logits", "features"]
    for n in (1, 5):
        logits, features = loaded.run(np.zeros((n, 3, 64, 64), np.float32), features=True)
        assert logits.shape == (n, 8) and features.shape[0] == n and features.ndim == 4


def test_cam_weights_reproduce_the_logits(tiny: Tiny) -> None:
    """logits = W . mean(features) + b: the stored classifier is the model's own."""
    loaded = ModelRunner.open(open_package(tiny.registry, tiny.model_id))
    batch = np.random.default_rng(1).normal(size=(3, 3, 64, 64)).astype(np.float32)
    logits, features = loaded.run(batch, features=True)
    assert loaded.loaded.classifier is not None
    weight, bias = loaded.loaded.classifier
    np.testing.assert_allclose(features.mean(axis=(2, 3)) @ weight.T + bias, logits, atol=1e-4)


def test_export_cli_publishes_and_refuses_to_replace(tiny: Tiny, tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    args = ["export", str(tiny.run_dir), "--registry", str(registry), "--id", "m1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "parity: max probability difference" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--replace" in again.output
    assert runner.invoke(app, [*args, "--replace"]).exit_code == 0
    assert sorted(p.name for p in registry.iterdir()) == ["m1"]
    assert verify_package(registry, "m1").ok
    # The run has its splits: export fitted the out-of-distribution guard on them.
    guard = open_package(registry, "m1").manifest.guard
    assert guard is not None and guard.method == "mahalanobis"
    assert "train split" in guard.fitted_on and guard.val_pass_rate is not None
    assert guard.val_pass_rate >= guard.pass_rate


def test_int8_export_measures_the_auc_change(tiny: Tiny, tmp_path: Path) -> None:
    report = export_run(tiny.run_dir, tmp_path / "reg", "m8", ExportOptions(int8=True))
    manifest = report.manifest
    assert manifest.precision == "int8" and manifest.quantization is not None
    q = manifest.quantization
    assert q.calibration_images > 0 and q.eval_split == "val" and q.eval_images > 0
    if q.fp32_melanoma_auc is not None and q.int8_melanoma_auc is not None:
        assert q.auc_change == pytest.approx(q.int8_melanoma_auc - q.fp32_melanoma_auc)
    package = tmp_path / "reg" / "m8"
    assert sorted(p.name for p in package.iterdir()) == [
        "classifier.npz",
        "model.json",
        "model.onnx",
    ]
    assert (package / "model.onnx").stat().st_size < (tiny.package / "model.onnx").stat().st_size
    assert verify_package(tmp_path / "reg", "m8").ok
    int8 = ModelRunner.open(open_package(tmp_path / "reg", "m8"))
    from dermcad.export.package import load_batch

    probs = np.array(
        [p.probabilities for p in int8.predict(load_batch(tiny.images[:8], int8.manifest.spec))]
    )
    assert np.abs(probs - torch_probabilities(tiny.run_dir, tiny.images[:8])).max() < 0.05


def test_parity_failure_fails_the_export(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dermcad.export.onnx_export as onnx_export

    original = onnx_export.torch_logits
    monkeypatch.setattr(
        onnx_export,
        "torch_logits",
        lambda model, batch, chunk=16: original(model, batch) + np.eye(8)[0] * 0.01,
    )
    with pytest.raises(UserError, match="parity check failed"):
        export_run(tiny.run_dir, tmp_path / "reg", "bad", ExportOptions())
    assert not (tmp_path / "reg").exists() or list((tmp_path / "reg").iterdir()) == []


def test_export_without_the_index_needs_images(tiny: Tiny, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny.run_dir, run)
    info = json.loads((run / "run.json").read_text())
    info["index"]["path"] = str(tmp_path / "gone.csv")
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="--images"):
        export_run(run, tmp_path / "reg", "m", ExportOptions())
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in tiny.images[:3]:
        shutil.copy(p, folder / p.name)
    report = export_run(run, tmp_path / "reg", "m", ExportOptions(images=folder))
    assert report.parity_images == 3 and report.parity_max_diff < 1e-4


def test_not_a_run_directory(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", str(tmp_path), "--registry", str(tmp_path / "r"), "--id", "x"]
    )
    assert result.exit_code == 2 and "run" in result.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("net", "size", "head"),
    [
        ("resnet18", 256, "linear"),
        ("efficientnet_lite0", 224, "linear"),
        ("tf_efficientnet_lite0", 224, "multi_dropout"),  # the shipped model's recipe
    ],
)
def test_shipped_architectures_export_with_parity(
    net: str, size: int, head: str, tiny: Tiny, tmp_path: Path
) -> None:
    import torch

    from dermcad.export.package import ExportInputs, write_package
    from dermcad.models import ModelConfig, build_model, preprocess_spec_for
    from dermcad.registry.store import publish

    torch.manual_seed(0)
    model = build_model(ModelConfig(net_type=net, head=head), load_pretrained=False).eval()
    inputs = ExportInputs(
        model=model,
        spec=preprocess_spec_for(net, size),
        net_type=net,
        classes=list(model.config.classes),
        origin="test",
        parity_images=tiny.images[:4],
    )
    reports = []
    publish(tmp_path, net, lambda f: reports.append(write_package(inputs, net, f, int8=False)))
    assert reports[0].parity_max_diff < 1e-4
    assert reports[0].manifest.outputs == ["logits", "features"]
    assert verify_package(tmp_path, net).ok


def test_a_model_without_cam_weights_exports_logits_only(tiny: Tiny, tmp_path: Path) -> None:
    """No ``features`` output, no classifier file; the API then has no heat maps."""
    from fastapi.testclient import TestClient

    from dermcad.api.app import create_app
    from dermcad.export.from_run import inputs_from_run
    from dermcad.export.package import write_package
    from dermcad.registry.store import publish
    from dermcad.settings import Settings

    inputs = inputs_from_run(tiny.run_dir, ExportOptions())
    inputs.model.classifier_weights = lambda: None
    registry = tmp_path / "reg"
    publish(registry, "plain", lambda f: write_package(inputs, "plain", f, int8=False))
    manifest = open_package(registry, "plain").manifest
    assert manifest.outputs == ["logits"] and not manifest.has_heatmaps
    assert sorted(p.name for p in (registry / "plain").iterdir()) == ["model.json", "model.onnx"]
    settings = Settings(registry=registry, data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        with tiny.images[0].open("rb") as handle:
            posted = client.post("/predict", files={"file": ("a.jpg", handle, "image/jpeg")})
        [item] = client.get(f"/from_task/{posted.json()['task_uuid']}").json()
        assert item["heatmap_url"] is None and item["prediction"] is not None
        task_id = posted.json()["task_uuid"]
        assert client.get(f"/tasks/{task_id}/heatmaps/0.png").status_code == 404
        assert client.get("/models").json()["models"][0]["has_heatmaps"] is False


def test_models_with_metadata_inputs_are_refused(tmp_path: Path) -> None:
    from dermcad.export.onnx_export import export_onnx
    from dermcad.models import ModelConfig, build_model

    model = build_model(ModelConfig(net_type="test_resnet", metadata_features=("age",)))
    with pytest.raises(UserError, match="metadata"):
        export_onnx(model, 64, tmp_path / "m.onnx", features=False)


def test_export_opens_the_written_package_through_open_models(
    tiny: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dermcad.inference.models as models

    opened: list[str] = []
    original = models.open_models

    def spy(config: models.ModelsConfig, exposed: list | None = None) -> dict:
        runners = original(config, exposed)
        opened.extend(runner.manifest.id for runner in runners.values())
        return runners

    monkeypatch.setattr(models, "open_models", spy)
    export_run(tiny.run_dir, tmp_path / "reg", "seen", ExportOptions())
    assert opened == ["seen"]
    # A package whose file does not give its recorded reference is not published.
    import dermcad.inference.verify as verify

    monkeypatch.setattr(verify, "max_prob_diff", lambda a, b, t=1.0: 1.0)
    with pytest.raises(UserError, match="parity"):
        export_run(tiny.run_dir, tmp_path / "reg", "broken", ExportOptions())
    assert not (tmp_path / "reg" / "broken").exists()


def test_evaluate_reports_the_guard_of_the_exported_package(tiny: Tiny, tmp_path: Path) -> None:
    """``dermcad evaluate --guard``: per evaluated set the share of dermoscopy refused, exactly
    what serving the package answers for the same images (``in_domain`` false)."""
    from dermcad.inference.models import ModelsConfig, open_models
    from dermcad.inference.predict import predict_files

    run_dir = tmp_path / "run"
    shutil.copytree(tiny.run_dir, run_dir)
    metrics_path = run_dir / "eval" / "metrics.json"
    stored = json.loads(metrics_path.read_text())
    stored["calibration"] |= {"tta": 1, "ece_before": 0.0, "ece_after": 0.0}  # reused as is
    metrics_path.write_text(json.dumps(stored))
    registry = tmp_path / "reg"
    export = ["export", str(run_dir), "--registry", str(registry), "--id", "g"]
    exported = runner.invoke(app, export)
    assert exported.exit_code == 0, exported.output
    index = json.loads((run_dir / "run.json").read_text())["index"]["path"]
    args = ["evaluate", str(run_dir), "--external", index, "--name", "synthetic", "--tta", "1"]
    args += ["--no-progress", "--bootstrap", "10"]
    result = runner.invoke(app, [*args, "--guard", str(registry / "g")])
    assert result.exit_code == 0, result.output
    figures = json.loads(metrics_path.read_text())["guard"]
    guard = open_package(registry, "g").manifest.guard
    assert guard is not None and figures["threshold"] == pytest.approx(guard.threshold)
    (served,) = open_models(ModelsConfig.one_package(registry / "g")).values()
    items = predict_files(served, [(p.name, p) for p in tiny.images], "g", tta=1)
    refused = sum(item["in_domain"] is False for item in items) / len(items)
    synthetic = figures["dermoscopy_refused"]["synthetic"]
    assert synthetic == {"n_images": len(tiny.images), "refused": pytest.approx(refused)}
    nonderm = figures["non_dermoscopy"]["all"]
    assert nonderm["n_images"] > 50 and "auroc_vs_val" not in nonderm  # no val evaluated
    assert "synthetic:" in result.output and "non-dermoscopy:" in result.output
    missing = runner.invoke(app, [*args, "--guard", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
