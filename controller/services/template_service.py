"""TemplateService: add a stored .aep as a template, list templates, show one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from controller.artifacts import ArtifactStore, validate_name, validate_sha256
from controller.errors import ArtifactNotFound, InvalidRequest
from controller.status import Context, unary_errors
from controller.template_inspect import TemplateUnreadable, inspect_project
from controller.templates import (
    TemplateCatalog,
    TemplateNameTaken,
    TemplateNotFound,
    TemplateRecord,
    default_name,
)
from protos import templates_pb2, templates_pb2_grpc

logger = logging.getLogger(__name__)


class TemplateService(templates_pb2_grpc.TemplateServiceServicer):
    def __init__(
        self, catalog: TemplateCatalog, artifacts: ArtifactStore, clock: Callable[[], float]
    ) -> None:
        self.catalog = catalog
        self.artifacts = artifacts
        self.clock = clock

    @unary_errors
    async def AddTemplate(
        self, request: templates_pb2.AddTemplateRequest, context: Context
    ) -> templates_pb2.Template:
        validate_sha256(request.sha256, "sha256")
        validate_name(request.file_name, "file_name")
        if not self.artifacts.exists(request.sha256):
            raise ArtifactNotFound(request.sha256)
        name = request.name.strip() or default_name(request.file_name)
        path = self.artifacts.path(request.sha256)
        try:
            info = await asyncio.to_thread(inspect_project, path)
        except TemplateUnreadable as error:
            raise InvalidRequest("sha256", f"{error}; upload an .aep file") from error
        try:
            record = self.catalog.add(
                name,
                request.sha256,
                request.file_name,
                self.artifacts.size(request.sha256),
                info,
                self.clock(),
            )
        except TemplateNameTaken as error:
            raise InvalidRequest("name", str(error)) from error
        return template_message(record)

    @unary_errors
    async def ListTemplates(
        self, request: templates_pb2.ListTemplatesRequest, context: Context
    ) -> templates_pb2.ListTemplatesResponse:
        templates = [template_message(record) for record in self.catalog.list()]
        return templates_pb2.ListTemplatesResponse(templates=templates)

    @unary_errors
    async def GetTemplate(
        self, request: templates_pb2.GetTemplateRequest, context: Context
    ) -> templates_pb2.Template:
        try:
            return template_message(self.catalog.get(request.id))
        except TemplateNotFound as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
            raise


def template_message(record: TemplateRecord) -> templates_pb2.Template:
    message = templates_pb2.Template(
        id=record.id,
        name=record.name,
        sha256=record.sha256,
        size=record.size,
        url=record.url,
        created_at=record.created_at,
        fonts=record.info.fonts,
    )
    for comp in record.info.compositions:
        message.compositions.append(
            templates_pb2.TemplateComposition(
                name=comp.name,
                width=comp.width,
                height=comp.height,
                frame_rate=comp.frame_rate,
                duration=comp.duration,
                display_start_frame=comp.display_start_frame,
                layers=[
                    templates_pb2.TemplateLayer(
                        index=layer.index,
                        name=layer.name,
                        type=layer.type,
                        source_name=layer.source_name,
                        source_composition=layer.source_composition,
                        effects=[effect.name for effect in layer.properties.effects]
                        if layer.properties is not None
                        else [],
                    )
                    for layer in comp.layers
                ],
                controllers=[
                    templates_pb2.TemplateController(name=controller.name, type=controller.type)
                    for controller in comp.controllers or ()
                ],
            )
        )
    return message
