"""aerender simulator: a stand-in with aerender's command line that renders with ffmpeg.

Run it as `python -m agent.simulator ARGS` or `aefarm-aerender-sim ARGS`, with the flags
aerender takes. It reads the project with py-aep, prints the log aerender prints (to stdout,
or to the `-log` file), renders the composition with ffmpeg at its size, rate and duration,
and exits with aerender's exit codes. It only ever runs when a farm is started with
`--simulate`, on machines without After Effects.

Environment:

- `AEFARM_SIM_VERSION`: the After Effects version to simulate (default `26.0x55`); it decides
  which flags are legal (`-mfr` from 22, `-mp` before 22, `-renderSettings` from 23).
- `AEFARM_SIM_FAULTS`: comma-separated failure modes, described in
  `agent.simulator.faults`; a comp comment line `aefarm-sim: ...` adds more per template.
- `AEFARM_SIM_NODE`: the Node.js program that runs `-r` scripts (default: `node` on PATH).

`-r SCRIPT.jsx`, the flag of an aerender whose commandLineRenderer.jsx is patched as nexrender
patches it, runs the script after the project opens and before the comp is looked up, with
Node.js against an After Effects object model of the project (agent.simulator.script_host).
What the script changes is rendered. A script that throws exits 5 with an
`aerender ERROR: Error executing script ...` line that carries its error text and line.

Missing or unreadable inputs exit as aerender does. A project file that does not exist, a
comp, render-queue item or template that is not found, or a missing `-output` exits 7. A
project that cannot be parsed, or a frame range outside the comp, exits 5. A failed render
exits 9.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

from agent.simulator.cli import (
    DEFAULT_VERSION,
    USAGE,
    RenderRequest,
    SimulatedVersion,
    parse_args,
    uses_log,
)
from agent.simulator.errors import (
    AerenderError,
    AerenderSyntaxError,
    ExitCode,
    FirstExitCode,
    process_exit_code,
)
from agent.simulator.faults import FAULTS_ENV, Faults, faults_from_comment, parse_faults
from agent.simulator.outputs import find_output_module, find_render_settings, output_target
from agent.simulator.render import RenderPlan, render_comp, sleep_forever
from agent.simulator.renderlog import LogStyle, RenderLog
from agent.simulator.scene import (
    CompScene,
    find_comp,
    find_render_queue_comp,
    load_project,
    mark_footage_missing,
    read_comp,
    uses_frames_display,
)
from agent.simulator.script_host import ScriptError, ScriptHostError, run_script
from agent.simulator.script_project import ProjectSession
from agent.simulator.timecode import is_drop_frame_rate

logger = logging.getLogger(__name__)

VERSION_ENV = "AEFARM_SIM_VERSION"
CHILD_MARKER = "aefarm-sim-afterfx"


def main(argv: list[str] | None = None) -> int:
    """Run the simulator and return aerender's exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        version = SimulatedVersion.parse(os.environ.get(VERSION_ENV, DEFAULT_VERSION))
        env_faults = parse_faults(os.environ.get(FAULTS_ENV, ""), FAULTS_ENV)
    except ValueError as error:
        print(f"aefarm-aerender-sim: {error}", file=sys.stderr)
        return int(ExitCode.APPLICATION_FAILURE)

    stdout = sys.stdout.buffer
    try:
        request = parse_args(arguments, version)
    except AerenderSyntaxError as error:
        RenderLog(stdout, progress=True).error(f"aerender SYNTAX ERROR: {error}")
        return process_exit_code(ExitCode.SYNTAX_ERROR, uses_log(arguments))
    if request.show_version:
        RenderLog(stdout, progress=True).version(version.text)
        return int(ExitCode.OK)
    if request.show_usage:
        stdout.write(USAGE.encode())
        stdout.flush()
        return int(ExitCode.USAGE_SHOWN)

    using_log = request.log_path is not None
    try:
        sink = open(request.log_path, "wb") if request.log_path else stdout  # noqa: SIM115
    except OSError as error:
        RenderLog(stdout, progress=True).error(
            f"aerender ERROR: The log file {request.log_path} could not be opened: {error}"
        )
        return process_exit_code(ExitCode.SCRIPTING_ERROR, using_log)
    try:
        code = Simulation(request, version, env_faults, sink).run()
    finally:
        if sink is not stdout:
            sink.close()
    return process_exit_code(code, using_log)


