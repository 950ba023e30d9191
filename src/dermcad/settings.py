"""Runtime settings of the API and its workers: one pydantic-settings object, prefix ``DERMCAD_``.

Passed to :func:`dermcad.api.app.create_app`; nothing else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dermcad.errors import UserError, describe_errors
from dermcad.inference.preprocess import DEFAULT_MAX_PIXELS

MiB = 1024 * 1024
SHIPPED_MODEL_ID = "ham-isic2017-lite0-224"


def default_registry() -> Path:
    """The checkout's ``models/`` folder when run from a checkout, else ``./models``."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "src" / "dermcad").is_dir():
        return root / "models"
    return Path.cwd() / "models"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dermcad"


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` can never equal a browser's ``Origin`` header (matched exactly), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return "is not a valid address"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname or "@" in parts.netloc:
        return "names no host"
    if parts.path or parts.query or parts.fragment or origin.endswith(("?", "#")):
        return "has a path, query or trailing slash, which an origin never has"
    if port == 0:
        return "has port 0"
    return None


class Settings(BaseSettings):
    """Every setting can be given as ``DERMCAD_<NAME>`` (lists comma-separated)."""

    model_config = SettingsConfigDict(env_prefix="DERMCAD_", extra="forbid", frozen=True)

    registry: Path = Field(default_factory=default_registry, description="model registry folder")
    data_dir: Path = Field(
        default_factory=default_data_dir, description="task records and uploaded images"
    )
    models_config: Path | None = Field(
        default=None, description="YAML file: which models are exposed, under which ids"
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="exposed models, 'public-id=registry-id' or 'id', comma-separated "
        "(default: every model in the registry)",
    )
    default_model: str | None = Field(
        default=None,
        description=f"the default model id (else the configured default, else {SHIPPED_MODEL_ID} "
        "if exposed, else the first)",
    )
    max_file_bytes: int = Field(default=25 * MiB, gt=0, description="largest file accepted")
    max_request_bytes: int = Field(default=256 * MiB, gt=0, description="largest request body")
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, gt=0, description="pixels per image")
    max_files: int = Field(default=200, gt=0, description="images per request")
    ttl_seconds: float = Field(default=24 * 3600.0, gt=0, description="time results are kept")
    workers: int = Field(default=1, ge=1, le=64, description="worker threads")
    threads_per_worker: int = Field(
        default=0, ge=0, description="ONNX Runtime intra-op threads per worker (0: CPUs/workers)"
    )
    batch_size: int = Field(default=16, ge=1, le=256, description="images per model call")
    decode_concurrency: int = Field(
        default=0,
        ge=0,
        le=64,
        description="files of one request decoded at the same time (0: the CPUs, at most 4)",
    )
    from_task_wait: float = Field(
        default=300.0, ge=0, description="longest /from_task waits for a task (seconds)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS, comma-separated (none)"
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="if set, requests need 'Authorization: Bearer <key>', comma-separated",
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=1, le=65535, description="port to listen on")
    # The distributed back end (docs/deploy.md); unset broker_url means the embedded queue.
    broker_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://",
        description="Redis URL (redis://host:6379/0): Celery workers run the tasks, records live "
        "in Redis (default: the embedded queue)",
    )
    max_queued_tasks: int = Field(
        default=1000, ge=1, description="distributed: unfinished tasks before 503 + Retry-After"
    )
    task_attempts: int = Field(
        default=3, ge=1, le=20, description="distributed: deliveries of a task before it fails"
    )
    max_task_bytes: int = Field(
        default=256 * MiB, gt=0, description="distributed: decoded image bytes per task in Redis"
    )
    images_per_part: int = Field(
        default=64,
        ge=1,
        description="distributed: images per Celery message; a bulk task is split into parts "
        "that several workers share",
    )
    visibility_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="distributed: seconds before Celery delivers again a message whose worker "
        "was lost (longer than the longest part); the lease brings it back sooner",
    )
    lease_seconds: float = Field(
        default=15.0,
        ge=1,
        le=600,
        description="distributed: a running part's lease, renewed by its worker every fifth of "
        "it; a part whose lease runs out (its worker died) is sent again",
    )
    broker_timeout: float = Field(
        default=1.0, gt=0, le=60, description="distributed: Redis socket timeouts (seconds)"
    )
    onnx_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="ONNX Runtime execution providers in order of preference, comma-separated "
        "(e.g. CUDAExecutionProvider,CPUExecutionProvider with onnxruntime-gpu installed)",
    )

    @field_validator("models", "cors_origins", "api_keys", "onnx_providers", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and (reason := origin_problem(origin)):
                raise ValueError(
                    f"CORS origin {origin!r} {reason}: write scheme://host[:port] exactly as the "
                    "browser shows it, e.g. http://127.0.0.1:5173, several separated by commas"
                )
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 16 for key in value):
            raise ValueError("API keys must have at least 16 characters")
        return value

    def decode_window(self) -> int:
        """How many files of one request are decoded at the same time."""
        if self.decode_concurrency:
            return self.decode_concurrency
        return max(1, min(4, os.cpu_count() or 1))

    def intra_op_threads(self) -> int:
        if self.threads_per_worker:
            return self.threads_per_worker
        return max(1, (os.cpu_count() or 1) // self.workers)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and ``overrides``; invalid ones are a :class:`UserError`
    naming each ``DERMCAD_*`` variable and its problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = describe_errors(exc.errors(), env_prefix="DERMCAD_")
        raise UserError(f"invalid settings: {problems}") from exc


def settings_help() -> str:
    """The settings as a table for ``dermcad serve --help``."""
    lines = []
    for name, info in Settings.model_fields.items():
        factory = info.default_factory
        default = factory() if factory is not None else info.default  # type: ignore[call-arg]
        text = info.description or ""
        if "(default:" not in text:  # a description that states its default keeps its own
            text = f"{text} (default: {default!s})"
        lines.append(f"DERMCAD_{name.upper()}: {text}")
    return "\n\n".join(lines)
