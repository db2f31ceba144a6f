"""Tests for the error and warning findings of agent.aerender_log.

Every log excerpt here was written for these tests in the shapes aerender prints.
"""

from __future__ import annotations

import pytest

from agent.aerender_log import MAX_CONTINUATION_LINES, AerenderLog, Finding
from agent.log_patterns import FINDING_KINDS


def parse(*texts: str) -> AerenderLog:
    log = AerenderLog()
    log.feed("".join(text + "\r\n" for text in texts).encode("utf-8"))
    log.close()
    return log


def only_finding(log: AerenderLog) -> Finding:
    findings = log.errors + log.warnings
    assert len(findings) == 1, findings
    return findings[0]


ERROR_CASES = [
    ("comp_not_found", ["aerender ERROR: No comp was found with the given name."]),
    ("comp_not_found", ["aerender ERROR: The render queue item index 4 is out of range."]),
    (
        "template_not_found",
        ["aerender ERROR: No render settings template was found with the given name."],
    ),
    (
        "template_not_found",
        ["aerender ERROR: No output module template was found with the given name."],
    ),
    ("no_project", ["aerender ERROR: No project was found at C:\\jobs\\a.aep."]),
    ("no_project", ["aerender ERROR: The project file could not be opened."]),
    ("syntax_error", ["aerender SYNTAX ERROR: Illegal argument flag: -mfr"]),
    ("syntax_error", ["aerender SYNTAX ERROR: Missing value for flag -output"]),
    ("script_error", ["aerender ERROR: The render queue item needs an output."]),
    ("script_error", ["aerender ERROR: Script failed in line 42."]),
    (
        "render_error",
        ["aerender Error: After Effects error: Unable to allocate enough memory to render."],
    ),
    ("render_error", ["After Effects error: Internal verification failure, sorry!"]),
    ("apple_event_error", ["aerender ERROR -1712: AESend failed: the event timed out"]),
    ("apple_event_error", ["aerender ERROR -609: connection invalid"]),
    (
        "instance_busy",
        [
            "aerender ERROR: After Effects can not render for aerender. Another instance of "
            "aerender may be running, or a modal dialog is open."
        ],
    ),
    (
        "instance_busy",
        ["After Effects can not render for aerender. Another instance is rendering."],
    ),
    ("license_error", ["Unable to obtain a license for After Effects."]),
    ("license_error", ["aerender Error: After Effects error: Your license has expired."]),
    (
        "output_module_failed",
        ["aerender Error: After Effects error: Output module failed: the file is locked."],
    ),
    (
        "output_module_failed",
        ["aerender Error: After Effects error: Unable to create the output file C:\\o\\a.mov"],
    ),
    ("output_module_failed", ["aerender Error: After Effects error: The disk is full."]),
    (
        "missing_footage",
        ["aerender Error: After Effects error: Footage file 'C:\\assets\\a.mov' is missing."],
    ),
    (
        "missing_footage",
        ["aerender Error: After Effects error: Couldn’t find the file C:\\assets\\b.png"],
    ),
    (
        "missing_effect",
        ["aerender Error: After Effects error: The effect 'Optical Flares' is not installed."],
    ),
    ("missing_effect", ["aerender Error: After Effects error: Missing plug-in: Element"]),
    ("log_file_error", ["aerender ERROR: Unable to write the log file C:\\logs\\r.log."]),
    ("log_file_error", ["aerender ERROR: The log file C:\\logs\\r.log could not be opened."]),
]

WARNING_CASES = [
    ("missing_fonts", ["WARNING:After Effects warning: Project has missing fonts."]),
    (
        "missing_dependencies",
        [
            "WARNING:After Effects warning: Layer 'Title' in comp 'Main' has missing dependencies.",
            "Missing fonts: Gotham-Bold",
        ],
    ),
    (
        "missing_dependencies",
        ["PROGRESS: 3/2/2026 9:41:07 AM: a layer has missing dependencies"],
    ),
    (
        "gpu_warning",
        ["WARNING:After Effects warning: The GPU driver is not supported, using the CPU."],
    ),
    (
        "time_span_warning",
        ["WARNING:After Effects warning: The time span lies outside the composition."],
    ),
    (
        "time_span_warning",
        ["WARNING:After Effects warning: End frame 500 is beyond the composition."],
    ),
    ("other_warning", ["WARNING:After Effects warning: The project was saved by a newer build."]),
]


@pytest.mark.parametrize(("code", "texts"), ERROR_CASES)
def test_error_families(code: str, texts: list[str]) -> None:
    finding = only_finding(parse(*texts))
    assert finding.code == code
    assert finding.fatal
    assert finding.retryable == FINDING_KINDS[code].retryable
    assert finding.message == " ".join(text.removeprefix("PROGRESS: ") for text in texts)


