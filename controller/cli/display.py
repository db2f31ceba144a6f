"""Displays of a followed job tree: live lines, appended lines or JSON lines."""

from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from controller.cli import convert
from controller.cli.console import is_terminal, print_error, print_json_line
from controller.cli.format import format_progress, progress_line, tree_order
from protos import jobs_pb2

logger = logging.getLogger(__name__)

FINAL_STATE_NAMES = frozenset(convert.state_name(state) for state in convert.FINAL_STATES)


@dataclass
class TreeState:
    """The latest known form of every job in a watched tree."""

    root_id: str
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tree_progress: float | None = None
    last_sequence: int = 0

    def apply(self, event: jobs_pb2.JobEvent) -> dict[str, Any]:
        job = convert.job_to_dict(event.job)
        self.jobs[job["id"]] = job
        self.tree_progress = convert.progress_value(event.tree_progress)
        self.last_sequence = max(self.last_sequence, event.sequence)
        return job

    @property
    def root(self) -> dict[str, Any] | None:
        return self.jobs.get(self.root_id)

    def root_is_final(self) -> bool:
        return self.root is not None and self.root["state"] in FINAL_STATE_NAMES

    def depth(self, job: dict[str, Any]) -> int:
        """Return 0 for the root, 1 for its children, and 1 for a job whose parent is unknown."""
        depth = 0
        seen = set()
        while job["id"] != self.root_id and job["id"] not in seen:
            seen.add(job["id"])
            depth += 1
            parent = self.jobs.get(job["parent"] or "")
            if parent is None:
                return max(depth, 1)
            job = parent
        return depth


class Display(Protocol):
    def show(self, state: TreeState, event: jobs_pb2.JobEvent, job: dict[str, Any]) -> None: ...

    def note(self, message: str) -> None: ...


class LiveDisplay:
    """Redraws one line per job in place on a terminal, with a status line under the tree."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.drawn_lines = 0
        self.status = ""
        self.state: TreeState | None = None

    def show(self, state: TreeState, event: jobs_pb2.JobEvent, job: dict[str, Any]) -> None:
        self.state = state
        self.status = ""
        self.redraw()

    def note(self, message: str) -> None:
        self.status = message
        self.redraw()

    def redraw(self) -> None:
        lines = self.tree_lines()
        if self.status:
            lines.append(self.status)
        # Lines wider than the terminal wrap and would break the cursor arithmetic below.
        width = max(shutil.get_terminal_size().columns - 1, 20)
        lines = [line[:width] for line in lines]
        if self.drawn_lines:
            # Move the cursor to the start of the first drawn line and clear to the screen end.
            self.stream.write(f"\x1b[{self.drawn_lines}F\x1b[J")
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()
        self.drawn_lines = len(lines)

    def tree_lines(self) -> list[str]:
        if self.state is None or self.state.root is None:
            return []
        root = self.state.root
        lines = [f"tree progress {format_progress(self.state.tree_progress)}"]
        for depth, job in tree_order(root, self.state.jobs.values()):
            lines.append(progress_line(job, depth))
        return lines


class AppendDisplay:
    """Prints a job's line each time it changes, for logs and pipes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last_lines: dict[str, str] = {}

    def show(self, state: TreeState, event: jobs_pb2.JobEvent, job: dict[str, Any]) -> None:
        line = progress_line(job, state.depth(job))
        if self.last_lines.get(job["id"]) == line:
            return
        self.last_lines[job["id"]] = line
        self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        print_error(message)


class JsonLinesDisplay:
    """Prints every event as one JSON line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def show(self, state: TreeState, event: jobs_pb2.JobEvent, job: dict[str, Any]) -> None:
        print_json_line(convert.event_to_dict(event), self.stream)

    def note(self, message: str) -> None:
        print_error(message)


class SilentDisplay:
    """Shows nothing while the job runs; submit --wait --json prints only the final job."""

    def show(self, state: TreeState, event: jobs_pb2.JobEvent, job: dict[str, Any]) -> None:
        return

    def note(self, message: str) -> None:
        print_error(message)


def choose_display(json_lines: bool, stream: IO[str] | None = None) -> Display:
    target = stream or sys.stdout
    if json_lines:
        return JsonLinesDisplay(target)
    if is_terminal(target):
        return LiveDisplay(target)
    return AppendDisplay(target)
