"""Text the commands print for people: tables, job trees, job details and progress lines.

Every function takes the dicts that convert.py builds, so --json and text output show the same
values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

NONE = "-"
INDENT = "  "


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return the rows as left-aligned columns under upper-case headers, two spaces apart."""
    lines = [[header.upper() for header in headers], *[list(row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    text_lines = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        text_lines.append("  ".join(cells).rstrip())
    return "\n".join(text_lines)


def format_progress(progress: float | None) -> str:
    if progress is None:
        return NONE
    return f"{progress:.0f}%"


def format_time(iso_time: str | None) -> str:
    """Return an ISO 8601 UTC time cut to whole seconds: 2026-03-01T09:30:00Z."""
    if not iso_time:
        return NONE
    return iso_time.split(".")[0].removesuffix("Z") + "Z"


def format_size(size: int) -> str:
    """Return a byte count in binary units: 512 B, 1.5 KiB, 20.0 MiB."""
    value = float(size)
    unit = "B"
    for larger_unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value /= 1024
        unit = larger_unit
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def format_state(job: dict[str, Any]) -> str:
    """Return "rendering/render" for a job with a stage, else the state alone."""
    if job.get("stage"):
        return f"{job['state']}/{job['stage']}"
    return str(job["state"])


def format_error(error: dict[str, Any] | None) -> str:
    if not error:
        return NONE
    retry = " (retryable)" if error.get("retryable") else ""
    return f"{error['code']}: {error['message']}{retry}"


def job_label(job: dict[str, Any]) -> str:
    """Return what a job renders: the parent's layer it fills, else its composition."""
    if job.get("layer_name"):
        return f'layer "{job["layer_name"]}"'
    if job.get("kind") == "join":
        return "join"
    if job.get("composition"):
        return f'composition "{job["composition"]}"'
    return job.get("kind") or NONE


def job_table(jobs: Iterable[dict[str, Any]]) -> str:
    headers = (
        "id",
        "state",
        "stage",
        "progress",
        "attempts",
        "kind",
        "composition",
        "created",
        "parent",
    )
    rows = [
        (
            job["id"],
            job["state"],
            job["stage"] or NONE,
            format_progress(job["progress"]),
            str(job["attempts"]),
            job["kind"] or NONE,
            job["composition"] or NONE,
            format_time(job["created_at"]),
            job["parent"] or NONE,
        )
        for job in jobs
    ]
    return render_table(headers, rows)


def format_engines(engines: Iterable[dict[str, Any]]) -> str:
    parts = []
    for engine in engines:
        text = engine["name"]
        if engine["version"]:
            text += f" {engine['version']}"
        if not engine["available"]:
            text += " (unavailable)"
        parts.append(text)
    return ", ".join(parts) or NONE


def format_agent_state(agent: dict[str, Any]) -> str:
    """The connection state, then draining and the quarantine with its reason when set."""
    parts = [agent["state"] or NONE]
    if agent.get("draining"):
        parts.append("draining")
    if agent.get("quarantine_reason"):
        parts.append(f"quarantined: {agent['quarantine_reason']}")
    return ", ".join(parts)


def agent_table(agents: Iterable[dict[str, Any]]) -> str:
    headers = ("id", "host", "state", "engines", "slots", "running", "pools", "last seen")
    rows = [
        (
            agent["id"],
            agent["host"] or NONE,
            format_agent_state(agent),
            format_engines(agent["engines"]),
            str(agent["slots"]),
            str(len(agent["running"])),
            ",".join(agent["pools"]) or NONE,
            format_time(agent["last_seen"]),
        )
        for agent in agents
    ]
    return render_table(headers, rows)


def tree_order(root: dict[str, Any], jobs: Iterable[dict[str, Any]]) -> list[tuple[int, dict]]:
    """Return (depth, job) pairs of a job tree, depth first, children in the parent's order.

    Jobs that are not reachable from root through child lists are appended at depth 1, so
    nothing the controller sent is hidden.
    """
    by_id = {job["id"]: job for job in jobs}
    by_id[root["id"]] = root
    ordered: list[tuple[int, dict]] = []
    seen: set[str] = set()

    def visit(job: dict[str, Any], depth: int) -> None:
        if job["id"] in seen:
            return
        seen.add(job["id"])
        ordered.append((depth, job))
        for child_id in job["children"]:
            if child_id in by_id:
                visit(by_id[child_id], depth + 1)

    visit(root, 0)
    for job in by_id.values():
        visit(job, 1)
    return ordered


def submit_tree(root: dict[str, Any], children: Iterable[dict[str, Any]]) -> str:
    """Return the submitted job and every job created below it, one indented line each."""
    lines = []
    for depth, job in tree_order(root, children):
        lines.append(f"{INDENT * depth}{job['id']}  {job_label(job)}  {format_state(job)}")
    return "\n".join(lines)


def progress_line(job: dict[str, Any], depth: int) -> str:
    """Return the line that watch prints for one job of the tree."""
    parts = [f"{INDENT * depth}{job['id']}", job_label(job), format_state(job)]
    parts.append(format_progress(job["progress"]))
    if job["frames_total"]:
        parts.append(f"frames {job['frames_done']}/{job['frames_total']}")
    if job["agent"]:
        parts.append(f"on {job['agent']}")
    if job["error"]:
        parts.append(format_error(job["error"]))
    return "  ".join(parts)


def job_detail(job: dict[str, Any]) -> str:
    """Return every field of one job as labelled lines, then its outputs and history."""
    frames = ""
    if job["frames_total"]:
        frames = f" (frames {job['frames_done']}/{job['frames_total']})"
    fields = [
        ("job", job["id"]),
        ("state", job["state"]),
        ("stage", job["stage"] or NONE),
        ("progress", format_progress(job["progress"]) + frames),
        ("kind", job["kind"] or NONE),
        ("composition", job["composition"] or NONE),
        ("layer", job["layer_name"] or NONE),
        ("engine", job["engine"] or NONE),
        ("priority", str(job["priority"])),
        ("uid", job["uid"] or NONE),
        ("parent", job["parent"] or NONE),
        ("children", ", ".join(job["children"]) or NONE),
        ("attempts", str(job["attempts"])),
        ("agent", job["agent"] or NONE),
        ("created", format_time(job["created_at"])),
        ("updated", format_time(job["updated_at"])),
        ("error", format_error(job["error"])),
    ]
    if job.get("waiting_reason"):
        fields.insert(2, ("waiting", job["waiting_reason"]))
    width = max(len(label) for label, _ in fields)
    lines = [f"{label.ljust(width)}  {value}" for label, value in fields]

    lines.append("outputs" if job["outputs"] else f"{'outputs'.ljust(width)}  {NONE}")
    for output in job["outputs"]:
        lines.append(f"{INDENT}{output['url']}  {format_size(output['size'])}")
        lines.append(f"{INDENT * 2}sha256 {output['sha256']}")

    lines.append("history" if job["history"] else f"{'history'.ljust(width)}  {NONE}")
    for transition in job["history"]:
        state = format_state(transition)
        lines.append(f"{INDENT}{format_time(transition['at'])}  {state:<18}  {transition['cause']}")
    return "\n".join(lines)
