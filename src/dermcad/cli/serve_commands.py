"""Serving commands: ``export``, ``registry list|show|verify|remove``, ``predict``, ``serve``.

Heavy modules (torch, onnxruntime, uvicorn) are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dermcad.cli.errors import reports_user_errors

DEFAULT_REGISTRY_HELP = (
    "model registry folder (default: $DERMCAD_REGISTRY, else the checkout's models/)"
)

registry_app = typer.Typer(
    help="List, inspect, verify and remove published model packages.", no_args_is_help=True
)


def _registry(path: Path | None) -> Path:
    if path is not None:
        return path
    from dermcad.settings import Settings, default_registry

    try:
        return Settings().registry
    except Exception:  # an unrelated bad DERMCAD_ variable must not hide the registry
        return default_registry()


@reports_user_errors
def export(
    run: Path = typer.Argument(..., help="run directory written by `dermcad train`"),
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
    model_id: str = typer.Option(..., "--id", help="id of the published model"),
    int8: bool = typer.Option(
        False, "--int8", help="publish an int8 model; the AUC change goes in the card"
    ),
    quantizer: str = typer.Option(
        None,
        "--quantizer",
        help="with --int8: 'onnxruntime' (default; static QDQ, served by ONNX Runtime) or "
        "'openvino' (NNCF post-training quantization; the package is always served by OpenVINO, "
        "11x ONNX Runtime's speed on an AMX CPU, docs/performance.md; needs pip install "
        "'dermcad\\[quantize]')",
    ),
    replace: bool = typer.Option(False, "--replace", help="replace an existing model of this id"),
    images: Path = typer.Option(
        None,
        "--images",
        help="images for the parity check and int8 calibration "
        "(default: the run's validation and training splits)",
    ),
    display_name: str = typer.Option("", "--display-name", help="name shown in the web UI"),
    card: Path = typer.Option(None, "--card", help="Markdown file: the model card text"),
    license_text: str = typer.Option("", "--license", help="licence of the model and its data"),
    guard: bool = typer.Option(
        True,
        "--guard/--no-guard",
        help="fit the out-of-distribution guard on the run's train split, threshold on val "
        "(skipped when the run's splits are gone; `dermcad registry guard` refits it later)",
    ),
) -> None:
    """Export a trained run to ONNX, check parity with torch (< 1e-4) and publish it."""
    from dermcad.errors import UserError
    from dermcad.export.from_run import ExportOptions, export_run

    if quantizer is not None and quantizer not in ("onnxruntime", "openvino"):
        raise UserError(f"--quantizer must be onnxruntime or openvino, not {quantizer!r}")
    if quantizer is not None and not int8:
        raise UserError("--quantizer needs --int8")
    options = ExportOptions(
        int8=int8,
        int8_runtime="openvino" if quantizer == "openvino" else "onnxruntime",
        replace=replace,
        images=images,
        display_name=display_name,
        card=card.read_text(encoding="utf-8") if card else "",
        license=license_text,
        guard=guard,
    )
    target = _registry(registry)
    report = export_run(run, target, model_id, options)
    manifest = report.manifest
    typer.echo(
        f"published {manifest.id} ({manifest.precision}, runtime {manifest.runtime}) "
        f"in {target / manifest.id}"
    )
    typer.echo(
        f"parity: max probability difference {report.parity_max_diff:.2e} torch vs ONNX Runtime "
        f"on {report.parity_images} images"
    )
    if manifest.quantization is not None:
        q = manifest.quantization
        typer.echo(
            f"int8: melanoma AUC {q.fp32_melanoma_auc} -> {q.int8_melanoma_auc} "
            f"({q.eval_split} split, {q.eval_images} images, one view, int8 on {manifest.runtime})"
        )


@registry_app.command("list")
@reports_user_errors
def registry_list(
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
) -> None:
    """One line per model: id, network, precision, test melanoma AUC."""
    from dermcad.registry.store import list_packages

    for package in list_packages(_registry(registry)):
        m = package.manifest
        test = m.metrics.get("test")
        auc = f"{test.melanoma_auc:.3f}" if test and test.melanoma_auc is not None else "-"
        typer.echo(f"{m.id}\t{m.net_type}\t{m.img_size}px\t{m.precision}\ttest AUC {auc}")


@registry_app.command("show")
@reports_user_errors
def registry_show(
    model_id: str = typer.Argument(..., help="model id"),
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
) -> None:
    """Print a model's manifest (model.json)."""
    from dermcad.registry.store import open_package

    manifest = open_package(_registry(registry), model_id).manifest
    typer.echo(json.dumps(manifest.model_dump(mode="json", exclude={"parity"}), indent=2))


@registry_app.command("verify")
@reports_user_errors
def registry_verify(
    model_id: str = typer.Argument(..., help="model id"),
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
) -> None:
    """Check a model: manifest schema, sha256 of its files and a parity run; exit 1 on failure."""
    from dermcad.inference.verify import verify_package

    report = verify_package(_registry(registry), model_id)
    for name, passed, detail in report.checks:
        typer.echo(f"{'ok' if passed else 'FAIL'}\t{name}\t{detail}")
    if not report.ok:
        raise typer.Exit(1)


