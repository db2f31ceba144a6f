"""A stand-in for `AfterFX -r SCRIPT`, for the agent's afterfx script runner without After Effects.

Run it as `python -m agent.simulator.afterfx -r SCRIPT.jsx`. It starts with an untitled
project, as a freshly launched After Effects does, and runs the script with Node.js against
the same object model that the aerender simulator gives `-r` scripts
(agent.simulator.script_host). `app.open` opens a project with py-aep and
`app.project.save` writes it back as an .aep, so a render of the saved project afterwards
shows the script's changes. Lines the script writes ($.writeln, alert) go to stdout.

Exit status: 0 when the script ended, 1 when it threw or could not run (the error is printed
as `After Effects error: ...`), 2 for a bad command line. `-noui` is accepted and changes
nothing. `AEFARM_SIM_VERSION` sets `app.version`, `AEFARM_SIM_NODE` the Node.js program.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from agent.simulator.cli import DEFAULT_VERSION
from agent.simulator.main import VERSION_ENV
from agent.simulator.script_host import ScriptError, ScriptHostError, run_script
from agent.simulator.script_project import ProjectSession

logger = logging.getLogger(__name__)

USAGE = "usage: python -m agent.simulator.afterfx [-noui] -r SCRIPT.jsx"


def main(argv: list[str] | None = None) -> int:
    """Run the script named by -r and return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    script: Path | None = None
    index = 0
    while index < len(arguments):
        flag = arguments[index]
        if flag == "-noui":
            index += 1
        elif flag == "-r" and index + 1 < len(arguments):
            script = Path(arguments[index + 1])
            index += 2
        else:
            print(f"invalid argument {flag!r}\n{USAGE}", file=sys.stderr)
            return 2
    if script is None:
        print(f"missing -r SCRIPT.jsx\n{USAGE}", file=sys.stderr)
        return 2

    version = os.environ.get(VERSION_ENV, DEFAULT_VERSION)
    session = ProjectSession()
    try:
        run_script(script, session, mode="afterfx", version=version, log=_print_line)
    except (ScriptError, ScriptHostError) as error:
        _print_line(f"After Effects error: {error}")
        return 1
    return 0


def _print_line(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8", "replace") + b"\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
