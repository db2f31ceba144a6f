"""The watchdog and missing-font settings of both job shapes."""

from __future__ import annotations

import pytest

from controller.jobspec.parse import JobRejected, parse_job_object

TEMPLATE = {"src": "file:///t/main.aep", "composition": "Main"}


def test_cloud_settings_take_limits() -> None:
    settings = {"hangTimeout": 30, "maxRenderTime": 600, "allowMissingFonts": True}
    spec = parse_job_object({"template": TEMPLATE, "settings": settings})
    assert spec.settings.hang_timeout_seconds == 30
    assert spec.settings.max_render_seconds == 600
    assert spec.settings.allow_missing_fonts is True


def test_nexrender_template_takes_limits() -> None:
    template = {**TEMPLATE, "hangTimeout": 5, "maxRenderTime": 60, "allowMissingFonts": True}
    spec = parse_job_object({"template": template, "actions": {}})
    assert spec.settings.hang_timeout_seconds == 5
    assert spec.settings.max_render_seconds == 60
    assert spec.settings.allow_missing_fonts is True


def test_limits_default_to_agent() -> None:
    spec = parse_job_object({"template": TEMPLATE, "settings": {}})
    assert spec.settings.hang_timeout_seconds is None
    assert spec.settings.max_render_seconds is None
    assert spec.settings.allow_missing_fonts is False


@pytest.mark.parametrize(
    ("settings", "path", "part"),
    [
        ({"hangTimeout": 0}, "$.settings.hangTimeout", "1 or more"),
        ({"maxRenderTime": -5}, "$.settings.maxRenderTime", "1 or more"),
        ({"hangTimeout": "30"}, "$.settings.hangTimeout", "integer"),
        ({"allowMissingFonts": "yes"}, "$.settings.allowMissingFonts", "boolean"),
    ],
)
def test_invalid_limits_rejected(settings: dict[str, object], path: str, part: str) -> None:
    with pytest.raises(JobRejected) as rejected:
        parse_job_object({"template": TEMPLATE, "settings": settings})
    problems = {problem.path: problem.reason for problem in rejected.value.problems}
    assert path in problems
    assert part in problems[path]
