"""Parsing script assets: a user ExtendScript with parameters that it reads by keyword."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from controller.jobspec.fields import Fields, build, check_known_fields, list_at, object_at
from controller.jobspec.models import ScriptAsset
from controller.jobspec.problems import Problems, describe, json_type, member, quoted_list
from controller.jobspec.sources import take_src

logger = logging.getLogger(__name__)

_SCRIPT_FIELDS = ("type", "src", "keyword", "parameters")
_PARAMETER_FIELDS = ("key", "value", "type")
# JSON types a parameter may declare. nexrender's "function" type would splice code into the
# generated script, and aefarm passes parameters only as JSON literals.
_PARAMETER_TYPES = ("array", "boolean", "null", "number", "object", "string")
# The keyword becomes a global variable of the script, so it must be an ExtendScript identifier.
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def parse_script(raw: dict[str, Any], at: str, problems: Problems) -> ScriptAsset | None:
    """Parse a script asset. Its parameters [{key, value, type}] become a key to value mapping."""
    check_known_fields(raw, _SCRIPT_FIELDS, at, problems)
    fields = Fields(raw, at)
    take_src(fields, problems)
    keyword = raw.get("keyword")
    if isinstance(keyword, str) and not _IDENTIFIER.match(keyword):
        problems.add(
            fields.path("keyword"),
            f"keyword {json.dumps(keyword)} is not an ExtendScript identifier; use letters, "
            'digits, "_" or "$", not starting with a digit, such as "NX"',
        )
    fields.copy("keyword", "keyword")
    if raw.get("parameters") is not None:
        parameters = _parse_parameters(raw["parameters"], fields.path("parameters"), problems)
        fields.put("parameters", parameters, "parameters")
    return build(ScriptAsset, fields, problems)


def _parse_parameters(value: Any, at: str, problems: Problems) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for index, item in enumerate(list_at(value, at, problems, "parameters") or []):
        path = member(at, index)
        raw = object_at(item, path, problems, "a script parameter")
        if raw is None:
            continue
        check_known_fields(raw, _PARAMETER_FIELDS, path, problems)
        key = raw.get("key")
        if not isinstance(key, str) or not key.strip():
            problems.add(
                member(path, "key"), f"key must be a non-empty string, not {describe(key)}"
            )
            continue
        if key in parameters:
            problems.add(member(path, "key"), f"parameter key {json.dumps(key)} is given twice")
            continue
        if "value" not in raw:
            problems.add(member(path, "value"), f"missing: parameter {json.dumps(key)} needs value")
            continue
        _check_declared_type(raw, path, problems)
        parameters[key] = raw["value"]
    return parameters


def _check_declared_type(raw: dict[str, Any], at: str, problems: Problems) -> None:
    declared = raw.get("type")
    if declared is None:
        return
    path = member(at, "type")
    if declared not in _PARAMETER_TYPES:
        problems.add(
            path,
            f"parameter type {describe(declared)} is not supported; aefarm passes parameters "
            f"as JSON values, so use one of {quoted_list(_PARAMETER_TYPES)} or leave type out",
        )
        return
    actual = json_type(raw["value"])
    if actual != declared:
        problems.add(
            path,
            f"parameter type {json.dumps(declared)} does not match its value "
            f"{describe(raw['value'])}, which is a {actual}",
        )
