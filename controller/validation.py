"""The checks of a submitted job: the job parser's, then what this controller can serve."""

from __future__ import annotations

import logging
from typing import Any

from controller.jobspec.models import JobSpec
from controller.jobspec.nesting import nested_sources
from controller.jobspec.parse import JobRejected, Problem, load_json, parse_job_object
from controller.template_validation import check_templates
from controller.templates import TemplateCatalog

logger = logging.getLogger(__name__)

STORED_TEMPLATE_REASON = (
    "stored templates are not known to this controller yet, so template.id cannot be resolved; "
    "give template.src, the URI of the .aep file"
)


def validate_job(text: str, templates: TemplateCatalog | None = None) -> JobSpec:
    """Parse a job and raise JobRejected unless this controller can run every job in it."""
    return validate_document(load_json(text), templates)


def validate_document(raw: Any, templates: TemplateCatalog | None = None) -> JobSpec:
    """Check a job already read from JSON; raise JobRejected unless this controller can run it.

    With a template catalog, template.id resolves to a stored template and each job whose
    template is known is checked against it (controller/template_validation.py).
    """
    spec = parse_job_object(raw)
    if templates is not None:
        spec, problems = check_templates(spec, raw, templates)
        problems += _open_range_problems(spec)
        if problems:
            raise JobRejected(problems)
        return spec
    problems = _stored_template_problems(raw, "$")
    if not problems and _uses_stored_template(spec):
        # The parser may place a template the walk below cannot find; reject it all the same.
        problems.append(Problem("$.template.id", STORED_TEMPLATE_REASON))
    problems += _open_range_problems(spec)
    if problems:
        raise JobRejected(problems)
    return spec


def _open_range_problems(spec: JobSpec) -> list[Problem]:
    """Reject a frame range with one end only: a RenderTask carries either both or neither."""
    settings = spec.settings
    if (settings.frame_start is None) == (settings.frame_end is None):
        return []
    if settings.frame_start is not None:
        given, missing, path = "frameStart", "frameEnd", "$.template.frameStart"
    else:
        given, missing, path = "frameEnd", "frameStart", "$.template.frameEnd"
    if spec.shape == "cloud":
        path = "$.settings.frames"
    reason = (
        f"{given} without {missing} is not supported yet, because the controller sends a frame "
        f"range to agents only with both ends; give {missing} too"
    )
    return [Problem(path, reason)]


def _stored_template_problems(job: Any, path: str) -> list[Problem]:
    """Find templates with an id and no src in a job and its nested jobs."""
    if not isinstance(job, dict):
        return []
    problems = []
    template = job.get("template")
    if isinstance(template, dict) and template.get("id") and not template.get("src"):
        problems.append(Problem(f"{path}.template.id", STORED_TEMPLATE_REASON))
    for source in nested_sources(job, path):
        problems.extend(_stored_template_problems(source.raw, source.path))
    return problems


def _uses_stored_template(spec: JobSpec) -> bool:
    if spec.template is not None and spec.template.id and not spec.template.src:
        return True
    nested = [child.job for child in spec.children]
    nested += [join_input.job for join_input in spec.join_inputs if join_input.job is not None]
    return any(_uses_stored_template(child) for child in nested)
