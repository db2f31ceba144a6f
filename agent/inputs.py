"""Fetch everything a render task needs into its workspace.

Layout of a workspace: the template and static files at the top (so paths relative to the
project keep working), footage in `footage/` (the frames of the Nth asset, an image sequence,
in `footage/sequence-N/`), fonts in `fonts/`, scripts in `scripts/`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.engine_config import Engine
from agent.errors import LeaseFailure
from agent.extendscript import (
    PendingScripts,
    ScriptRun,
    check_render_stop,
    read_result,
    run_scripts,
    script_runs_from_json,
    write_script_code,
)
from agent.fetch import FetchedFile, Fetcher, file_name_for
from agent.fonts import FontInstall, resolve_font_names
from agent.footage_sequence import fetch_sequence
from agent.input_options import InputOptions
from agent.patch import (
    DataPatch,
    EssentialPatch,
    FootagePatch,
    LayerTarget,
    data_patch_from_proto,
    essential_patch_from_proto,
)
from agent.render_process import RenderOutcome
from protos import common_pb2

logger = logging.getLogger(__name__)

# The patched project's name; a template of that name is fetched as TEMPLATE_FALLBACK.
PROJECT_NAME = "project.aep"
TEMPLATE_FALLBACK = "template.aep"


@dataclass
class FetchTotals:
    bytes_fetched: int = 0
    bytes_from_cache: int = 0

    def count(self, fetched: FetchedFile) -> None:
        if fetched.from_cache:
            self.bytes_from_cache += fetched.size
        else:
            self.bytes_fetched += fetched.size


@dataclass(kw_only=True)
class TaskInputs(FetchTotals):
    template: Path
    footage: list[FootagePatch] = field(default_factory=list)
    # Data and essential patches in job order; patch_project orders them further.
    data: list[DataPatch | EssentialPatch] = field(default_factory=list)
    scripts: list[ScriptRun] = field(default_factory=list)
    fonts: list[Path] = field(default_factory=list)


class UniqueNames:
    """Hands out file names in one folder, prefixing a number when two sources share a name."""

    def __init__(self, *reserved: str) -> None:
        self._used = set(reserved)

    def claim(self, name: str) -> str:
        candidate = name
        number = 1
        while candidate in self._used:
            candidate = f"{number}_{name}"
            number += 1
        self._used.add(candidate)
        return candidate


async def fetch_task_inputs(
    task: common_pb2.RenderTask,
    workspace: Path,
    fetcher: Fetcher,
    font_dirs: Sequence[Path] = (),
) -> TaskInputs:
    """Fetch the template and the assets of task; return the patches the assets ask for.

    The font file names of task.fonts are looked up in the workspace, then in font_dirs.
    """
    if not task.template_src:
        raise LeaseFailure("template_not_found", "the task has no template_src to fetch")
    top_names = UniqueNames(PROJECT_NAME)
    template_name = file_name_for(task.template_src)
    if template_name == PROJECT_NAME:
        template_name = TEMPLATE_FALLBACK
    template = await fetcher.fetch(
        task.template_src,
        workspace,
        name=top_names.claim(template_name),
        sha256=task.template_sha256,
    )
    inputs = TaskInputs(template=template.path)
    inputs.count(template)

    footage_names = UniqueNames()
    script_names = UniqueNames()
    for index, asset in enumerate(task.assets):
        kind = asset.WhichOneof("kind")
        if kind == "footage":
            footage = asset.footage
            if footage.sequence:
                # The frames keep their own names, in a folder of their own.
                frames = await fetch_sequence(
                    fetcher,
                    footage.src,
                    workspace / "footage" / f"sequence-{index + 1}",
                    sha256=footage.sha256,
                )
                for frame in frames:
                    inputs.count(frame)
                fetched = frames[0]
            else:
                name = footage_names.claim(footage.name or file_name_for(footage.src))
                fetched = await fetcher.fetch(
                    footage.src, workspace / "footage", name=name, sha256=footage.sha256
                )
                inputs.count(fetched)
            target = LayerTarget(
                footage.layer_name, footage.layer_index, footage.composition, footage.every_match
            )
            inputs.footage.append(
                FootagePatch(target, fetched.path, footage.sequence, footage.remove_old)
            )
        elif kind == "data":
            inputs.data.append(data_patch_from_proto(asset.data))
        elif kind == "essential":
            inputs.data.append(essential_patch_from_proto(asset.essential))
        elif kind == "static_file":
            static = asset.static_file
            name = top_names.claim(static.name or file_name_for(static.src))
            inputs.count(
                await fetcher.fetch(static.src, workspace, name=name, sha256=static.sha256)
            )
        elif kind == "font":
            font = asset.font
            fetched = await fetcher.fetch(font.src, workspace / "fonts", name=font.name)
            inputs.count(fetched)
            inputs.fonts.append(fetched.path)
        elif kind == "script":
            script = asset.script
            if script.code:
                # A Nexrender Cloud function asset: its code runs as a script file.
                name = script_names.claim(f"function-{index + 1}.jsx")
                path = write_script_code(workspace / "scripts", name, script.code)
            else:
                name = script_names.claim(file_name_for(script.src))
                fetched = await fetcher.fetch(script.src, workspace / "scripts", name=name)
                inputs.count(fetched)
                path = fetched.path
            inputs.scripts.append(
                script_runs_from_json(path, script.keyword, script.parameters_json)
            )
        else:
            raise LeaseFailure("unsupported_asset", f"assets[{index}] has no known kind")
    for path in resolve_font_names(task.fonts, workspace, font_dirs):
        if path not in inputs.fonts:
            inputs.fonts.append(path)
    return inputs


class LeaseExtras:
    """The fonts and scripts of one lease, around its render.

    Fonts are installed right after the fetch (so scripts see them too) and removed by
    close(). Scripts run on the prepared project through the agent's runner; with
    patched-aerender they run inside the render, through the `-r` flag.
    """

    def __init__(self, options: InputOptions, inputs: TaskInputs, workspace: Path) -> None:
        self.options = options
        self.inputs = inputs
        self.workspace = workspace
        self._fonts = FontInstall(inputs.fonts, workspace / "fonts")
        self._env: dict[str, str] = {}
        self._pending: PendingScripts | None = None

    def install_fonts(self) -> None:
        self._env = self._fonts.install()

    async def run_scripts(self, project: Path, *, render_follows: bool) -> Path:
        """Run the scripts on project; return the project to render from then on."""
        if not self.inputs.scripts:
            return project
        if project == self.inputs.template:
            # The template may be a hard link into the cache: a script saves a copy.
            copy = self.workspace / PROJECT_NAME
            await asyncio.to_thread(shutil.copyfile, project, copy)
            project = copy
        self._pending = await run_scripts(
            self.options.script_runner,
            self.options.afterfx,
            self.options.script_timeout,
            self.inputs.scripts,
            project,
            self.workspace,
            render_follows=render_follows,
        )
        return project

    def engine(self, engine: Engine) -> Engine:
        """Return engine with the environment the installed fonts need."""
        if not self._env:
            return engine
        return dataclasses.replace(engine, env={**engine.env, **self._env})

    @property
    def render_script(self) -> Path | None:
        """The wrapper aerender runs with -r, for the patched-aerender runner."""
        return self._pending.wrapper if self._pending is not None else None

    def check_render_stop(self, outcome: RenderOutcome) -> None:
        """Before the render's own checks: fail when aerender was stopped in the -r scripts."""
        if self._pending is not None:
            check_render_stop(self._pending, outcome.stopped_reason, outcome.elapsed)

    def check_scripts(self) -> None:
        """After the render: fail when the scripts aerender ran reported an error."""
        if self._pending is not None:
            read_result(self._pending.result, "patched-aerender")

    def close(self) -> None:
        self._fonts.remove()
