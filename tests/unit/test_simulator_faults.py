"""Failure modes of the aerender simulator, each run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil
import py_aep
import pytest
from test_simulator_support import (
    comp_named,
    decode_frame,
    frame_lines,
    is_close,
    kill_session,
    layer_named,
    load_template_builder,
    log_lines,
    open_project,
    pixel,
    probe,
    read_lines_until,
    run_simulator,
    save_project,
    start_simulator,
    write_color_png,
)

# How long a hanging simulator is watched to show it does not exit by itself.
HANG_CHECK_SECONDS = 1.5


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    builder = load_template_builder()
    return builder.build_templates(tmp_path_factory.mktemp("templates"))


def render_lower_third(
    templates: dict[str, Path], output: Path, faults: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    return run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", output,
        "-s", "0", "-e", "9", *extra, faults=faults,
    )  # fmt: skip


def lower_third_with_comment(templates: dict[str, Path], tmp_path: Path, comment: str) -> Path:
    project = open_project(templates["lower_third"])
    comp_named(project, "LowerThird").comment = comment
    return save_project(project, tmp_path / "commented.aep")


def main_with_footage(templates: dict[str, Path], tmp_path: Path) -> Path:
    """Return a copy of main.aep whose Logo layer shows a blue PNG file."""
    png = write_color_png(tmp_path / "blue.png", "blue", (160, 160))
    project = open_project(templates["main"])
    logo = layer_named(comp_named(project, "Main"), "Logo")
    logo.replace_source(project.import_file(py_aep.ImportOptions(str(png))), False)
    logo.name = "Logo"
    return save_project(project, tmp_path / "footage.aep")


def test_missing_fonts_warns_and_renders(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = render_lower_third(templates, output, "missing_fonts")

    assert result.returncode == 0
    assert "WARNING:After Effects warning: Project has missing fonts." in log_lines(result)
    assert probe(output).frames == 10


def test_missing_footage_fault_stops(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = render_lower_third(templates, output, "missing_footage")
    lines = log_lines(result)

    assert result.returncode == 9
    assert any("a layer has missing dependencies" in line for line in lines)
    assert any(line.startswith("Missing footage: ") for line in lines)
    assert not output.exists()


def test_missing_footage_fault_continues(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    path = main_with_footage(templates, tmp_path)
    result = run_simulator(
        "-project", path, "-comp", "Main", "-output", output, "-s", "0", "-e", "2",
        "-continueOnMissingFootage", faults="missing_footage",
    )  # fmt: skip
    lines = log_lines(result)
    frame = decode_frame(output, 1)

    assert result.returncode == 0, lines
    assert any(line.startswith("WARNING:After Effects warning: Missing footage") for line in lines)
    # Colour bars stand where the blue Logo footage was: the bars' left column is light grey.
    assert not is_close(pixel(frame, 1090, 60), (0, 0, 255))
    assert is_close(pixel(frame, 1090, 60), (191, 191, 191), 40)


def test_deleted_footage_file_stops(templates: dict[str, Path], tmp_path: Path) -> None:
    path = main_with_footage(templates, tmp_path)
    (tmp_path / "blue.png").unlink()

    stopped = run_simulator(
        "-project", path, "-comp", "Main", "-output", tmp_path / "a.mp4", "-e", "1"
    )
    continued = run_simulator(
        "-project", path, "-comp", "Main", "-output", tmp_path / "b.mp4", "-e", "1",
        "-continueOnMissingFootage",
    )  # fmt: skip

    assert stopped.returncode == 9
    assert any(str(tmp_path / "blue.png") in line for line in log_lines(stopped))
    assert continued.returncode == 0
    assert probe(tmp_path / "b.mp4").frames == 2


def test_comp_not_found_from_comment(templates: dict[str, Path], tmp_path: Path) -> None:
    path = lower_third_with_comment(templates, tmp_path, "Job template\naefarm-sim: comp_not_found")
    result = run_simulator("-project", path, "-comp", "LowerThird", "-output", tmp_path / "x.mp4")

    assert result.returncode == 7
    assert "aerender ERROR: No comp was found with the given name." in log_lines(result)


def test_comment_and_env_faults_combine(templates: dict[str, Path], tmp_path: Path) -> None:
    path = lower_third_with_comment(templates, tmp_path, "aefarm-sim: german")
    result = run_simulator(
        "-project", path, "-comp", "LowerThird", "-output", tmp_path / "x.mp4", "-e", "1",
        faults="fields",
    )  # fmt: skip
    lines = log_lines(result)

    assert result.returncode == 0
    assert "PROGRESS:  Anfang: 0:00:00:00" in lines
    assert [match["field"] for match in frame_lines(lines)] == ["U", "U"]


def test_unknown_fault_is_rejected(templates: dict[str, Path], tmp_path: Path) -> None:
    result = render_lower_third(templates, tmp_path / "x.mp4", "explode")

    assert result.returncode == 1
    assert b"unknown simulator fault 'explode' in AEFARM_SIM_FAULTS" in result.stderr


def test_hang_launch_sleeps(templates: dict[str, Path], tmp_path: Path) -> None:
    process = start_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", tmp_path / "x.mp4",
        faults="hang_launch",
    )  # fmt: skip
    try:
        lines = read_lines_until(process, "Launching After Effects")
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=HANG_CHECK_SECONDS)
    finally:
        kill_session(process)

    assert lines[0] == "aerender version 26.0x55"
    assert not (tmp_path / "x.mp4").exists()


def test_hang_mid_render_stops_half_way(templates: dict[str, Path], tmp_path: Path) -> None:
    process = start_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", tmp_path / "x.mp4",
        "-s", "0", "-e", "9", faults="hang_mid_render",
    )  # fmt: skip
    try:
        lines = read_lines_until(process, "(5): ")
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=HANG_CHECK_SECONDS)
        ffmpeg_children = [
            child for child in psutil.Process(process.pid).children() if "ffmpeg" in child.name()
        ]
        process.terminate()
        status = process.wait(timeout=30)
    finally:
        kill_session(process)

    assert len(frame_lines(lines)) == 5
    assert ffmpeg_children == []
    assert status < 0, "SIGTERM should end the sleeping simulator"


def test_crash_leaves_short_output(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = render_lower_third(templates, output, "crash")
    lines = log_lines(result)

    assert result.returncode == 9
    assert len(frame_lines(lines)) == 5
    assert any(line.startswith("aerender Error: After Effects error: ") for line in lines)
    assert not any("Finished composition" in line for line in lines)
    assert probe(output).frames == 5


def test_crash_with_log_exits_10(templates: dict[str, Path], tmp_path: Path) -> None:
    result = render_lower_third(
        templates, tmp_path / "out.mp4", "crash", "-log", str(tmp_path / "l")
    )

    assert result.returncode == 10


def test_exit_no_output_is_silent(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = render_lower_third(templates, output, "exit_no_output")
    lines = log_lines(result)

    assert result.returncode == 0
    assert lines[0] == "aerender version 26.0x55"
    assert "PROGRESS:  Launching After Effects..." in lines
    assert not any("Starting composition" in line for line in lines)
    assert not output.exists()


def test_never_exits_after_output(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    process = start_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", output,
        "-s", "0", "-e", "9", faults="never_exits",
    )  # fmt: skip
    try:
        lines = read_lines_until(process, "Total Time Elapsed")
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=HANG_CHECK_SECONDS)
    finally:
        kill_session(process)

    assert any("Finished composition LowerThird." in line for line in lines)
    assert probe(output).frames == 10


def test_out_of_order_repeats_frames(templates: dict[str, Path], tmp_path: Path) -> None:
    result = render_lower_third(templates, tmp_path / "out.mp4", "out_of_order")
    counts = [int(match["count"]) for match in frame_lines(log_lines(result))]

    assert result.returncode == 0
    assert counts != sorted(counts)
    assert len(counts) > len(set(counts))
    assert set(counts) == set(range(1, 11))


def test_drop_frame_timecode(tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = project.root_folder.add_comp("NTSC", 64, 36, 1.0, 1.0, 29.97)
    comp.add_solid([1.0, 1.0, 1.0], name="White", width=64, height=36)
    path = save_project(project, tmp_path / "ntsc.aep")

    result = run_simulator(
        "-project", path, "-comp", "NTSC", "-output", tmp_path / "x.mp4", "-s", "3", "-e", "5",
        faults="drop_frame",
    )  # fmt: skip
    lines = log_lines(result)

    assert result.returncode == 0, lines
    assert "PROGRESS:  Start: 0;00;00;03" in lines
    assert "PROGRESS:  Frame Rate: 29.97 (comp)" in lines
    assert [match["label"] for match in frame_lines(lines)] == [
        "0;00;00;03",
        "0;00;00;04",
        "0;00;00;05",
    ]


def test_german_headers(templates: dict[str, Path], tmp_path: Path) -> None:
    lines = log_lines(render_lower_third(templates, tmp_path / "x.mp4", "german"))

    assert "PROGRESS:  Anfang: 0:00:00:00" in lines
    assert "PROGRESS:  Ende: 0:00:00:09" in lines
    assert "PROGRESS:  Dauer: 0:00:00:10" in lines
    assert "PROGRESS:  Framerate: 25,00 (Komp.)" in lines


def test_non_utf8_bytes(templates: dict[str, Path], tmp_path: Path) -> None:
    result = render_lower_third(templates, tmp_path / "x.mp4", "non_utf8")

    assert result.returncode == 0
    with pytest.raises(UnicodeDecodeError):
        result.stdout.decode("utf-8")
    assert ": Starting composition \u201cLowerThird\u201d." in result.stdout.decode("cp1252")


def test_no_frame_lines(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    result = render_lower_third(templates, output, "no_frame_lines")
    lines = log_lines(result)

    assert result.returncode == 0
    assert frame_lines(lines) == []
    assert any("Finished composition LowerThird." in line for line in lines)
    assert probe(output).frames == 10


def test_frames_display(templates: dict[str, Path], tmp_path: Path) -> None:
    lines = log_lines(render_lower_third(templates, tmp_path / "x.mp4", "frames_display"))

    assert "PROGRESS:  Start: 0" in lines
    assert "PROGRESS:  Duration: 10" in lines
    assert [match["label"] for match in frame_lines(lines)] == [str(n) for n in range(10)]


def test_spawn_child_outlives_simulator(templates: dict[str, Path], tmp_path: Path) -> None:
    process = start_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", tmp_path / "x.mp4",
        "-s", "0", "-e", "1", faults="spawn_child",
    )  # fmt: skip
    marker = f"--parent={process.pid}"
    children: list[psutil.Process] = []
    try:
        status = process.wait(timeout=60)
        children = [
            found
            for found in psutil.process_iter(["cmdline"])
            if "aefarm-sim-afterfx" in (found.info["cmdline"] or [])
            and marker in (found.info["cmdline"] or [])
        ]
        alive = [child.is_running() for child in children]
        sessions = [os.getsid(child.pid) for child in children]
    finally:
        kill_session(process)
        for child in children:
            child.kill()

    assert status == 0
    assert len(children) == 1
    assert alive == [True]
    # The child leads a session of its own, so killing the simulator's group misses it.
    assert sessions == [children[0].pid]


def test_slow_still_renders(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "x.mp4"
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", output,
        "-s", "0", "-e", "3", faults="slow:0.05",
    )  # fmt: skip

    assert result.returncode == 0
    assert len(frame_lines(log_lines(result))) == 4
    assert probe(output).frames == 4