class Simulation:
    """One aerender run: open the project, pick the comp and templates, render."""

    def __init__(
        self, request: RenderRequest, version: SimulatedVersion, faults: Faults, sink: BinaryIO
    ) -> None:
        self.request = request
        self.version = version
        self.faults = faults
        self.log = RenderLog(sink, progress=request.progress)
        self.exit_code = FirstExitCode()

    def run(self) -> ExitCode:
        try:
            self._run()
        except AerenderError as error:
            for line in error.lines:
                self.log.error(line)
            self.exit_code.record(error.code)
        if "never_exits" in self.faults and self.exit_code.code == ExitCode.OK:
            sleep_forever()
        return self.exit_code.code

    def _run(self) -> None:
        # The project is read before the launch lines, because the comp comment selects
        # faults that change those lines. Errors are still reported in aerender's order.
        project, comp, open_error = self._open()
        self.log.version(self.version.text)
        if "spawn_child" in self.faults:
            self._spawn_child()
        self.log.launch(str(self.request.project or ""))
        if "hang_launch" in self.faults:
            sleep_forever()
        if "exit_no_output" in self.faults:
            return
        if open_error is not None:
            raise open_error
        if self.request.script:
            # A patched aerender runs the script after opening the project and before looking
            # for the comp, so the script may change or rename it.
            project = self._run_script(project)
            comp = self._find_comp(project)
        if comp is None or "comp_not_found" in self.faults:
            raise self._comp_not_found()

        plan = self._plan(project, comp)
        if "missing_fonts" in self.faults:
            self.log.warning("Project has missing fonts.")
            # The names follow on indented lines, as the details of a grouped warning do.
            for name in _font_names(project) or ["MyriadPro-Regular"]:
                self.log.write_line(f"  {name}")
        render_comp(plan, self.log)

    def _open(self) -> tuple[Any, Any, AerenderError | None]:
        """Read the project and find the comp, or return the error to report in their place."""
        if self.request.project is None:
            error = AerenderError(
                ExitCode.NOT_FOUND, "aerender ERROR: No project was given; use -project PATH."
            )
            return None, None, error
        try:
            project = load_project(self.request.project)
        except AerenderError as error:
            return None, None, error
        comp = self._find_comp(project)
        if comp is not None:
            try:
                self.faults = self.faults.union(faults_from_comment(comp.comment or "", comp.name))
            except ValueError as error:
                return (
                    project,
                    comp,
                    AerenderError(ExitCode.SCRIPTING_ERROR, f"aerender ERROR: {error}"),
                )
        self.log.style = LogStyle(
            german="german" in self.faults,
            non_utf8="non_utf8" in self.faults,
            frames_display="frames_display" in self.faults or uses_frames_display(project),
            fields="fields" in self.faults,
        )
        return project, comp, None

    def _find_comp(self, project: Any) -> Any | None:
        if self.request.rqindex is not None:
            return find_render_queue_comp(project, self.request.rqindex)
        if self.request.comp is not None:
            return find_comp(project, self.request.comp)
        return find_render_queue_comp(project, 1)

    def _run_script(self, project: Any) -> Any:
        """Run the -r script on project and return the project it leaves open.

        A script that throws, or that cannot run, stops the run with exit code 5 and an
        `aerender ERROR:` line that names the script, its error text and line.
        """
        script = Path(str(self.request.script))
        self.log.progress(f"Running Script: {script}")
        session = ProjectSession(project, self.request.project)
        try:
            run_script(
                script, session, mode="aerender", version=self.version.text, log=self.log.write_line
            )
        except ScriptError as error:
            raise AerenderError(
                ExitCode.SCRIPTING_ERROR,
                f"aerender ERROR: Error executing script {script}: {error.describe()}",
            ) from error
        except ScriptHostError as error:
            raise AerenderError(
                ExitCode.SCRIPTING_ERROR,
                f"aerender ERROR: Error executing script {script}: {error}",
            ) from error
        return session.project

    def _comp_not_found(self) -> AerenderError:
        if self.request.rqindex is not None:
            return AerenderError(
                ExitCode.NOT_FOUND,
                f"aerender ERROR: No render queue item was found at index {self.request.rqindex}.",
            )
        if self.request.comp is None:
            return AerenderError(
                ExitCode.NOT_FOUND,
                "aerender ERROR: No comp was given and the render queue is empty; "
                "use -comp NAME or -rqindex N.",
            )
        return AerenderError(
            ExitCode.NOT_FOUND, "aerender ERROR: No comp was found with the given name."
        )

    def _plan(self, project: Any, comp: Any) -> RenderPlan:
        # NOTE: -renderSettings and -outputSettings overrides are validated but not applied,
        # and -mfr, -mem_usage, -close, -sound and -reuse change nothing in the simulator.
        request = self.request
        module = find_output_module(request.output_module)
        if module is None:
            raise AerenderError(
                ExitCode.NOT_FOUND,
                "aerender ERROR: No output module template was found with the given name "
                f"({request.output_module!r}).",
            )
        settings = find_render_settings(request.render_settings)
        if settings is None:
            raise AerenderError(
                ExitCode.NOT_FOUND,
                "aerender ERROR: No render settings template was found with the given name "
                f"({request.render_settings!r}).",
            )
        if not request.output:
            raise AerenderError(
                ExitCode.NOT_FOUND, "aerender ERROR: No output file was given; use -output PATH."
            )

        scene = read_comp(comp)
        if "missing_footage" in self.faults:
            mark_footage_missing(scene)
        self._set_drop_frame(scene)
        first, last = self._frame_range(scene)
        return RenderPlan(
            scene=scene,
            first_index=first,
            last_index=last,
            step=request.increment,
            module=module,
            settings=settings,
            target=output_target(str(Path(request.output).absolute()), module),
            faults=self.faults,
            continue_on_missing_footage=request.continue_on_missing_footage,
        )

    def _set_drop_frame(self, scene: CompScene) -> None:
        drop_frame = scene.drop_frame or "drop_frame" in self.faults
        if drop_frame and is_drop_frame_rate(scene.rate):
            self.log.style = dataclasses.replace(self.log.style, drop_frame=True)

    def _frame_range(self, scene: CompScene) -> tuple[int, int]:
        """Turn -s and -e (displayed frame numbers, end inclusive) into comp frame indices."""
        first_displayed = scene.display_start_frame
        last_displayed = first_displayed + scene.frame_count - 1
        start = self.request.start_frame
        end = self.request.end_frame
        start = first_displayed if start is None else start
        end = last_displayed if end is None else end
        if start < first_displayed or end > last_displayed or start > end:
            raise AerenderError(
                ExitCode.SCRIPTING_ERROR,
                f"aerender ERROR: The frame range {start} to {end} does not fit composition "
                f"{scene.name}, which has frames {first_displayed} to {last_displayed}. "
                "Check -s and -e.",
            )
        return start - first_displayed, end - first_displayed

    def _spawn_child(self) -> None:
        """Start a detached sleeper that outlives this process, as AfterFX outlives aerender."""
        code = "import time\nwhile True:\n    time.sleep(3600)\n"
        child = subprocess.Popen(
            [sys.executable, "-c", code, CHILD_MARKER, f"--parent={os.getpid()}"],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        logger.debug("started detached child %d", child.pid)


def _font_names(project: Any) -> list[str]:
    """Return the PostScript names of the fonts the project's text layers use."""
    names: list[str] = []
    for used in project.used_fonts:
        name = getattr(used.get("font"), "post_script_name", "")
        if name and name not in names:
            names.append(name)
    return names