@pytest.mark.parametrize(("code", "texts"), WARNING_CASES)
def test_warning_families(code: str, texts: list[str]) -> None:
    log = parse(*texts)
    finding = only_finding(log)
    assert finding.code == code
    assert not finding.fatal
    assert not finding.retryable
    assert log.errors == []


def test_codes_have_fixed_flags() -> None:
    not_retryable = {
        "comp_not_found",
        "template_not_found",
        "no_project",
        "syntax_error",
        "script_error",
        "missing_footage",
        "missing_effect",
    }
    retryable = {
        "render_error",
        "apple_event_error",
        "instance_busy",
        "license_error",
        "output_module_failed",
        "log_file_error",
    }
    warnings = {
        "missing_fonts",
        "missing_dependencies",
        "gpu_warning",
        "time_span_warning",
        "other_warning",
    }
    assert set(FINDING_KINDS) == not_retryable | retryable | warnings
    for code, kind in FINDING_KINDS.items():
        assert kind.code == code
        assert kind.fatal == (code not in warnings), code
        assert kind.retryable == (code in retryable), code


def test_every_code_is_covered_here() -> None:
    covered = {code for code, _ in ERROR_CASES + WARNING_CASES}
    assert covered == set(FINDING_KINDS)


GROUPED = "WARNING:After Effects warning: logged 3 errors, please check log."


@pytest.mark.parametrize(
    ("texts", "code"),
    [
        (
            [GROUPED, 'First error was "After Effects error: Missing footage: C:\\a.mov"'],
            "missing_footage",
        ),
        (
            [
                GROUPED,
                'First error was "After Effects error: could not',
                'find the file C:\\b.png"',
            ],
            "missing_footage",
        ),
        ([GROUPED, "First error was 'Effect “Saber” is missing.'"], "missing_effect"),
        ([GROUPED, 'First error was "Unable to obtain a license"'], "license_error"),
        ([GROUPED, 'First error was "Project has missing fonts."'], "missing_fonts"),
        (
            [GROUPED, 'First error was "After Effects error: expression disabled at line 1"'],
            "other_warning",
        ),
        ([GROUPED + ' First error was "Footage is offline: C:\\c.mov"'], "missing_footage"),
        ([GROUPED], "other_warning"),
    ],
)
def test_grouped_warning_uses_first_error(texts: list[str], code: str) -> None:
    finding = only_finding(parse(*texts))
    assert finding.code == code
    assert finding.message == " ".join(texts)
    assert finding.fatal == FINDING_KINDS[code].fatal


def test_open_quote_continues_over_family_text() -> None:
    texts = [
        GROUPED,
        'First error was "After Effects can not render for aerender.',
        'Another instance of aerender is running."',
    ]
    finding = only_finding(parse(*texts))
    assert finding.code == "instance_busy"
    assert finding.message == " ".join(texts)


def test_noise_inside_grouped_warning_skipped() -> None:
    log = parse(
        GROUPED,
        "Using DXGI: Intel(R) UHD Graphics 630, error 0x887A0004",
        'First error was "After Effects error: Missing footage: C:\\a.mov"',
    )
    finding = only_finding(log)
    assert finding.code == "missing_footage"
    assert "DXGI" not in finding.message


def test_continuation_joined() -> None:
    log = parse(
        "aerender Error: After Effects error: Unable to render",
        "frame 12 of comp Main.",
        "PROGRESS:  0:00:00:12 (13): 0 Seconds",
    )
    finding = only_finding(log)
    assert finding.message == (
        "aerender Error: After Effects error: Unable to render frame 12 of comp Main."
    )
    assert log.frames_done == 1


def test_continuation_ends_at_progress_line() -> None:
    log = parse(
        "aerender ERROR: No comp was found with the given name.",
        "PROGRESS:  Quality: Best",
        "unrelated line",
    )
    assert only_finding(log).message == "aerender ERROR: No comp was found with the given name."


def test_continuation_lines_are_bounded() -> None:
    log = parse("WARNING:After Effects warning: something odd", *(f"line {n}" for n in range(40)))
    assert only_finding(log).message.count("line") == MAX_CONTINUATION_LINES


def test_finding_recorded_when_next_line_arrives() -> None:
    log = AerenderLog()
    log.feed(b"aerender ERROR: No comp was found with the given name.\r\n")
    assert log.errors == []
    log.feed(b"PROGRESS: 3/2/2026 9:41:07 AM: Finished composition Main.\r\n")
    assert [error.code for error in log.errors] == ["comp_not_found"]


