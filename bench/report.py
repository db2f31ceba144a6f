"""The machine a run happened on, the results table, and the JSON object of a run."""

from __future__ import annotations

import datetime
import logging
import os
import platform
import subprocess
from typing import Any

import psutil

from bench.controller_proc import TOP
from bench.figures import Section

logger = logging.getLogger(__name__)


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, system, Python and commit of this run."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = platform.processor()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=TOP,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "commit": commit,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def _format_value(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(sections: list[Section]) -> str:
    """Format the figures and notes of every section as a plain text table."""
    rows = [("benchmark", "figure", "value", "target", "")]
    for section in sections:
        for figure in section.figures:
            verdict = {True: "met", False: "MISSED", None: ""}[figure.met]
            value = f"{_format_value(figure.value)} {figure.unit}"
            rows.append((section.name, figure.name, value, figure.target, verdict))
        for note in section.notes:
            rows.append((section.name, f"note: {note}", "", "", ""))
    widths = [min(60, max(len(row[column]) for row in rows)) for column in range(5)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def run_object(sections: list[Section], arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "machine": machine(),
        "arguments": arguments,
        "sections": [section.to_dict() for section in sections],
    }