@registry_app.command("guard")
@reports_user_errors
def registry_guard(
    model_id: str = typer.Argument(..., help="model id"),
    index: Path = typer.Option(..., "--index", help="index CSV of the model's training data"),
    split: Path = typer.Option(..., "--split", help="split JSON of that index"),
    fit_split: str = typer.Option("train", "--fit-split", help="split to fit the guard on"),
    threshold_split: str = typer.Option(
        "val", "--threshold-split", help="split whose images set the threshold"
    ),
    method: str = typer.Option("mahalanobis", "--method", help="mahalanobis or energy"),
    pass_rate: float = typer.Option(
        0.99, "--pass-rate", help="share of the threshold split's images that must pass"
    ),
    components: int = typer.Option(
        32, "--components", help="principal directions of the Mahalanobis covariance"
    ),
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
) -> None:
    """Fit (or refit) a model's out-of-distribution guard and store it in its package."""
    from dermcad.errors import UserError
    from dermcad.export.guard_package import GuardSettings, add_guard
    from dermcad.inference.guard import GUARD_METHODS
    from dermcad.registry.store import open_package

    if method not in GUARD_METHODS:
        raise UserError(f"--method must be one of {', '.join(GUARD_METHODS)}, not {method!r}")
    if components < 1:
        raise UserError("--components must be at least 1")
    package = open_package(_registry(registry), model_id)
    settings = GuardSettings(
        index=index,
        split=split,
        fit_split=fit_split,
        threshold_split=threshold_split,
        method="energy" if method == "energy" else "mahalanobis",
        pass_rate=pass_rate,
        components=components,
    )
    add_guard(package.path, settings, typer.echo)


@registry_app.command("remove")
@reports_user_errors
def registry_remove(
    model_id: str = typer.Argument(..., help="model id"),
    registry: Path = typer.Option(None, "--registry", help=DEFAULT_REGISTRY_HELP),
) -> None:
    """Delete a model package."""
    from dermcad.registry.store import remove

    remove(_registry(registry), model_id)
    typer.echo(f"removed {model_id}")


@reports_user_errors
def predict(
    inputs: list[Path] = typer.Argument(..., help="images (JPEG, PNG) and folders of images"),
    model: Path = typer.Option(..., "--model", help="model package folder (<registry>/<id>)"),
    out: Path = typer.Option(Path("results.csv"), "--out", help="CSV file to write"),
    tta: int = typer.Option(
        None, "--tta", help="test-time augmentation views: 1, 4 or 8 (default: the model's)"
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="images per model call"),
    heatmaps: Path = typer.Option(
        None,
        "--heatmaps",
        help="also write each image's heat-map overlay (the API's) to this folder as <row>.png",
    ),
) -> None:
    """Classify images offline, without a server; the CSV has the API's result fields."""
    import os

    from dermcad.errors import UserError
    from dermcad.inference.models import ModelsConfig, open_models
    from dermcad.inference.predict import collect_images, predict_files, write_results_csv
    from dermcad.inference.runtime import RuntimeOptions

    if tta is not None and tta not in (1, 4, 8):
        raise UserError(f"--tta must be 1, 4 or 8, not {tta}")
    config = ModelsConfig.one_package(model, RuntimeOptions(os.cpu_count() or 1), batch_size)
    images = collect_images(inputs)
    (runner,) = open_models(config).values()
    package = runner.loaded.package
    items = predict_files(runner, images, package.id, tta, heatmaps)
    write_results_csv(items, list(package.manifest.classes), out)
    failed = sum(1 for item in items if item["error"])
    flagged = sum(1 for item in items if item["prediction"] and item["prediction"]["target"])
    outside = [item for item in items if item["in_domain"] is False]
    guard = "" if runner.guard is not None else " (this model has no out-of-distribution guard)"
    typer.echo(
        f"{len(items)} images, {flagged} flagged melanoma, {len(outside)} not dermoscopy, "
        f"{failed} unreadable -> {out}{guard}"
    )
    for item in outside:
        typer.echo(f"  {item['name']}: {item['ood_reason']}")


def _serve_help() -> str:
    """The settings table, read from the settings type; on an install without the serving
    dependencies (a training-only machine) a line that says so, so that ``dermcad --help`` and
    the data and training commands still work there."""
    intro = "Serve the API and the web UI (embedded task queue, no other services). "
    try:
        from dermcad.settings import settings_help
    except ImportError as exc:
        return intro + f"Its settings need the serving dependencies ({exc.name} is missing)."
    return intro + "Settings come from the environment:\n\n" + settings_help()


@reports_user_errors
def serve(
    host: str = typer.Option(None, "--host", help="address to listen on (DERMCAD_HOST)"),
    port: int = typer.Option(None, "--port", help="port (DERMCAD_PORT)"),
) -> None:
    from dermcad.api.app import create_app
    from dermcad.inference.models import ModelsConfig, exposed_models
    from dermcad.settings import load_settings

    overrides: dict[str, Any] = {
        k: v for k, v in {"host": host, "port": port}.items() if v is not None
    }
    settings = load_settings(**overrides)
    exposed = exposed_models(
        ModelsConfig.from_settings(settings)
    )  # fail here, in one line, not inside the server
    from dermcad.inference.runtime import check_integrity

    for model in exposed:  # a changed or damaged model file too (sha256 against the manifest)
        check_integrity(model.package)
    typer.echo(
        f"serving {', '.join(m.id for m in exposed)} on http://{settings.host}:{settings.port}"
    )
    typer.echo(
        f"CORS: browser pages from {', '.join(settings.cors_origins)} may call this API"
        if settings.cors_origins
        else "CORS: off, only this server's own page may call the API from a browser "
        "(DERMCAD_CORS_ORIGINS allows others)"
    )
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("export")(export)
    app.command("predict")(predict)
    app.command("serve", help=_serve_help())(serve)
    app.add_typer(registry_app, name="registry")
