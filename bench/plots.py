"""Plots of a run for docs/benchmarks.md, drawn with matplotlib (the `bench` extra)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def draw(run: dict[str, Any], folder: Path) -> list[Path]:
    """Write benchmarks-*.png into folder for the sections the run has; return the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = {section["name"]: section for section in run["sections"]}
    written = []

    def save(figure: Any, name: str) -> None:
        path = folder / f"benchmarks-{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)

    if "agents" in sections:
        rows = sections["agents"]["series"]["rows"]
        figure, (latency, cpu) = plt.subplots(1, 2, figsize=(10, 4))
        agents = [row["agents"] for row in rows]
        latency.plot(agents, [row["p50_ms"] for row in rows], "o-", label="p50")
        latency.plot(agents, [row["p99_ms"] for row in rows], "s-", label="p99")
        latency.set(xscale="log", xlabel="connected agents", ylabel="dispatch latency (ms)")
        latency.legend()
        cpu.plot(agents, [row["cpu_percent"] for row in rows], "o-", label="CPU at rest (%)")
        cpu.plot(agents, [row["rss_mib"] for row in rows], "s-", label="RSS (MiB)")
        cpu.set(xscale="log", xlabel="connected agents", ylabel="% of one core / MiB")
        cpu.legend()
        save(figure, "agents")

    if "stored jobs" in sections:
        rows = sections["stored jobs"]["series"]["rows"]
        figure, axes = plt.subplots(figsize=(5, 4))
        stored = [row["stored_jobs"] for row in rows]
        axes.plot(stored, [row["p50_ms"] for row in rows], "o-", label="p50")
        axes.plot(stored, [row["p99_ms"] for row in rows], "s-", label="p99")
        axes.set(xscale="log", xlabel="finished jobs in the store", ylabel="dispatch latency (ms)")
        axes.legend()
        save(figure, "stored-jobs")

    if "dispatch latency" in sections:
        values = sections["dispatch latency"]["series"]["latency_ms"]
        figure, axes = plt.subplots(figsize=(5, 4))
        axes.hist(values, bins=40)
        axes.set(xlabel="queued to lease received (ms)", ylabel="jobs")
        save(figure, "dispatch")
    return written
