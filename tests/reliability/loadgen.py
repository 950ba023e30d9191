"""A small load generator: N asyncio clients post images and wait for their results for a bounded
time, against a server on loopback, while the server's RSS is sampled."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx

from .live import rss_bytes

MiB = 1024 * 1024


@dataclass
class LoadReport:
    clients: int
    seconds: float
    start: float = 0.0  # time.monotonic() at the start
    accepted: list[str] = field(default_factory=list)
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # post -> results, seconds
    rss: list[tuple[float, int]] = field(default_factory=list)  # (time since start, bytes)
    images: int = 0
    finished: list[float] = field(default_factory=list)  # time since start of each completion

    def growth_per_task(self) -> tuple[float, int]:
        """RSS growth over the second half of the run (median of the samples around 50 % to the
        median of the last 10 %) divided by the tasks completed in between: bytes per task."""

        def median_rss(lo: float, hi: float) -> tuple[float, float]:
            lo, hi = lo * self.seconds, hi * self.seconds
            window = [(at, v) for at, v in self.rss if lo <= at <= hi]
            times, values = [at for at, _ in window], [v for _, v in window]
            return statistics.median(times), statistics.median(values)

        mid_at, mid = median_rss(0.45, 0.55)
        end_at, end = median_rss(0.90, 1.0)
        tasks = sum(mid_at <= at <= end_at for at in self.finished)
        return (end - mid) / max(1, tasks), tasks

    def rss_after(self, start: float) -> list[int]:
        return [value for at, value in self.rss if at >= start]

    def summary(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        warm = self.rss_after(0.0)
        per_task, tasks = self.growth_per_task()
        quarters = [warm[min(len(warm) - 1, len(warm) * q // 4)] / MiB for q in range(5)]
        return (
            f"{self.clients} clients x {self.seconds:.0f} s: {len(self.accepted)} tasks accepted, "
            f"{self.completed} completed, {len(self.errors)} errors; "
            f"{self.images / self.seconds:.1f} images/s; "
            f"latency p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; "
            f"server RSS (MiB) at 0/25/50/75/100 % of the run: "
            + "/".join(f"{q:.1f}" for q in quarters)
            + f" (peak {max(warm) / MiB:.1f}); "
            + f"RSS growth over the second half {per_task / 1024:.2f} KiB per task ({tasks} tasks)"
        )


async def _client(
    base: str, images: list[bytes], per_task: int, stop_at: float, n: int, report: LoadReport
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        k = 0
        while time.monotonic() < stop_at:
            chosen = [images[(n + k + i) % len(images)] for i in range(per_task)]
            files = [
                ("files", (f"c{n}-{k}-{i}.jpg", d, "image/jpeg")) for i, d in enumerate(chosen)
            ]
            started = time.monotonic()
            try:
                posted = await http.post("/predict_bulk", files=files)
                if posted.status_code != 200:
                    report.errors.append(f"POST {posted.status_code} {posted.text[:100]}")
                    continue
                task_id = posted.json()["task_uuid"]
                report.accepted.append(task_id)
                done = await http.get(f"/from_task/{task_id}", params={"wait": 30})
                if done.status_code != 200:
                    report.errors.append(f"from_task {done.status_code}")
                    continue
                items = done.json()
                if len(items) != per_task or any(item["error"] for item in items):
                    report.errors.append(f"bad items for {task_id}")
                    continue
                report.completed += 1
                report.images += per_task
                report.latencies.append(time.monotonic() - started)
                report.finished.append(time.monotonic() - report.start)
            except httpx.HTTPError as exc:
                report.errors.append(f"{type(exc).__name__}: {exc}")
            k += 1


async def _sample(pid: int, start: float, stop_at: float, report: LoadReport) -> None:
    while time.monotonic() < stop_at:
        report.rss.append((time.monotonic() - start, rss_bytes(pid)))
        await asyncio.sleep(0.25)


async def _run(
    base: str, pid: int, images: list[bytes], clients: int, seconds: float, per_task: int
) -> LoadReport:
    report = LoadReport(clients, seconds)
    start = report.start = time.monotonic()
    stop_at = start + seconds
    jobs = [_client(base, images, per_task, stop_at, n, report) for n in range(clients)]
    await asyncio.gather(_sample(pid, start, stop_at, report), *jobs)
    return report


def run_load(
    base: str, pid: int, images: list[bytes], clients: int, seconds: float, per_task: int = 2
) -> LoadReport:
    return asyncio.run(_run(base, pid, images, clients, seconds, per_task))
