"""Build the RenderTask of a lease from a job's spec and the outputs of its finished children."""

from __future__ import annotations

import json
import logging

from controller.jobspec import models
from controller.scheduler_types import ChildInput, JobRecord
from protos import common_pb2

logger = logging.getLogger(__name__)


def build_task(job: JobRecord) -> common_pb2.RenderTask:
    """Return the task an agent runs for one attempt of the job.

    A render task lists the spec's assets, then one video footage asset per child, on the
    child's layer. A join task lists its clips in join_inputs order, with each job input
    replaced by that child's first output.
    """
    spec = job.spec
    task = common_pb2.RenderTask(kind=spec.kind, settings=_settings(spec.settings))
    if spec.template is not None:
        task.template_src = spec.template.src or ""
        task.template_sha256 = spec.template.sha256 or ""
        task.composition = spec.template.composition
    task.assets.extend(_asset(asset) for asset in spec.assets)
    task.fonts.extend(spec.fonts)
    if spec.upload is not None:
        task.upload_json = json.dumps(spec.upload)
    if spec.actions.get("postrender"):
        task.postrender_json = json.dumps(spec.actions["postrender"])
    if spec.kind == "join":
        task.join_inputs.extend(_join_inputs(spec, job.inputs))
    else:
        task.assets.extend(_child_footage(child) for child in job.inputs)
    return task


def _child_footage(child: ChildInput) -> common_pb2.Asset:
    footage = common_pb2.FootageAsset(
        type="video",
        src=child.src,
        layer_name=child.layer_name,
        composition=child.composition,
        name=child.name,
        sha256=child.sha256,
    )
    return common_pb2.Asset(footage=footage)


def _join_inputs(spec: models.JobSpec, inputs: list[ChildInput]) -> list[common_pb2.JoinInput]:
    outputs = {child.input_index: child.src for child in inputs}
    clips = []
    for index, join_input in enumerate(spec.join_inputs):
        src = join_input.src if join_input.job is None else outputs.get(index)
        if src is None:
            raise ValueError(f"join input {index} is a job whose output is not known yet")
        clips.append(common_pb2.JoinInput(src=src))
    return clips


def _asset(asset: models.Asset) -> common_pb2.Asset:
    match asset:
        case models.FootageAsset():
            footage = common_pb2.FootageAsset(
                type=asset.type,
                src=asset.src,
                layer_name=asset.layer_name or "",
                layer_index=asset.layer_index or 0,
                composition=asset.composition or "",
                sequence=asset.sequence,
                name=asset.name or "",
                sha256=asset.sha256 or "",
                remove_old=asset.remove_old,
                every_match=asset.every_match,
            )
            return common_pb2.Asset(footage=footage)
        case models.DataAsset():
            data = common_pb2.DataAsset(
                layer_name=asset.layer_name or "",
                layer_index=asset.layer_index or 0,
                composition=asset.composition or "",
                property=asset.property,
                # An expression-only data asset leaves value_json empty.
                value_json="" if asset.value is None else json.dumps(asset.value),
                expression=asset.expression or "",
                every_match=asset.every_match,
            )
            return common_pb2.Asset(data=data)
        case models.EssentialAsset():
            essential = common_pb2.EssentialAsset(
                layer_name=asset.layer_name or "",
                layer_index=asset.layer_index or 0,
                composition=asset.composition or "",
                property=asset.property,
                value_json=json.dumps(asset.value),
                every_match=asset.every_match,
            )
            return common_pb2.Asset(essential=essential)
        case models.StaticAsset():
            static = common_pb2.StaticAsset(
                src=asset.src, name=asset.name or "", sha256=asset.sha256 or ""
            )
            return common_pb2.Asset(static_file=static)
        case models.ScriptAsset():
            script = common_pb2.ScriptAsset(
                src=asset.src,
                keyword=asset.keyword,
                parameters_json=json.dumps(asset.parameters),
            )
            return common_pb2.Asset(script=script)
        case models.FunctionAsset():
            function = common_pb2.ScriptAsset(
                code=asset.code,
                keyword=asset.keyword,
                parameters_json=json.dumps(asset.parameters),
            )
            return common_pb2.Asset(script=function)
        case models.FontAsset():
            return common_pb2.Asset(font=common_pb2.FontAsset(src=asset.src, name=asset.name or ""))
    raise TypeError(f"unknown asset type {type(asset).__name__}")


def _settings(settings: models.RenderSettings) -> common_pb2.RenderSettings:
    message = common_pb2.RenderSettings(
        engine=settings.engine,
        codec=settings.codec or "",
        quality=settings.quality,
        preview=settings.preview,
        output_type=settings.output_type,
        frame_increment=settings.frame_increment,
        output_module=settings.output_module or "",
        render_settings_template=settings.render_settings_template or "",
        output_ext=settings.output_ext or "",
        continue_on_missing_footage=settings.continue_on_missing_footage,
        hang_timeout_seconds=settings.hang_timeout_seconds or 0,
        max_render_seconds=settings.max_render_seconds or 0,
        allow_missing_fonts=settings.allow_missing_fonts,
    )
    message.render_settings_overrides.update(settings.render_settings_overrides)
    message.output_settings_overrides.update(settings.output_settings_overrides)
    if settings.frame_start is not None and settings.frame_end is not None:
        # validate_job rejects a range with one end only, which RenderSettings cannot carry.
        message.has_frame_range = True
        message.frame_start = settings.frame_start
        message.frame_end = settings.frame_end
    return message
