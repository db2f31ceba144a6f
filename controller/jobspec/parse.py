"""Parsing a submitted job, in either accepted shape, into a JobSpec.

The shape is read from the fields that only one shape has:

- Nexrender Cloud: settings, preview, fonts, upload, webhook, template.id, "type": "join", or an
  asset of type text, essential, function or job.
- nexrender: uid, actions, a field that nexrender's server adds (state, createdAt, ...),
  "type": "default", or a template render field (frameStart, frameEnd, incrementFrame,
  outputModule, outputExt, settingsTemplate, renderSettings, outputSettings,
  continueOnMissing, imageSequence).

A job with fields of both shapes is rejected, because a field of one shape means nothing in the
other. A job with fields of neither, such as {template {src, composition}, assets}, reads as a
Nexrender Cloud job: the two shapes mean the same by those fields, and the Cloud shape's
defaults (engine ae2026, codec video_h264_vbr_15mbps) apply.

A rejected job raises JobRejected with every problem found, each at the JSON path of the value
at fault and in the input's own field names.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from controller.jobspec.cloud import parse_cloud_job
from controller.jobspec.limits import check_raw_limits, check_unicode
from controller.jobspec.models import JobSpec
from controller.jobspec.nexrender import parse_nexrender_job
from controller.jobspec.problems import ROOT, JobRejected, Problem, Problems, json_type
from controller.jobspec.shape import detect_shape
from controller.jobspec.sources import resolve_local_sources

logger = logging.getLogger(__name__)

__all__ = ["JobRejected", "Problem", "parse_job", "parse_job_object", "resolve_local_sources"]


class _NonStandardNumber(ValueError):
    """NaN or Infinity, which JSON does not allow, or an integer too long for Python to read."""


# Python refuses to convert integers of more digits from text (sys.get_int_max_str_digits).
_MAX_INTEGER_DIGITS = 4300


def parse_job(text: str | bytes) -> JobSpec:
    """Parse a job from JSON text (bytes are read as UTF-8); raise JobRejected if invalid."""
    return parse_job_object(load_json(text))


def parse_job_object(obj: object) -> JobSpec:
    """Parse a job from decoded JSON; raise JobRejected listing every problem found."""
    problems = Problems()
    if not check_unicode(obj, ROOT, problems):
        problems.raise_if_any()
    check_raw_limits(obj, ROOT, problems)
    spec = _parse(obj, problems)
    problems.raise_if_any()
    if spec is None:
        # Every parser that returns no spec reports a problem first, so this is only a guard.
        raise JobRejected([Problem(ROOT, "the job could not be parsed")])
    return spec


def load_json(text: str | bytes) -> Any:
    """Decode JSON text; raise JobRejected naming the line and column of a syntax error."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            reason = (
                f"the job is not UTF-8 text: invalid byte at offset {exc.start}; save it as UTF-8"
            )
            raise JobRejected([Problem(ROOT, reason)]) from exc
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_read_integer)
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise JobRejected([Problem(ROOT, reason)]) from exc
    except _NonStandardNumber as exc:
        raise JobRejected([Problem(ROOT, f"invalid JSON: {exc}")]) from exc
    except RecursionError as exc:
        reason = "invalid JSON: arrays and objects are nested too deeply to read"
        raise JobRejected([Problem(ROOT, reason)]) from exc


def _reject_constant(name: str) -> Any:
    raise _NonStandardNumber(f"{name} is not a JSON number; give a number or null")


def _read_integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_INTEGER_DIGITS:
        raise _NonStandardNumber(
            f"a whole number has {digits} digits, more than {_MAX_INTEGER_DIGITS}; give a "
            "shorter number"
        )
    return int(text)


def _parse(obj: object, problems: Problems) -> JobSpec | None:
    if not isinstance(obj, dict):
        problems.add(ROOT, f"a job must be a JSON object, not {json_type(obj)}")
        return None
    shape = detect_shape(obj, problems)
    if shape is None:
        return None
    if shape == "nexrender":
        return parse_nexrender_job(obj, problems)
    return parse_cloud_job(obj, problems)
