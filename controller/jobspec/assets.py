"""Parsing the assets[] list of a job into spec assets and nested jobs.

Accepted fields per asset type, as both job shapes write them:

- image, video, audio (footage): src, layerName or layerIndex, composition, name, extension,
  sequence, and nexrender's useOriginal and removeOld, which are checked and then ignored
  because an agent always copies footage into the job's workspace.
- text (Nexrender Cloud): layerName or layerIndex, composition, value. It sets Source Text.
- data: layerName or layerIndex, composition, property, value and/or expression.
- essential (Nexrender Cloud): property (an Essential Graphics controller's name), value, and
  optionally composition and layerName or layerIndex of a precomposition layer.
- static: src, name. script: src, keyword, parameters. font (aefarm): src, name.
- function (Nexrender Cloud): code (ExtendScript source), keyword, parameters (an object);
  see controller.jobspec.scripts.
- job (Nexrender Cloud): a nested job; see controller.jobspec.cloud.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from controller.jobspec.fields import (
    Fields,
    build,
    check_known_fields,
    check_not_empty,
    is_integer,
    list_at,
    object_at,
    present,
)
from controller.jobspec.models import (
    Asset,
    DataAsset,
    EssentialAsset,
    FontAsset,
    FootageAsset,
    NestedJob,
    StaticAsset,
)
from controller.jobspec.names import check_workspace_name
from controller.jobspec.problems import Problems, describe, member, unknown_choice
from controller.jobspec.scripts import parse_function, parse_script
from controller.jobspec.sources import artifact_sha256, take_src

logger = logging.getLogger(__name__)

FOOTAGE_TYPES = ("image", "video", "audio")
ASSET_TYPES = (
    "audio", "data", "essential", "font", "function", "image", "job", "script", "static", "text",
    "video",
)  # fmt: skip

_LAYER_FIELDS = ("layerName", "layerIndex", "composition", "everyMatch")
_FOOTAGE_FIELDS = (
    "type", "src", *_LAYER_FIELDS, "name", "extension", "sequence", "useOriginal", "removeOld",
)  # fmt: skip
_TEXT_FIELDS = ("type", *_LAYER_FIELDS, "value")
_DATA_FIELDS = ("type", *_LAYER_FIELDS, "property", "value", "expression")
_ESSENTIAL_FIELDS = ("type", *_LAYER_FIELDS, "property", "value")
_FILE_FIELDS = ("type", "src", "name")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,16}\Z")

# A function that parses a nested job asset, given the asset object and its path.
NestedJobParser = Callable[[dict[str, Any], str], NestedJob | None]


@dataclass
class ParsedAssets:
    assets: list[Asset] = field(default_factory=list)
    children: list[NestedJob] = field(default_factory=list)


def parse_assets(
    value: Any, at: str, problems: Problems, parse_nested: NestedJobParser | None
) -> ParsedAssets:
    """Parse an assets[] list. Nested job assets go to parse_nested, or are rejected if None."""
    parsed = ParsedAssets()
    items = list_at(value, at, problems, "assets")
    for index, item in enumerate(items or []):
        path = member(at, index)
        raw = object_at(item, path, problems, "an asset")
        if raw is None or not _check_type(raw, path, problems):
            continue
        if raw["type"] == "job":
            child = _parse_job_asset(raw, path, problems, parse_nested)
            if child is not None:
                parsed.children.append(child)
            continue
        asset = _parse_asset(raw, path, problems)
        if asset is not None:
            parsed.assets.append(asset)
    return parsed


def _check_type(raw: dict[str, Any], at: str, problems: Problems) -> bool:
    asset_type = raw.get("type")
    path = member(at, "type")
    if asset_type is None:
        problems.add(path, f"missing: give the asset type, one of {', '.join(ASSET_TYPES)}")
        return False
    if not isinstance(asset_type, str):
        problems.add(path, f"asset type must be a string, not {describe(asset_type)}")
        return False
    if asset_type not in ASSET_TYPES:
        problems.add(path, unknown_choice("asset type", asset_type, ASSET_TYPES))
        return False
    return True


def _parse_job_asset(
    raw: dict[str, Any], at: str, problems: Problems, parse_nested: NestedJobParser | None
) -> NestedJob | None:
    if parse_nested is None:
        problems.add(
            member(at, "type"),
            'nested jobs (asset type "job") belong to the Nexrender Cloud shape; '
            "write the job in that shape to use them",
        )
        return None
    return parse_nested(raw, at)


def _parse_asset(raw: dict[str, Any], at: str, problems: Problems) -> Asset | None:
    asset_type = raw["type"]
    if asset_type in FOOTAGE_TYPES:
        return _parse_footage(raw, at, problems)
    if asset_type == "text":
        return _parse_text(raw, at, problems)
    if asset_type == "data":
        return _parse_data(raw, at, problems)
    if asset_type == "essential":
        return _parse_essential(raw, at, problems)
    if asset_type == "script":
        return parse_script(raw, at, problems)
    if asset_type == "function":
        return parse_function(raw, at, problems)
    if asset_type == "static":
        return _parse_file(StaticAsset, raw, at, problems)
    return _parse_file(FontAsset, raw, at, problems)


def _parse_footage(raw: dict[str, Any], at: str, problems: Problems) -> FootageAsset | None:
    check_known_fields(raw, _FOOTAGE_FIELDS, at, problems)
    fields = Fields(raw, at)
    fields.put("type", raw["type"], "type")
    _take_layer_target(fields, problems, f"{raw['type']} asset")
    src = take_src(fields, problems)
    _take_file_name(fields, problems, src)
    fields.copy("sequence", "sequence")
    if src is not None and artifact_sha256(src) is not None:
        fields.put("sha256", artifact_sha256(src), "src")
    for key in ("useOriginal", "removeOld"):
        if present(raw, key) and not isinstance(raw[key], bool):
            problems.add(fields.path(key), f"{key} must be true or false, not {describe(raw[key])}")
    if raw.get("removeOld") is True:
        fields.put("remove_old", True, "removeOld")
    return build(FootageAsset, fields, problems)


def _parse_text(raw: dict[str, Any], at: str, problems: Problems) -> DataAsset | None:
    check_known_fields(raw, _TEXT_FIELDS, at, problems)
    fields = Fields(raw, at)
    _take_layer_target(fields, problems, "text asset")
    fields.put("property", ["Source Text"])
    value = raw.get("value")
    if value is None:
        problems.add(fields.path("value"), "missing: a text asset needs value, the text to show")
    elif not isinstance(value, str):
        problems.add(fields.path("value"), f"text value must be a string, not {describe(value)}")
    fields.copy("value", "value")
    return build(DataAsset, fields, problems)


def _parse_data(raw: dict[str, Any], at: str, problems: Problems) -> DataAsset | None:
    check_known_fields(raw, _DATA_FIELDS, at, problems)
    fields = Fields(raw, at)
    _take_layer_target(fields, problems, "data asset")
    fields.expect("property", "property")
    prop = raw.get("property")
    if prop is None:
        problems.add(
            fields.path("property"),
            'missing: a data asset needs property, such as "Source Text" or '
            '"Effects->Skin_Color->Color"',
        )
    elif not isinstance(prop, str):
        problems.add(fields.path("property"), f"property must be a string, not {describe(prop)}")
    else:
        parts = split_property(prop)
        if parts is None:
            problems.add(
                fields.path("property"),
                f"property {json.dumps(prop)} has an empty part; separate names with -> or .",
            )
        else:
            fields.put("property", parts, "property")
    if not present(raw, "value") and not present(raw, "expression"):
        problems.add(fields.path("value"), "missing: a data asset needs value or expression")
    fields.copy("value", "value")
    fields.copy("expression", "expression")
    return build(DataAsset, fields, problems)


def _parse_essential(raw: dict[str, Any], at: str, problems: Problems) -> EssentialAsset | None:
    check_known_fields(raw, _ESSENTIAL_FIELDS, at, problems)
    fields = Fields(raw, at)
    if present(raw, "layerName") or present(raw, "layerIndex"):
        _take_layer_target(fields, problems, "essential asset")
    else:
        check_composition(raw.get("composition"), fields.path("composition"), problems)
        if raw.get("composition") == "*":
            problems.add(
                fields.path("composition"),
                'composition "*" means every composition that has the layer, but the asset '
                "names no layer; name the one composition whose controller to set, or give "
                "layerName",
            )
        fields.copy("composition", "composition")
        if raw.get("everyMatch") is not None:
            problems.add(
                fields.path("everyMatch"),
                "everyMatch applies to layers named by layerName; give layerName, or remove "
                "everyMatch",
            )
    name = raw.get("property")
    if name is None:
        problems.add(
            fields.path("property"),
            "missing: an essential asset needs property, the name of a controller as the "
            "Essential Graphics panel shows it",
        )
    else:
        check_not_empty(name, fields.path("property"), problems, "property")
    fields.copy("property", "property")
    value = raw.get("value")
    fields.expect("value", "value")
    if value is None:
        problems.add(fields.path("value"), "missing: an essential asset needs value")
    elif not _is_essential_value(value):
        problems.add(
            fields.path("value"),
            f"value {describe(value)} is no controller value; give a string (text), a number "
            "(slider, angle, dropdown), true or false (checkbox), or an array of numbers "
            "(colour, point)",
        )
    else:
        fields.put("value", value, "value")
    return build(EssentialAsset, fields, problems)


def _is_essential_value(value: Any) -> bool:
    if isinstance(value, str | bool | int | float):
        return True
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)


def split_property(text: str) -> list[str] | None:
    """Split a property path on "->", else on ".", and return None if a part is empty.

    Names that contain a dot, such as an effect named "Glow 2.0", need the "->" form.
    """
    separator = "->" if "->" in text else "."
    parts = [part.strip() for part in text.split(separator)]
    if any(not part for part in parts):
        return None
    return parts


def _parse_file(
    model: type[StaticAsset] | type[FontAsset], raw: dict[str, Any], at: str, problems: Problems
) -> StaticAsset | FontAsset | None:
    check_known_fields(raw, _FILE_FIELDS, at, problems)
    fields = Fields(raw, at)
    fields.put("type", raw["type"], "type")
    src = take_src(fields, problems)
    name = raw.get("name")
    if isinstance(name, str):
        check_workspace_name(name, fields.path("name"), problems)
    fields.copy("name", "name")
    if model is StaticAsset and src is not None and artifact_sha256(src) is not None:
        fields.put("sha256", artifact_sha256(src), "src")
    return build(model, fields, problems)


def _take_layer_target(fields: Fields, problems: Problems, label: str) -> None:
    raw = fields.raw
    has_name = present(raw, "layerName")
    has_index = present(raw, "layerIndex")
    if not has_name and not has_index:
        problems.add(
            fields.path("layerName"),
            f"missing: a {label} needs layerName (the layer's name) or layerIndex "
            "(its 1-based index)",
        )
    elif has_name and has_index:
        problems.add(fields.at, "the asset gives both layerName and layerIndex; keep one of them")
    index = raw.get("layerIndex")
    if is_integer(index) and index < 1:
        problems.add(
            fields.path("layerIndex"),
            f"layerIndex {index} is below 1; layers are numbered from 1 at the top of the "
            "composition",
        )
    check_not_empty(raw.get("layerName"), fields.path("layerName"), problems, "layerName")
    check_composition(raw.get("composition"), fields.path("composition"), problems)
    fields.copy("layer_name", "layerName")
    fields.copy("layer_index", "layerIndex")
    fields.copy("composition", "composition")
    fields.copy("every_match", "everyMatch")


def check_composition(value: Any, path: str, problems: Problems) -> None:
    """Report an empty composition name, or an "outer->inner" chain with an empty part."""
    if not isinstance(value, str):
        return
    if any(not part.strip() for part in value.split("->")):
        problems.add(
            path,
            f"composition {json.dumps(value)} has an empty name; write one name, "
            'or "outer->inner" for a composition nested in another',
        )


def _take_file_name(fields: Fields, problems: Problems, src: str | None) -> None:
    raw = fields.raw
    name = raw.get("name")
    if isinstance(name, str):
        check_workspace_name(name, fields.path("name"), problems)
    fields.copy("name", "name")
    extension = raw.get("extension")
    if extension is None:
        return
    path = fields.path("extension")
    if not isinstance(extension, str) or not _EXTENSION.match(extension.removeprefix(".")):
        problems.add(
            path,
            f'extension {describe(extension)} is invalid; give letters and digits, such as "png"',
        )
        return
    if name is None and src is not None:
        # nexrender's extension names the file type when src has none, as in an API URL.
        derived = f"{_stem_of(src)}.{extension.removeprefix('.')}"
        check_workspace_name(derived, path, problems, "file name (from src and extension)")
        fields.put("name", derived, "extension")


def _stem_of(src: str) -> str:
    if src.startswith("data:"):
        return "asset"
    stem = PurePosixPath(unquote(urlsplit(src).path)).stem
    return stem or "asset"
