"""Settings from a TOML file and AEFARM_* environment variables, under the command line.

Every long option of a command is also a key: `--lease-grace 30` is `lease_grace = 30` in the
file given by `--config PATH` and `AEFARM_LEASE_GRACE=30` in the environment. A flag on the
command line wins over the environment, and the environment wins over the file. Values are
validated by a pydantic model built from the options, and errors name the key and its source.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

ENV_PREFIX = "AEFARM_"
# Options that are not settings: the config file itself, and per-run actions.
NOT_KEYS = frozenset({"help", "config"})


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="TOML file of settings; every long option is a key (lease_grace = 30), "
        f"overridden by {ENV_PREFIX}<KEY> variables and by flags",
    )


def _keyed_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in NOT_KEYS and action.dest != "==SUPPRESS=="
    }


def _field(action: argparse.Action) -> tuple[Any, Any]:
    """Return the pydantic (type, default) of one option; custom types validate later."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return bool, None
    if isinstance(action, argparse._AppendAction):
        return list[Any], None
    if action.type in (int, float):
        return action.type, None
    return Any, None


def settings_model(parser: argparse.ArgumentParser) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {
        dest: _field(action) for dest, action in _keyed_actions(parser).items()
    }
    config = pydantic.ConfigDict(extra="forbid", strict=False)
    return pydantic.create_model("Settings", __config__=config, **fields)


def _convert(action: argparse.Action, key: str, value: Any, origin: str) -> Any:
    """Run a value through the option's own parser, as if it came from the command line."""
    convert = action.type if callable(action.type) else None
    items = value if isinstance(value, list) else [value]
    converted = []
    for item in items:
        try:
            result = (
                convert(str(item)) if convert is not None and not isinstance(item, bool) else item
            )
        except (argparse.ArgumentTypeError, ValueError, TypeError) as error:
            raise ConfigError([f"{key} ({origin}): invalid value {item!r}: {error}"]) from None
        if action.choices is not None and result not in action.choices:
            choices = ", ".join(map(str, action.choices))
            raise ConfigError([f"{key} ({origin}): {item!r} is not one of {choices}"])
        converted.append(result)
    return converted if isinstance(action, argparse._AppendAction) else converted[0]


def _env_value(action: argparse.Action, text: str) -> Any:
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(action, argparse._AppendAction):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def load_settings(
    parser: argparse.ArgumentParser,
    config_path: Path | None,
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the validated settings of the file and environment, and each key's origin."""
    actions = _keyed_actions(parser)
    raw: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if config_path is not None:
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError([f"config file {config_path}: cannot be read: {error}"]) from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError([f"config file {config_path}: invalid TOML: {error}"]) from None
        origins = {key: str(config_path) for key in raw}
    for dest, action in actions.items():
        name = ENV_PREFIX + dest.upper()
        if environ.get(name, "").strip():
            raw[dest] = _env_value(action, environ[name])
            origins[dest] = name

    problems: list[str] = []
    model = settings_model(parser)
    try:
        validated = model.model_validate(raw).model_dump(exclude_none=True)
    except pydantic.ValidationError as error:
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            where = origins.get(str(item["loc"][0]), "config")
            reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{key} ({where}): {reason}")
        # Check the other keys too, so one run lists every problem.
        bad = {str(item["loc"][0]) for item in error.errors()}
        rest = {key: value for key, value in raw.items() if key not in bad}
        validated = model.model_validate(rest).model_dump(exclude_none=True)

    settings: dict[str, Any] = {}
    for key, value in validated.items():
        try:
            settings[key] = _convert(actions[key], key, value, origins.get(key, "config"))
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return settings, origins


def apply_settings(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Make the file and environment settings the parser's defaults; return their origins.

    Exits with status 2 and the problems when a setting is invalid, as argparse does.
    """
    pre = argparse.ArgumentParser(add_help=False)
    add_config_argument(pre)
    known, _ = pre.parse_known_args(argv)
    try:
        settings, origins = load_settings(
            parser, known.config, os.environ if environ is None else environ
        )
    except ConfigError as error:
        parser.exit(2, "".join(f"{parser.prog}: invalid setting {p}\n" for p in error.problems))
    for action in parser._actions:
        if action.dest in settings:
            action.required = False
    parser.set_defaults(**settings)
    return origins


def run_check_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Print the effective settings as JSON (exit 0), or the problems (exit 2)."""
    origins = apply_settings(parser, argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return 2 if stop.code else 0
    effective = {
        key: {"value": _printable(value), "from": origins.get(key, "default")}
        for key, value in sorted(vars(args).items())
        if key not in NOT_KEYS and key != "handler"
    }
    print(json.dumps(effective, indent=2))
    return 0


def _printable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_printable_tree(item) for item in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def describe(config: Any) -> str:
    """Return a dataclass of settings as indented JSON, for check-config."""
    return json.dumps(_printable_tree(dataclasses.asdict(config)), indent=2, sort_keys=True)


def _printable_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _printable_tree(item) for key, item in value.items()}
    return _printable(value)
