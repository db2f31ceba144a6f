"""Reading a job file and turning its local paths into file:// URIs before it is sent."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from controller.cli.errors import EXIT_INVALID, CliError

logger = logging.getLogger(__name__)

STDIN_NAME = "-"


class InvalidJob(CliError):
    """A job that the parser or the controller rejected, with the JSON path of every problem."""

    def __init__(self, summary: str, problems: Iterable[tuple[str, str]]) -> None:
        self.problems = [(path, reason) for path, reason in problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{summary}: {count} {noun}", EXIT_INVALID, problem_lines(self.problems))


def problem_lines(problems: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{path}: {reason}" for path, reason in problems]


@dataclass(frozen=True)
class JobFile:
    """A job as read from a file or stdin, with local sources resolved when it is an object."""

    # The absolute path of the file, or "stdin".
    source: str
    # The folder that relative sources are resolved against.
    base_dir: Path
    document: Any

    def to_json(self) -> str:
        return json.dumps(self.document)


def read_job_file(path_text: str, stdin: IO[str] | None = None) -> JobFile:
    """Read and decode a job file ("-" is stdin) and resolve its local sources.

    Relative sources resolve against the file's folder, and against the current folder for
    stdin. Raises CliError when the file cannot be read and InvalidJob when it is not JSON or
    a source cannot be resolved.
    """
    if path_text == STDIN_NAME:
        text = (stdin or sys.stdin).read()
        source = "stdin"
        base_dir = Path.cwd()
    else:
        # absolute() rather than resolve(): a symbolic link such as /dev/stdin stays readable,
        # and relative sources resolve against the folder the user named.
        path = Path(path_text).expanduser().absolute()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f"cannot read job file {path_text}: {error}", EXIT_INVALID) from error
        source = str(path)
        base_dir = path.parent

    from controller.jobspec.parse import JobRejected, load_json

    try:
        # The controller's decoder, which also rejects NaN and integers Python cannot read.
        document = load_json(text)
    except JobRejected as error:
        raise InvalidJob(f"job {source} is invalid", error.problems) from error

    if isinstance(document, dict):
        document = resolve_sources(document, base_dir, source)
    return JobFile(source=source, base_dir=base_dir, document=document)


def resolve_sources(document: dict[str, Any], base_dir: Path, source: str) -> dict[str, Any]:
    from controller.jobspec.parse import JobRejected, resolve_local_sources

    try:
        return resolve_local_sources(document, base_dir)
    except JobRejected as error:
        raise InvalidJob(f"job {source} is invalid", error.problems) from error


def check_job(job_file: JobFile) -> Any:
    """Parse the job offline as the controller does and return its normalized spec.

    Raises InvalidJob with every problem the parser found.
    """
    from controller.jobspec.parse import JobRejected, parse_job_object

    try:
        return parse_job_object(job_file.document)
    except JobRejected as error:
        raise InvalidJob(f"job {job_file.source} is invalid", error.problems) from error
