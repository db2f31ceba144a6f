"""The `aefarm template` commands: add a project as a template, list templates, show one."""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from controller.cli.client import Controller, resolve_address
from controller.cli.console import print_error, print_json
from controller.cli.errors import EXIT_INVALID, EXIT_OK, CliError
from controller.cli.format import format_size, render_table
from protos import artifacts_pb2, templates_pb2, templates_pb2_grpc
from protos.artifact_chunks import (
    UPLOAD_CHUNK_BYTES,
    encode_upload_data,
    encode_upload_header,
    upload_method,
)

logger = logging.getLogger(__name__)

# Seconds an upload of a template may take.
UPLOAD_TIMEOUT_SECONDS = 600.0


def add_template_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    parser = commands.add_parser(
        "template",
        help="add, list and show templates known to the controller",
        description="Templates known to the controller: .aep projects stored in its artifact "
        "store and inspected, so jobs can name them by template.id and are checked at submit.",
    )
    actions = parser.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        parents=[address, as_json],
        help="upload an .aep file and store it as a template",
        description="Upload FILE.aep to the controller's artifact store; the controller "
        "inspects it and stores its compositions, layers and fonts under a unique name.",
    )
    add.add_argument("file", metavar="FILE.aep", help="After Effects project file")
    add.add_argument(
        "--name", default="", help="unique template name (default: the file name without .aep)"
    )
    add.set_defaults(handler=run_add)

    listing = actions.add_parser(
        "list",
        parents=[address, as_json],
        help="list the templates",
        description="List the templates known to the controller, by name.",
    )
    listing.set_defaults(handler=run_list)

    show = actions.add_parser(
        "show",
        parents=[address, as_json],
        help="show a template's compositions, layers, effects, controllers and fonts",
        description="Show one template, found by id or name.",
    )
    show.add_argument("id", metavar="ID|NAME", help="template id or name")
    show.set_defaults(handler=run_show)


def run_add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path} is not a file; give the path of an .aep project", EXIT_INVALID)
    with Controller(resolve_address(args.controller)) as controller:
        ref = upload(controller, path)
        stub = templates_pb2_grpc.TemplateServiceStub(controller.channel)
        request = templates_pb2.AddTemplateRequest(
            sha256=ref.sha256, file_name=ref.name, name=args.name
        )
        template = controller.unary(stub.AddTemplate, request, f"add template {path.name}")
    if args.json:
        print_json(template_to_dict(template))
    else:
        print(f"added template {template.name} (id {template.id}, {template.url})")
    return EXIT_OK


def upload(controller: Controller, path: Path) -> artifacts_pb2.ArtifactRef:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(UPLOAD_CHUNK_BYTES), b""):
            digest.update(block)
    header = artifacts_pb2.UploadHeader(
        name=path.name, size=path.stat().st_size, sha256=digest.hexdigest()
    )

    def chunks() -> Iterator[bytes]:
        yield encode_upload_header(header)
        with path.open("rb") as file:
            for block in iter(lambda: file.read(UPLOAD_CHUNK_BYTES), b""):
                yield encode_upload_data(block)

    logger.info("uploading %s (%d bytes)", path, header.size)
    ref: artifacts_pb2.ArtifactRef = controller.unary(
        upload_method(controller.channel), chunks(), f"upload {path.name}", UPLOAD_TIMEOUT_SECONDS
    )
    return ref


def run_list(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        stub = templates_pb2_grpc.TemplateServiceStub(controller.channel)
        request = templates_pb2.ListTemplatesRequest()
        response = controller.unary(stub.ListTemplates, request, "list templates")
    templates = [template_to_dict(template) for template in response.templates]
    if args.json:
        print_json(templates)
    elif templates:
        rows = [
            (
                t["name"],
                t["id"],
                str(len(t["compositions"])),
                format_size(t["size"]),
                ", ".join(t["fonts"]) or "-",
            )
            for t in templates
        ]
        print(render_table(("NAME", "ID", "COMPS", "SIZE", "FONTS"), rows))
    else:
        print_error("no templates; add one with `aefarm template add FILE.aep`")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        stub = templates_pb2_grpc.TemplateServiceStub(controller.channel)
        request = templates_pb2.GetTemplateRequest(id=args.id)
        template = controller.unary(stub.GetTemplate, request, f"show template {args.id}")
    as_dict = template_to_dict(template)
    if args.json:
        print_json(as_dict)
    else:
        print(template_detail(as_dict))
    return EXIT_OK


def template_to_dict(template: templates_pb2.Template) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "url": template.url,
        "sha256": template.sha256,
        "size": template.size,
        "fonts": list(template.fonts),
        "compositions": [
            {
                "name": comp.name,
                "width": comp.width,
                "height": comp.height,
                "frame_rate": comp.frame_rate,
                "duration": comp.duration,
                "display_start_frame": comp.display_start_frame,
                "layers": [
                    {
                        "index": layer.index,
                        "name": layer.name,
                        "type": layer.type,
                        "source": layer.source_name or None,
                        "source_composition": layer.source_composition or None,
                        "effects": list(layer.effects),
                    }
                    for layer in comp.layers
                ],
                "controllers": [
                    {"name": controller.name, "type": controller.type}
                    for controller in comp.controllers
                ],
            }
            for comp in template.compositions
        ],
    }


def template_detail(template: dict[str, Any]) -> str:
    lines = [
        f"template  {template['name']}",
        f"id        {template['id']}",
        f"url       {template['url']}",
        f"size      {format_size(template['size'])}",
        f"fonts     {', '.join(template['fonts']) or '-'}",
    ]
    for comp in template["compositions"]:
        lines.append(
            f"composition {comp['name']!r}  {comp['width']}x{comp['height']}  "
            f"{comp['frame_rate']:g} fps  {comp['duration']:g} s  "
            f"starts at frame {comp['display_start_frame']}"
        )
        for layer in comp["layers"]:
            source = layer["source_composition"] or layer["source"]
            shown = f"  <- {source}" if source else ""
            lines.append(f"  {layer['index']:>3}  {layer['type']:<10}  {layer['name']}{shown}")
            if layer["effects"]:
                lines.append(f"       effects: {', '.join(layer['effects'])}")
        if comp["controllers"]:
            lines.append("  Essential Graphics controllers:")
            for controller in comp["controllers"]:
                lines.append(f"       {controller['type']:<10}  {controller['name']}")
    return "\n".join(lines)
