"""Checking the actions of a nexrender job: {predownload, postdownload, prerender, postrender}.

An agent cannot load nexrender's npm modules, so it runs only the postrender actions it
implements itself: a copy of the output (@nexrender/action-copy) and an ffmpeg encode
(@nexrender/action-encode). Every other action is rejected rather than skipped, so a job never
silently loses a step. Accepted actions are kept as submitted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from controller.jobspec.fields import check_known_fields, list_at, object_at, present
from controller.jobspec.problems import Problems, describe, member, quoted_list

logger = logging.getLogger(__name__)

ACTION_STAGES = ("predownload", "postdownload", "prerender", "postrender")
COPY_MODULE = "@nexrender/action-copy"
ENCODE_MODULE = "@nexrender/action-encode"
POSTRENDER_MODULES = (COPY_MODULE, ENCODE_MODULE)


def parse_actions(
    value: Any, at: str, problems: Problems
) -> dict[str, list[dict[str, Any]]] | None:
    """Check each stage's list of actions and return the stages as submitted."""
    raw = object_at(value, at, problems, "actions")
    if raw is None:
        return None
    check_known_fields(raw, ACTION_STAGES, at, problems)
    stages: dict[str, list[dict[str, Any]]] = {}
    for stage in ACTION_STAGES:
        if not present(raw, stage):
            continue
        stage_path = member(at, stage)
        accepted: list[dict[str, Any]] = []
        for index, item in enumerate(list_at(raw[stage], stage_path, problems, stage) or []):
            path = member(stage_path, index)
            action = object_at(item, path, problems, "an action")
            if action is not None and _check_action(stage, action, path, problems):
                accepted.append(action)
        stages[stage] = accepted
    return stages


def _check_action(stage: str, action: dict[str, Any], at: str, problems: Problems) -> bool:
    """Report why the action cannot run at stage, and return whether it can."""
    module = action.get("module")
    path = member(at, "module")
    if not isinstance(module, str):
        reason = "missing" if module is None else f"invalid value {describe(module)}"
        problems.add(path, f"{reason}: an action needs module, the name of the action to run")
        return False
    supported = f"postrender actions may use {quoted_list(POSTRENDER_MODULES)}"
    if stage != "postrender":
        problems.add(
            path,
            f"aefarm runs no {stage} actions, so module {json.dumps(module)} cannot run; "
            f"remove it ({supported})",
        )
        return False
    if module not in POSTRENDER_MODULES:
        problems.add(
            path, f"unsupported postrender action module {json.dumps(module)}; {supported}"
        )
        return False
    if module == COPY_MODULE:
        return _check_copy(action, at, problems)
    return _check_encode(action, at, problems)


def _check_copy(action: dict[str, Any], at: str, problems: Problems) -> bool:
    output = action.get("output")
    if isinstance(output, str) and output.strip():
        return _check_optional_string(action, "input", at, problems)
    reason = "missing" if output is None else f"invalid value {describe(output)}"
    problems.add(member(at, "output"), f"{reason}: {COPY_MODULE} needs output, the path to copy to")
    return False


def _check_encode(action: dict[str, Any], at: str, problems: Problems) -> bool:
    preset = action.get("preset")
    params = action.get("params")
    valid = True
    if preset is None and params is None:
        problems.add(
            member(at, "preset"),
            f'missing: {ENCODE_MODULE} needs preset (such as "mp4") or params (ffmpeg options)',
        )
        valid = False
    if preset is not None and not (isinstance(preset, str) and preset.strip()):
        problems.add(
            member(at, "preset"), f'preset must be a name such as "mp4", not {describe(preset)}'
        )
        valid = False
    if params is not None and not isinstance(params, dict):
        problems.add(member(at, "params"), f"params must be an object, not {describe(params)}")
        valid = False
    for key in ("input", "output"):
        valid = _check_optional_string(action, key, at, problems) and valid
    return valid


def _check_optional_string(action: dict[str, Any], key: str, at: str, problems: Problems) -> bool:
    value = action.get(key)
    if value is None or (isinstance(value, str) and value.strip()):
        return True
    problems.add(member(at, key), f"{key} must be a non-empty path, not {describe(value)}")
    return False
