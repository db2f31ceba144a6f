"""aerender exit codes and the errors that end a simulated render."""

from __future__ import annotations

import logging
from enum import IntEnum

logger = logging.getLogger(__name__)


class ExitCode(IntEnum):
    """aerender's exit codes as `commandLineRenderer.jsx` (AE 2022 to 2026) returns them."""

    OK = 0
    APPLICATION_FAILURE = 1
    USAGE_SHOWN = 2
    SYNTAX_ERROR = 3
    SCRIPTING_ERROR = 5
    NOT_FOUND = 7
    RENDER_ERROR = 9
    SOCKET_ERROR = 11


# With -log, aerender returns these codes one higher (3 -> 4, 5 -> 6, 7 -> 8, 9 -> 10).
_SHIFTED_WITH_LOG = frozenset(
    {ExitCode.SYNTAX_ERROR, ExitCode.SCRIPTING_ERROR, ExitCode.NOT_FOUND, ExitCode.RENDER_ERROR}
)


def process_exit_code(code: ExitCode, using_log: bool) -> int:
    """Return the process exit status for `code`, shifted by one when -log was given."""
    if using_log and code in _SHIFTED_WITH_LOG:
        return int(code) + 1
    return int(code)


class AerenderSyntaxError(ValueError):
    """A bad, illegal or incomplete command-line flag (aerender exit code 3)."""


class AerenderError(Exception):
    """An error that stops the render, with the log lines aerender prints for it.

    `lines` are printed as they are; the first usually carries one of aerender's error
    prefixes (`aerender ERROR: `, `aerender Error: After Effects error: `).
    """

    def __init__(self, code: ExitCode, *lines: str) -> None:
        super().__init__(lines[0] if lines else code.name)
        self.code = code
        self.lines = lines


class FirstExitCode:
    """The exit code of a run: aerender keeps the code of the first error only."""

    def __init__(self) -> None:
        self.code = ExitCode.OK

    def record(self, code: ExitCode) -> None:
        if self.code == ExitCode.OK:
            self.code = code
