"""The aerender argument vector for each engine version and render setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.aerender_args import RenderRequest, build_aerender_args
from agent.codecs import H264_15, PRORES_4444
from agent.errors import LeaseFailure
from agent.output_plan import BEST_SETTINGS, DRAFT_SETTINGS

AERENDER = ("/Applications/Adobe After Effects 2026/aerender",)


def request(**overrides: object) -> RenderRequest:
    values: dict[str, object] = {
        "project": Path("/w/ab12cd34/project.aep"),
        "composition": "Main Comp",
        "output": Path("/w/ab12cd34/out/result.mp4"),
        "output_module": H264_15,
        "render_settings": BEST_SETTINGS,
    }
    values.update(overrides)
    return RenderRequest(**values)  # type: ignore[arg-type]


def flag_value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("version", ["22.0x64", "23.6x73", "24.1x12", "25.6x101", "26.0x55"])
def test_mfr_on_ae_2022_and_later(version: str) -> None:
    args = build_aerender_args(AERENDER, version, request(mfr_cpu_percent=80))
    index = args.index("-mfr")
    assert args[index + 1 : index + 3] == ["ON", "80"]
    assert "-mp" not in args


@pytest.mark.parametrize("version", ["17.7x12", "18.4x5"])
def test_no_mfr_before_ae_2022(version: str) -> None:
    args = build_aerender_args(AERENDER, version, request())
    assert "-mfr" not in args
    assert "-mp" not in args


def test_default_vector() -> None:
    args = build_aerender_args(AERENDER, "26.0x55", request())
    assert args == [
        *AERENDER,
        "-project",
        "/w/ab12cd34/project.aep",
        "-comp",
        "Main Comp",
        "-RStemplate",
        BEST_SETTINGS,
        "-OMtemplate",
        H264_15,
        "-output",
        "/w/ab12cd34/out/result.mp4",
        "-v",
        "ERRORS_AND_PROGRESS",
        "-close",
        "DO_NOT_SAVE_CHANGES",
        "-sound",
        "OFF",
        "-mfr",
        "ON",
        "100",
    ]


def test_frame_range_and_increment() -> None:
    args = build_aerender_args(
        AERENDER, "25.6x101", request(frame_start=10, frame_end=49, frame_increment=3)
    )
    assert flag_value(args, "-s") == "10"
    assert flag_value(args, "-e") == "49"
    assert flag_value(args, "-i") == "3"


def test_no_range_flags_without_range() -> None:
    args = build_aerender_args(AERENDER, "25.6x101", request())
    assert "-s" not in args
    assert "-e" not in args
    assert "-i" not in args


def test_frame_zero_is_sent() -> None:
    args = build_aerender_args(AERENDER, "25.6x101", request(frame_start=0, frame_end=0))
    assert flag_value(args, "-s") == "0"
    assert flag_value(args, "-e") == "0"


def test_templates_and_missing_footage_flag() -> None:
    args = build_aerender_args(
        AERENDER,
        "26.0x55",
        request(
            output_module=PRORES_4444,
            render_settings=DRAFT_SETTINGS,
            continue_on_missing_footage=True,
        ),
    )
    assert flag_value(args, "-OMtemplate") == PRORES_4444
    assert flag_value(args, "-RStemplate") == DRAFT_SETTINGS
    assert "-continueOnMissingFootage" in args


def test_simulator_command_prefix() -> None:
    command = ("/usr/bin/python3", "-m", "agent.simulator")
    args = build_aerender_args(command, "25.6x101", request())
    assert args[:4] == [*command, "-project"]


@pytest.mark.parametrize("increment", [0, 101])
def test_increment_outside_range_rejected(increment: int) -> None:
    with pytest.raises(ValueError, match="frame_increment"):
        build_aerender_args(AERENDER, "26.0x55", request(frame_increment=increment))


def test_invalid_engine_version_rejected() -> None:
    with pytest.raises(ValueError):
        build_aerender_args(AERENDER, "unknown", request())


def test_settings_overrides_on_ae_2023() -> None:
    args = build_aerender_args(
        AERENDER,
        "23.0x59",
        request(
            render_settings_overrides={"Quality": "Best", "Resolution": "Half"},
            output_settings_overrides={"Format": "QuickTime"},
        ),
    )
    assert flag_value(args, "-renderSettings") == "Quality: Best; Resolution: Half"
    assert flag_value(args, "-outputSettings") == "Format: QuickTime"


def test_no_override_flags_without_overrides() -> None:
    args = build_aerender_args(AERENDER, "26.0x55", request())
    assert "-renderSettings" not in args
    assert "-outputSettings" not in args


def test_settings_overrides_rejected_before_2023() -> None:
    with pytest.raises(LeaseFailure) as failure:
        build_aerender_args(
            AERENDER, "22.6x61", request(render_settings_overrides={"Quality": "Best"})
        )
    assert failure.value.code == "unsupported_setting"
    assert "22.6x61" in failure.value.message


def test_settings_override_separator_rejected() -> None:
    with pytest.raises(LeaseFailure) as failure:
        build_aerender_args(
            AERENDER, "26.0x55", request(output_settings_overrides={"Format": "a; b"})
        )
    assert failure.value.code == "invalid_setting"
