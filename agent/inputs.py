"""Fetch everything a render task needs into its workspace.

Layout of a workspace: the template and static files at the top (so paths relative to the
project keep working), footage in `footage/`, fonts in `fonts/`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import LeaseFailure
from agent.fetch import FetchedFile, Fetcher, file_name_for
from agent.patch import DataPatch, FootagePatch, LayerTarget, data_patch_from_proto
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
    data: list[DataPatch] = field(default_factory=list)


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
    task: common_pb2.RenderTask, workspace: Path, fetcher: Fetcher
) -> TaskInputs:
    """Fetch the template and the assets of task; return the patches the assets ask for."""
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
    for index, asset in enumerate(task.assets):
        kind = asset.WhichOneof("kind")
        if kind == "footage":
            footage = asset.footage
            name = footage_names.claim(footage.name or file_name_for(footage.src))
            fetched = await fetcher.fetch(
                footage.src, workspace / "footage", name=name, sha256=footage.sha256
            )
            inputs.count(fetched)
            target = LayerTarget(footage.layer_name, footage.layer_index, footage.composition)
            inputs.footage.append(FootagePatch(target, fetched.path, footage.sequence))
        elif kind == "data":
            inputs.data.append(data_patch_from_proto(asset.data))
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
            # TODO: install fetched fonts for the render; After Effects reports them as
            # missing until then, which fails the job unless allow_missing_fonts is set.
            logger.warning("font %s was fetched but fonts are not installed yet", fetched.path.name)
        elif kind == "script":
            raise LeaseFailure(
                "unsupported_asset",
                f"assets[{index}] is a script ({asset.script.src}); this agent does not run "
                f"ExtendScript assets",
            )
        else:
            raise LeaseFailure("unsupported_asset", f"assets[{index}] has no known kind")
    return inputs
