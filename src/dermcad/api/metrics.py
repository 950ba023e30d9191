"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    120.0,
    300.0,
)


ImageTotals = Callable[[], Mapping[str, float]]
_IMAGES = ("dermcad_images_classified", "Images classified, per model")


class _SharedImageCounts:
    """The images counter of the distributed back end: totals kept in Redis by the workers."""

    def __init__(self, totals: ImageTotals) -> None:
        self.totals = totals

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(*_IMAGES, labels=["model"])

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(*_IMAGES, labels=["model"])
        for model, count in sorted(self.totals().items()):
            family.add_metric([model], count)
        yield family


class Metrics:
    def __init__(
        self, queue_depth: Callable[[], float], image_totals: ImageTotals | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dermcad_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dermcad_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # In-process workers count here; the distributed back end's workers count in Redis.
        self.images: Counter | None = None
        if image_totals is None:
            self.images = Counter(*_IMAGES, ["model"], registry=self.registry)
        else:
            self.registry.register(_SharedImageCounts(image_totals))
        self.queue = Gauge("dermcad_queue_depth", "Tasks queued or running", registry=self.registry)
        self.queue.set_function(queue_depth)

    def observe_images(self, model_id: str, count: int) -> None:
        if self.images is not None:
            self.images.labels(model=model_id).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests and measures latency per route template (never per raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