def test_finding_recorded_on_close() -> None:
    log = AerenderLog()
    log.feed(b"aerender ERROR: No comp was found with the given name.")
    log.close()
    assert [error.code for error in log.errors] == ["comp_not_found"]


def test_repeated_error_recorded_once() -> None:
    text = "aerender ERROR: No comp was found with the given name."
    log = parse(text, "PROGRESS: ", text)
    assert len(log.errors) == 1


@pytest.mark.parametrize(
    "noise",
    [
        "Using DXGI: NVIDIA GeForce RTX 4090, error 0x887A0004",
        'LoadLibrary "C:\\Program Files\\x\\nvcuda.dll" failed!',
        "objc[4242]: Object 0x600001 of class NSConcreteData autoreleased with no pool in "
        "place - just leaking - break on objc_autoreleaseNoPool() to debug",
        "*** __NSAutoreleaseNoPool(): Object 0x1 of class NSCFString autoreleased with no pool",
        "WARNING: autorelease pool page corrupted, error ignored",
        "GPUSniffer: error querying OpenCL devices",
        "OpenGL error: driver does not support extension GL_ARB_x",
        "CUDA library libcuda.so could not be loaded (error 35)",
        "Unable to load library nvml.dll: error 126",
        "PROGRESS:  Log: Errors Only",
        "PROGRESS:  Skip Existing Files: Off",
        "ERROR count: 0",
    ],
)
def test_noise_is_not_an_error(noise: str) -> None:
    log = parse(noise, "PROGRESS:  0:00:00:00 (1): 0 Seconds")
    assert log.errors == []
    assert log.warnings == []
    assert log.frames_done == 1


@pytest.mark.parametrize(
    ("texts", "fonts"),
    [
        (
            ["WARNING:After Effects warning: Project has missing fonts: Gotham-Bold, Futura PT."],
            ["Gotham-Bold", "Futura PT"],
        ),
        (
            ["WARNING:After Effects warning: Font “Helvetica Neue LT” is missing."],
            ["Helvetica Neue LT"],
        ),
        (
            ["WARNING:After Effects warning: Font 'A' and font \"B\" are missing."],
            ["A", "B"],
        ),
        (
            ["WARNING:After Effects warning: Project has missing fonts.", "Gotham-Bold, Futura PT"],
            ["Gotham-Bold", "Futura PT"],
        ),
        (
            [
                "WARNING:After Effects warning: Layer 1 has missing dependencies.",
                "Missing fonts: Gotham-Bold; Arial-BoldMT",
            ],
            ["Gotham-Bold", "Arial-BoldMT"],
        ),
        (
            [GROUPED, 'First error was "Missing fonts: Gotham-Bold, Futura PT"'],
            ["Gotham-Bold", "Futura PT"],
        ),
        (["WARNING:After Effects warning: Project has missing fonts."], []),
    ],
)
def test_missing_font_names(texts: list[str], fonts: list[str]) -> None:
    log = parse(*texts)
    assert log.missing_fonts == fonts
    assert log.errors == []


def test_missing_fonts_collected_without_repeats() -> None:
    log = parse(
        "WARNING:After Effects warning: Project has missing fonts: Gotham-Bold, Futura PT",
        "PROGRESS: ",
        "WARNING:After Effects warning: Font 'Gotham-Bold' is missing.",
    )
    assert log.missing_fonts == ["Gotham-Bold", "Futura PT"]
    assert [warning.code for warning in log.warnings] == ["missing_fonts", "missing_fonts"]


def test_dependency_footage_is_error() -> None:
    log = parse(
        "WARNING:After Effects warning: Layer 2 has missing dependencies.",
        "Missing footage: C:\\assets\\logo.png",
    )
    assert [error.code for error in log.errors] == ["missing_footage"]
    assert log.warnings == []


def test_error_in_render_log_file_shape() -> None:
    log = parse(
        "Rendering started on 3/2/2026 at 9:41:07 AM",
        "  Start: 0:00:00:00",
        "  Duration: 0:00:00:05",
        "  Frame Rate: 25.00 (comp)",
        "  0:00:00:00 (1): 0 Seconds",
        "  After Effects error: Unable to write to the output file C:\\o\\a.mov",
        "  because the disk is write-protected.",
        "Log closed on 3/2/2026 at 9:41:12 AM",
    )
    finding = only_finding(log)
    assert finding.code == "output_module_failed"
    assert finding.message.endswith("because the disk is write-protected.")
    assert log.frames_done == 1
