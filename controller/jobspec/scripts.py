"""Parsing script and function assets: user ExtendScript with parameters it reads by keyword.

A script asset names its file by src. A function asset (Nexrender Cloud) carries the source
itself in code, with parameters as an object of name to value, and runs like a script asset.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from controller.jobspec.fields import Fields, build, check_known_fields, list_at, object_at
from controller.jobspec.models import FunctionAsset, ScriptAsset
from controller.jobspec.problems import Problems, describe, json_type, member, quoted_list
from controller.jobspec.sources import take_src

logger = logging.getLogger(__name__)

_SCRIPT_FIELDS = ("type", "src", "keyword", "parameters")
_FUNCTION_FIELDS = ("type", "code", "keyword", "parameters")
# UTF-8 bytes of code one function asset may carry. The code travels in the task of every
# lease, and a gRPC message holds at most 16 MiB (controller/server.py), so a longer script
# belongs in a file that a script asset's src names.
MAX_FUNCTION_CODE_BYTES = 1024 * 1024
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
    _take_keyword(fields, problems)
    if raw.get("parameters") is not None:
        parameters = _parse_parameters(raw["parameters"], fields.path("parameters"), problems)
        fields.put("parameters", parameters, "parameters")
    return build(ScriptAsset, fields, problems)


def parse_function(raw: dict[str, Any], at: str, problems: Problems) -> FunctionAsset | None:
    """Parse a function asset: ExtendScript source in code, parameters as a JSON object."""
    check_known_fields(raw, _FUNCTION_FIELDS, at, problems)
    fields = Fields(raw, at)
    _check_code(raw.get("code"), fields.path("code"), problems)
    fields.copy("code", "code")
    _take_keyword(fields, problems)
    parameters = raw.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        problems.add(
            fields.path("parameters"),
            "parameters of a function asset must be an object of name to value, such as "
            f'{{"title": "Hello"}}, not {json_type(parameters)} {describe(parameters)}',
        )
    elif parameters is not None:
        fields.put("parameters", parameters, "parameters")
    return build(FunctionAsset, fields, problems)


def _check_code(code: Any, path: str, problems: Problems) -> None:
    # A NUL character and an unpaired surrogate are reported for every text of the job by
    # controller.jobspec.limits.
    if code is None:
        problems.add(path, "missing: a function asset needs code, the ExtendScript source to run")
    elif not isinstance(code, str):
        problems.add(path, f"code must be a string of ExtendScript, not {json_type(code)}")
    elif not code.strip():
        problems.add(path, "code is empty; give the ExtendScript source to run")
    elif len(code.encode("utf-8", "surrogatepass")) > MAX_FUNCTION_CODE_BYTES:
        size = len(code.encode("utf-8", "surrogatepass"))
        problems.add(
            path,
            f"code is {size} bytes, more than {MAX_FUNCTION_CODE_BYTES}; put the script in a "
            "file and give a script asset whose src names it",
        )


def _take_keyword(fields: Fields, problems: Problems) -> None:
    keyword = fields.raw.get("keyword")
    if isinstance(keyword, str) and not _IDENTIFIER.match(keyword):
        problems.add(
            fields.path("keyword"),
            f"keyword {json.dumps(keyword)} is not an ExtendScript identifier; use letters, "
            'digits, "_" or "$", not starting with a digit, such as "NX"',
        )
    fields.copy("keyword", "keyword")


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
