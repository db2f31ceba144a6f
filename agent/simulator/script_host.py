"""Run an ExtendScript file with Node.js against the project the simulator holds.

`run_script` starts `node script_host.js` (next to this file), which builds the After Effects
object model (the ae_*.js files) in a fresh vm context and runs the script there. Each
change the script makes is a request on the process's stdin and stdout that `ProjectSession`
applies to the py-aep project at once, so the project is what the script left when
`run_script` returns.

Node.js comes from `AEFARM_SIM_NODE` (a program name or path) or else from `node` on PATH.
The script runs with no time limit, as After Effects runs it: the agent's watchdogs stop a
script that never ends, and on Linux Node.js is killed when its parent process dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agent.simulator.script_project import ProjectSession

logger = logging.getLogger(__name__)

NODE_ENV = "AEFARM_SIM_NODE"
HOST_SCRIPT = Path(__file__).with_name("script_host.js")
# Characters of the script host's stderr quoted in an error.
_STDERR_TAIL = 2000
# Linux prctl option, from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1


class ScriptHostError(Exception):
    """Node.js is missing, or the script host stopped before the script ended."""


@dataclass
class ScriptError(Exception):
    """The script threw: its error text, and the line and file where it was thrown."""

    message: str
    line: int = 0
    file: str = ""

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """Return the error text with its place, such as `Error: bad (line 3 of x.jsx)`."""
        if self.line and self.file:
            return f"{self.message} (line {self.line} of {self.file})"
        if self.line:
            return f"{self.message} (line {self.line})"
        return self.message


def find_node() -> str:
    """Return the Node.js program to run, or raise ScriptHostError saying how to get one."""
    configured = os.environ.get(NODE_ENV, "")
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ScriptHostError(
                f"{NODE_ENV} is {configured!r}, which is not an executable program; set it to "
                "the path of the node program"
            )
        return found
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise ScriptHostError(
            "the aerender simulator runs -r scripts with Node.js, and no node program is on "
            f"PATH; install Node.js, or set {NODE_ENV} to the path of the node program"
        )
    return found


def run_script(
    script: Path,
    session: ProjectSession,
    *,
    mode: str,
    version: str,
    log: Callable[[str], None],
) -> None:
    """Run script on session's project; lines the script writes go to log.

    mode is "aerender" (a -r script during a render: `gAECommandLineRenderer` exists and
    `app.isRenderEngine` is true) or "afterfx" (After Effects running a script file).
    Raises ScriptError when the script throws and ScriptHostError when it cannot run.
    """
    script = script.absolute()
    if not script.is_file():
        raise ScriptHostError(f"the script file was not found: {script}")
    settings = {"script": str(script), "mode": mode, "version": version}
    command = [find_node(), str(HOST_SCRIPT), json.dumps(settings)]
    logger.debug("running %s with %s", script, command[0])
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            outcome = _serve(process, session, log)
        finally:
            _finish(process)
        if outcome is None:
            stderr.seek(0)
            detail = stderr.read().decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
            raise ScriptHostError(
                f"the script host (Node.js) exited with code {process.returncode} before "
                f"{script.name} ended: {detail or 'it printed nothing'}"
            )
    if not outcome.get("ok"):
        error = outcome.get("error") or {}
        raise ScriptError(
            str(error.get("message", "")), int(error.get("line") or 0), str(error.get("file") or "")
        )


def _die_with_parent() -> None:
    """Have Linux kill Node.js when its parent dies, as when the agent kills a hung stand-in."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _serve(
    process: subprocess.Popen[bytes], session: ProjectSession, log: Callable[[str], None]
) -> dict[str, Any] | None:
    """Reply to the host's requests until it reports the script's outcome; return the outcome."""
    assert process.stdout is not None and process.stdin is not None
    for line in process.stdout:
        try:
            message = json.loads(line)
        except ValueError:
            logger.warning("the script host sent a line that is not JSON: %r", line[:200])
            continue
        if "log" in message:
            log(str(message["log"]))
        elif "done" in message:
            done = message["done"]
            return done if isinstance(done, dict) else None
        else:
            reply = json.dumps(session.handle(message)) + "\n"
            if not _send(process.stdin, reply.encode("utf-8")):
                return None
    return None


def _send(stdin: IO[bytes], data: bytes) -> bool:
    try:
        stdin.write(data)
        stdin.flush()
    except (BrokenPipeError, OSError) as error:
        logger.warning("the script host stopped reading its requests: %s", error)
        return False
    return True


def _finish(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        # Closing fails when the host has already exited; wait() then collects its status.
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        logger.warning("the script host did not exit after the script ended; stopping it")
        process.kill()
        process.wait()
