"""Reading fields of an input object and building spec models from them.

The parsers check meaning (ranges, names, combinations) by hand and leave plain type checks to
pydantic in strict mode, so "2" is no integer and 1 is no string. Fields records the input path
of every model field, so a pydantic error is reported at the job's own camelCase path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeGuard, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.jobspec.problems import (
    Problems,
    closest,
    describe,
    json_type,
    member,
    unknown_choice,
)

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


def present(raw: Mapping[str, Any], key: str) -> bool:
    """Return whether key is given. A JSON null counts as not given."""
    return raw.get(key) is not None


class Fields:
    """Keyword arguments for one spec model, each with the input path it came from."""

    def __init__(self, raw: Mapping[str, Any], at: str) -> None:
        self.raw = raw
        self.at = at
        self.values: dict[str, Any] = {}
        self.paths: dict[str, str] = {}

    def path(self, key: str) -> str:
        return member(self.at, key)

    def copy(self, field: str, key: str) -> None:
        """Copy the input's key into field, unless it is missing or null.

        The path is recorded either way, so a "missing" error of the model names the key.
        """
        self.expect(field, key)
        if present(self.raw, key):
            self.values[field] = self.raw[key]

    def expect(self, field: str, key: str) -> None:
        """Record that field comes from key, so a "missing" error of the model names the key."""
        self.paths[field] = self.path(key)

    def put(self, field: str, value: Any, key: str | None = None) -> None:
        """Set field to value, which was read from key (or from the whole object)."""
        self.values[field] = value
        self.paths[field] = self.path(key) if key is not None else self.at


def build(model: type[ModelT], fields: Fields, problems: Problems) -> ModelT | None:
    """Validate fields into model, reporting each pydantic error at its input path."""
    try:
        return model.model_validate(fields.values, strict=True)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems.add_unless_reported(_error_path(error, fields), _error_reason(error))
        return None


def _error_path(error: ErrorDetails, fields: Fields) -> str:
    location = list(error["loc"])
    if not location:
        return fields.at
    path = fields.paths.get(str(location[0]), fields.at)
    for part in location[1:]:
        # pydantic adds "[key]" after a dict key whose own type is wrong.
        if part != "[key]":
            path = member(path, part)
    return path


def _error_reason(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "missing: this field is required"
    message = error["msg"]
    message = message[:1].lower() + message[1:]
    return f"invalid value {describe(error['input'])} ({json_type(error['input'])}): {message}"


def check_known_fields(
    raw: Mapping[str, Any],
    known: Collection[str],
    at: str,
    problems: Problems,
    ignored: Collection[str] = (),
) -> None:
    """Report every key of raw that is neither known nor ignored, naming the closest one.

    ignored contains keys that are accepted without a check here, or that the caller reports.
    """
    for key in raw:
        name = str(key)
        if name in known or name in ignored:
            continue
        reason = f"unknown field {json.dumps(name)}"
        suggestion = closest(name, known)
        if suggestion is not None:
            reason += f"; did you mean {json.dumps(suggestion)}?"
        else:
            reason += f"; known fields here: {', '.join(sorted(known))}"
        problems.add(member(at, name), reason)


def object_at(value: Any, path: str, problems: Problems, label: str) -> dict[str, Any] | None:
    """Return value if it is a JSON object, else report that label must be one."""
    if isinstance(value, dict):
        return value
    problems.add(path, f"{label} must be an object, not {json_type(value)} {describe(value)}")
    return None


def list_at(value: Any, path: str, problems: Problems, label: str) -> list[Any] | None:
    """Return value if it is a JSON array, else report that label must be one."""
    if isinstance(value, list):
        return value
    problems.add(path, f"{label} must be an array, not {json_type(value)} {describe(value)}")
    return None


def check_choice(
    value: Any, choices: Sequence[str], label: str, path: str, problems: Problems
) -> TypeGuard[str]:
    """Report a string value that is not one of choices, and return whether it is one.

    A value that is not a string is left to the model's type check.
    """
    if not isinstance(value, str):
        return False
    if value in choices:
        return True
    problems.add(path, unknown_choice(label, value, choices))
    return False


def check_not_empty(value: Any, path: str, problems: Problems, label: str) -> bool:
    """Report a string that is empty or only whitespace, and return whether value is usable."""
    if isinstance(value, str) and not value.strip():
        problems.add(path, f"{label} is empty; give a non-empty string")
        return False
    return True


def is_integer(value: Any) -> TypeGuard[int]:
    """Return whether value is a JSON integer (true and false are not)."""
    return isinstance(value, int) and not isinstance(value, bool)
