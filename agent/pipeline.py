"""The render pipeline of one lease: fetch, prepare, render, encode, verify, publish.

Each stage reports its Stage to the controller. Every failure that belongs to the job is a
LeaseFailure, and run() turns the outcome, good or bad, into one Result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent import actions, destinations, join
from agent.aerender_args import RenderRequest
from agent.aerender_log import AerenderLog
from agent.artifacts import ArtifactClient
from agent.codecs import CODECS, Codec
from agent.config import DEFAULT_HANG_TIMEOUT, DEFAULT_STUCK_EXIT_GRACE
from agent.encode import encode_output
from agent.engine_config import Engine
from agent.errors import LeaseFailure
from agent.fetch import Fetcher
from agent.input_options import InputOptions
from agent.inputs import PROJECT_NAME, FetchTotals, LeaseExtras, TaskInputs, fetch_task_inputs
from agent.lease_context import LeaseContext
from agent.media import MediaInfo
from agent.output_plan import RESULT_STEM, OutputPlan, plan_output
from agent.patch import patch_project
from agent.progress import LeaseReporter
from agent.project_info import CompInfo, expected_frames, read_comp_info
from agent.render import AerenderRun, render_limits
from agent.verify import check_outcome, find_outputs, verify_outputs
from protos import agent_pb2, common_pb2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineServices:
    """Services shared by the pipelines of every lease."""

    fetcher: Fetcher
    artifacts: ArtifactClient
    engines: Mapping[str, Engine]
    mfr_cpu_percent: int = 100
    default_hang_timeout: float = DEFAULT_HANG_TIMEOUT
    stuck_exit_grace: float = DEFAULT_STUCK_EXIT_GRACE
    codec_catalog: Mapping[str, Codec] = dataclasses.field(default_factory=lambda: dict(CODECS))
    # Path mapping, scripts and fonts.
    inputs: InputOptions = dataclasses.field(default_factory=InputOptions)
    # The agent's --output-dir: where outputs go when the job names no upload.
    output_dir: Path | None = None


@dataclass(frozen=True)
class _Rendered:
    files: list[Path]
    media: MediaInfo
    seconds: float
    log: AerenderLog


@dataclass
class _Published:
    outputs: list[common_pb2.Output]
    media: MediaInfo | None
    render_seconds: float = 0.0


class LeasePipeline:
    def __init__(
        self,
        lease: agent_pb2.Lease,
        context: LeaseContext,
        services: PipelineServices,
        workspace: Path,
        reporter: LeaseReporter,
    ) -> None:
        self.lease = lease
        self.context = context
        self.services = services
        self.workspace = workspace
        self.reporter = reporter
        self._stop: LeaseFailure | None = None
        self._task: asyncio.Task[object] | None = None
        self._render: AerenderRun | None = None
        self._inputs: FetchTotals | None = None
        self._extras: LeaseExtras | None = None

    async def run(self) -> agent_pb2.Result:
        """Run every stage and return the Result.

        A failed job is returned as a Result too. Only a cancellation that did not come from
        stop() propagates.
        """
        self._task = asyncio.current_task()
        try:
            published = await self._run_stages()
        except LeaseFailure as failure:
            return self._failure(self._stop or failure)
        except asyncio.CancelledError:
            if self._stop is None:
                raise
            # Our own stop() cancelled the task: report it instead of propagating.
            if self._task is not None:
                self._task.uncancel()
            return self._failure(self._stop)
        except Exception as error:
            logger.exception("the pipeline failed unexpectedly")
            return self._failure(
                LeaseFailure(
                    "agent_error",
                    f"the agent failed unexpectedly: {type(error).__name__}: {error}",
                    retryable=True,
                )
            )
        finally:
            if self._extras is not None:
                self._extras.close()
            self.reporter.close()
        logger.info("lease finished: %d outputs", len(published.outputs))
        return self._result(
            success=True,
            outputs=published.outputs,
            render_seconds=published.render_seconds,
            media_json=json.dumps(published.media.to_dict()) if published.media else "",
        )

    async def stop(self, failure: LeaseFailure) -> None:
        """Stop the pipeline wherever it is; run() then returns a Result with failure."""
        if self._stop is not None:
            return
        self._stop = failure
        logger.info("stopping the lease: %s", failure)
        if self._render is not None:
            await self._render.cancel()
        elif self._task is not None:
            self._task.cancel()

    def _checkpoint(self) -> None:
        if self._stop is not None:
            raise self._stop

    async def _run_stages(self) -> _Published:
        self._checkpoint()
        task = self.lease.task
        if task.kind == "join":
            return await self._run_join(task)
        self.reporter.set_stage(common_pb2.STAGE_DOWNLOAD)
        inputs = await fetch_task_inputs(
            task, self.workspace, self.services.fetcher, self.services.inputs.font_dirs
        )
        self._inputs = inputs
        self._extras = LeaseExtras(self.services.inputs, inputs, self.workspace)
        self._extras.install_fonts()
        self._checkpoint()

        self.reporter.set_stage(common_pb2.STAGE_PREPARE)
        project, info = await self._prepare(task, inputs)
        project = await self._extras.run_scripts(
            project, render_follows=task.settings.output_type != "aep"
        )
        self._checkpoint()
        if task.settings.output_type == "aep":
            self.reporter.set_stage(common_pb2.STAGE_UPLOAD)
            return _Published(await self._publish([project]), None)

        engine = self._engine(task.settings.engine)
        plan = plan_output(
            task.settings, engine.version, self.workspace, catalog=self.services.codec_catalog
        )
        frames = None
        if info is not None:
            frames = expected_frames(info, *_frame_range(task.settings), _increment(task.settings))
        self.reporter.set_stage(common_pb2.STAGE_RENDER)
        rendered = await self._render_and_verify(engine, project, plan, frames)
        files, media = rendered.files, rendered.media
        self._checkpoint()

        if plan.encode is not None:
            self.reporter.set_stage(common_pb2.STAGE_ENCODE)
            files = await encode_output(
                files[0],
                plan.encode,
                plan.output_dir,
                stem=RESULT_STEM,
                first_frame=_first_frame(task.settings, info),
            )
            media = await verify_outputs(
                files, rendered.log, expected_frames=frames, sequence=plan.encode.sequence
            )
            self._checkpoint()

        if info is not None and media.duration is None and media.frames:
            media = dataclasses.replace(media, duration=media.frames / info.frame_rate)
        self.reporter.set_stage(common_pb2.STAGE_UPLOAD)
        return _Published(await self._publish(files), media, rendered.seconds)

    async def _prepare(
        self, task: common_pb2.RenderTask, inputs: TaskInputs
    ) -> tuple[Path, CompInfo | None]:
        if not inputs.footage and not inputs.data:
            # Nothing to patch: render the template as fetched. py-aep only supplies the frame
            # count, and a template it cannot read still renders, without that check.
            try:
                info = await asyncio.to_thread(read_comp_info, inputs.template, task.composition)
            except LeaseFailure as failure:
                if failure.code != "template_invalid":
                    raise
                logger.warning("rendering without a frame-count check: %s", failure.message)
                return inputs.template, None
            return inputs.template, info
        destination = self.workspace / PROJECT_NAME
        info, _ = await asyncio.to_thread(
            patch_project,
            inputs.template,
            destination,
            task.composition,
            inputs.footage,
            inputs.data,
        )
        return destination, info

    def _engine(self, name: str) -> Engine:
        engine = self.services.engines.get(name)
        if engine is None or not engine.available:
            have = ", ".join(sorted(e.name for e in self.services.engines.values() if e.available))
            reason = f": {engine.unavailable_reason}" if engine is not None else ""
            raise LeaseFailure(
                "engine_unavailable",
                f"engine {name!r} is not available on this agent{reason}; it has {have or 'none'}",
                retryable=True,
            )
        return engine

    async def _render_and_verify(
        self, engine: Engine, project: Path, plan: OutputPlan, frames: int | None
    ) -> _Rendered:
        settings = self.lease.task.settings
        start, end = _frame_range(settings)
        request = RenderRequest(
            project=project,
            composition=self.lease.task.composition,
            output=plan.render_output,
            output_module=plan.output_module,
            render_settings=plan.render_settings,
            frame_start=start,
            frame_end=end,
            frame_increment=_increment(settings),
            continue_on_missing_footage=settings.continue_on_missing_footage,
            mfr_cpu_percent=self.services.mfr_cpu_percent,
            render_settings_overrides=dict(settings.render_settings_overrides),
            output_settings_overrides=dict(settings.output_settings_overrides),
            script=self._extras.render_script if self._extras else None,
        )
        if self._extras is not None:
            engine = self._extras.engine(engine)
        limits = render_limits(
            settings.hang_timeout_seconds,
            settings.max_render_seconds,
            self.services.default_hang_timeout,
            stuck_exit_grace=self.services.stuck_exit_grace,
        )
        self._render = AerenderRun(
            engine,
            request,
            workspace=self.workspace,
            limits=limits,
            reporter=self.reporter,
            frames_expected=frames,
        )
        try:
            run = await self._render.run()
        finally:
            self._render = None
        self._checkpoint()
        if self._extras is not None:
            self._extras.check_render_stop(run.outcome)
        check_outcome(run.outcome, run.log, allow_missing_fonts=settings.allow_missing_fonts)
        if self._extras is not None:
            self._extras.check_scripts()
        files = find_outputs(plan.render_output, sequence=plan.render_sequence)
        media = await verify_outputs(
            files, run.log, expected_frames=frames, sequence=plan.render_sequence
        )
        return _Rendered(files, media, run.seconds, run.log)

    async def _run_join(self, task: common_pb2.RenderTask) -> _Published:
        self.reporter.set_stage(common_pb2.STAGE_DOWNLOAD)
        clips, fetched = await join.fetch_clips(task, self.workspace, self.services.fetcher)
        self._inputs = fetched
        self._checkpoint()
        self.reporter.set_stage(common_pb2.STAGE_ENCODE)
        started = time.monotonic()
        output, media = await join.join_clips(clips, task.settings, self.workspace / "out")
        seconds = time.monotonic() - started
        self._checkpoint()
        self.reporter.set_stage(common_pb2.STAGE_UPLOAD)
        return _Published(await self._publish([output]), media, seconds)

    async def _publish(self, files: list[Path]) -> list[common_pb2.Output]:
        task = self.lease.task
        files = await actions.run_postrender(task.postrender_json, files, self.workspace)
        destination = destinations.destination_for(task.upload_json)
        if destination is None and self.services.output_dir is not None:
            destination = destinations.Destination("fs", {"path": str(self.services.output_dir)})
        if destination is not None:
            destinations.check_file_count(destination, len(files))
            job_id = self.context.job_id
            return [await destinations.send(destination, path, job_id) for path in files]
        outputs = []
        for path in files:
            output = await self.services.artifacts.upload(
                path, path.name, job_id=self.context.job_id, lease_id=self.context.lease_id
            )
            logger.info("uploaded %s: %s (%d bytes)", path.name, output.url, output.size)
            outputs.append(output)
        return outputs

    def _failure(self, failure: LeaseFailure) -> agent_pb2.Result:
        logger.warning("lease failed: %s: %s", failure.code, failure.message)
        return self._result(success=False, error=failure.to_proto())

    def _result(self, *, success: bool, **fields: object) -> agent_pb2.Result:
        inputs = self._inputs
        return agent_pb2.Result(
            result_id=uuid.uuid4().hex,
            lease_id=self.context.lease_id,
            job_id=self.context.job_id,
            attempt=self.context.attempt,
            success=success,
            bytes_fetched=inputs.bytes_fetched if inputs else 0,
            bytes_from_cache=inputs.bytes_from_cache if inputs else 0,
            **fields,  # type: ignore[arg-type]
        )


def _frame_range(settings: common_pb2.RenderSettings) -> tuple[int | None, int | None]:
    if settings.has_frame_range:
        return settings.frame_start, settings.frame_end
    return None, None


def _first_frame(settings: common_pb2.RenderSettings, info: CompInfo | None) -> int:
    """Return the displayed number of the first rendered frame, which names sequence files."""
    if settings.has_frame_range:
        return settings.frame_start
    if info is None:
        return 0
    return info.display_start_frame + info.work_area_start_frame


def _increment(settings: common_pb2.RenderSettings) -> int:
    return settings.frame_increment or 1
