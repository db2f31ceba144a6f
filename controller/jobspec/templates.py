"""Parsing template references: the After Effects project and the composition to render."""

from __future__ import annotations

import logging
from typing import Any

from controller.jobspec.fields import (
    Fields,
    build,
    check_known_fields,
    check_not_empty,
    object_at,
    present,
)
from controller.jobspec.models import TemplateRef
from controller.jobspec.problems import Problems
from controller.jobspec.sources import normalize_source

logger = logging.getLogger(__name__)

CLOUD_TEMPLATE_FIELDS = ("id", "src", "composition")


def parse_template(value: Any, at: str, problems: Problems) -> TemplateRef | None:
    """Parse a Nexrender Cloud template {id | src, composition}."""
    if value is None:
        problems.add(at, "missing: give template {id or src, composition}")
        return None
    raw = object_at(value, at, problems, "template")
    if raw is None:
        return None
    check_known_fields(raw, CLOUD_TEMPLATE_FIELDS, at, problems)
    fields = Fields(raw, at)
    if not present(raw, "id") and not present(raw, "src"):
        problems.add(
            fields.path("src"),
            "missing: give template.src, the URI of the .aep, or template.id, a template "
            "stored on the controller",
        )
    check_not_empty(raw.get("id"), fields.path("id"), problems, "template id")
    fields.copy("id", "id")
    src = raw.get("src")
    if isinstance(src, str):
        fields.put("src", normalize_source(src, fields.path("src"), problems), "src")
    else:
        fields.copy("src", "src")
    take_composition(fields, problems)
    return build(TemplateRef, fields, problems)


def take_composition(fields: Fields, problems: Problems) -> None:
    """Take template.composition, the composition to render, and report it when missing."""
    path = fields.path("composition")
    if not present(fields.raw, "composition"):
        problems.add(path, "missing: give composition, the name of the composition to render")
    check_not_empty(fields.raw.get("composition"), path, problems, "composition")
    fields.copy("composition", "composition")
