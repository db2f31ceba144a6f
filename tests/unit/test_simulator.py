"""The aerender simulator as a real subprocess: command line, exit codes, log and pixels."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import py_aep
import pytest
from test_simulator_support import (
    comp_named,
    decode_frame,
    frame_lines,
    is_close,
    layer_named,
    load_template_builder,
    log_lines,
    open_project,
    pixel,
    probe,
    run_simulator,
    save_project,
    write_color_png,
)

from agent.simulator.timecode import format_timecode


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    builder = load_template_builder()
    return builder.build_templates(tmp_path_factory.mktemp("templates"))


def test_render_writes_whole_comp(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "main.mp4"
    result = run_simulator(
        "-project", templates["main"], "-comp", "Main", "-output", output,
        "-v", "ERRORS_AND_PROGRESS", "-mfr", "ON", "90", "-close", "DO_NOT_SAVE_CHANGES",
        "-sound", "OFF",
    )  # fmt: skip
    lines = log_lines(result)

    assert result.returncode == 0, lines
    assert lines[0] == "aerender version 26.0x55"
    assert "PROGRESS:  Launching After Effects..." in lines
    assert any(line.endswith(": Starting composition Main.") for line in lines)
    assert "PROGRESS:  Start: 0:00:00:00" in lines
    assert "PROGRESS:  End: 0:00:03:24" in lines
    assert "PROGRESS:  Duration: 0:00:04:00" in lines
    assert "PROGRESS:  Frame Rate: 25.00 (comp)" in lines
    frames = frame_lines(lines)
    assert [int(match["count"]) for match in frames] == list(range(1, 101))
    assert frames[-1]["label"] == "0:00:03:24"
    assert any(line.endswith(": Finished composition Main.") for line in lines)
    assert any(line.startswith("PROGRESS:  Total Time Elapsed: ") for line in lines)
    info = probe(output)
    assert (info.codec, info.width, info.height, info.rate) == ("h264", 1280, 720, "25")
    assert info.frames == 100


def test_frame_range_end_inclusive(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "range.mp4"
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", output,
        "-s", "10", "-e", "19",
    )  # fmt: skip
    lines = log_lines(result)

    assert result.returncode == 0, lines
    assert "PROGRESS:  Start: 0:00:00:10" in lines
    assert "PROGRESS:  End: 0:00:00:19" in lines
    assert "PROGRESS:  Duration: 0:00:00:10" in lines
    frames = frame_lines(lines)
    assert [match["label"] for match in frames] == [f"0:00:00:{n}" for n in range(10, 20)]
    assert [int(match["count"]) for match in frames] == list(range(1, 11))
    assert probe(output).frames == 10


def test_increment_renders_every_nth(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "every-third.mp4"
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", output,
        "-s", "0", "-e", "9", "-i", "3",
    )  # fmt: skip
    frames = frame_lines(log_lines(result))

    assert result.returncode == 0
    assert [match["label"] for match in frames] == [
        "0:00:00:00",
        "0:00:00:03",
        "0:00:00:06",
        "0:00:00:09",
    ]
    assert probe(output).frames == 4


def test_display_start_frame(tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = project.root_folder.add_comp("Offset", 64, 36, 1.0, 2.0, 25.0)
    comp.display_start_frame = 100
    comp.add_solid([0.0, 0.0, 1.0], name="Blue", width=64, height=36)
    path = save_project(project, tmp_path / "offset.aep")
    output = tmp_path / "offset.mp4"

    result = run_simulator(
        "-project", path, "-comp", "Offset", "-output", output, "-s", "100", "-e", "104"
    )
    lines = log_lines(result)

    assert result.returncode == 0, lines
    assert "PROGRESS:  Start: 0:00:04:00" in lines
    assert next(match["label"] for match in frame_lines(lines)) == "0:00:04:00"
    assert probe(output).frames == 5


def test_frame_range_outside_comp(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-output", tmp_path / "x.mp4", "-s", "0", "-e", "100",
    )  # fmt: skip

    assert result.returncode == 5
    assert any(
        line.startswith("aerender ERROR: The frame range 0 to 100") for line in log_lines(result)
    )


def test_missing_comp_exits_7(templates: dict[str, Path], tmp_path: Path) -> None:
    # Comp names compare case-sensitively, as in After Effects.
    result = run_simulator(
        "-project", templates["main"], "-comp", "main", "-output", tmp_path / "x.mp4"
    )

    assert result.returncode == 7
    assert "aerender ERROR: No comp was found with the given name." in log_lines(result)
    assert not (tmp_path / "x.mp4").exists()


def test_missing_comp_with_log_exits_8(templates: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "render.log"
    result = run_simulator(
        "-project", templates["main"], "-comp", "Nope", "-output", tmp_path / "x.mp4", "-log", log
    )

    assert result.returncode == 8
    assert result.stdout == b""
    log_text = log.read_text(encoding="utf-8").splitlines()
    assert "aerender ERROR: No comp was found with the given name." in log_text
    assert log_text[0] == "aerender version 26.0x55"


def test_render_with_log_writes_file(templates: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "render.log"
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-output", tmp_path / "x.mp4", "-s", "0", "-e", "2", "-log", log,
    )  # fmt: skip

    assert result.returncode == 0
    assert len(frame_lines(log.read_text(encoding="utf-8").splitlines())) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-bogus"], "aerender SYNTAX ERROR: Illegal argument flag: -bogus"),
        (["-comp"], "aerender SYNTAX ERROR: Missing value for flag -comp"),
        (["-comp", "-output", "x.mp4"], "aerender SYNTAX ERROR: Missing value for flag -comp"),
        (["-s", "one"], "aerender SYNTAX ERROR: Invalid value 'one' for -s"),
        (["-i", "0"], "aerender SYNTAX ERROR: Invalid value '0' for -i"),
        (["-mem_usage", "50"], "aerender SYNTAX ERROR: Missing value for flag -mem_usage"),
        (["-v", "LOUD"], "aerender SYNTAX ERROR: Invalid value 'LOUD' for -v"),
        (["-mp"], "aerender SYNTAX ERROR: Illegal argument flag: -mp"),
        (["-comp", "A", "-rqindex", "1"], "aerender SYNTAX ERROR: Use either -comp or -rqindex"),
    ],
)
def test_syntax_error_exits_3(arguments: list[str], message: str) -> None:
    result = run_simulator(*arguments)

    assert result.returncode == 3
    assert log_lines(result)[0].startswith(message)


def test_syntax_error_with_log_exits_4(tmp_path: Path) -> None:
    result = run_simulator("-log", tmp_path / "x.log", "-bogus")

    assert result.returncode == 4


def test_mfr_rejected_before_22() -> None:
    result = run_simulator("-mfr", "ON", "90", version="18.4x2")

    assert result.returncode == 3
    assert log_lines(result) == ["aerender SYNTAX ERROR: Illegal argument flag: -mfr"]


def test_version_flag() -> None:
    default = run_simulator("-version")
    older = run_simulator("-version", version="25.6x101")

    assert default.returncode == 0
    assert log_lines(default) == ["aerender version 26.0x55"]
    assert log_lines(older) == ["aerender version 25.6x101"]


def test_no_arguments_shows_usage() -> None:
    result = run_simulator()

    assert result.returncode == 2
    assert log_lines(result)[0].startswith("Usage: aerender")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-OMtemplate", "Nope", "-output", "{out}"], "aerender ERROR: No output module template"),
        (
            ["-RStemplate", "Nope", "-output", "{out}"],
            "aerender ERROR: No render settings template",
        ),
        ([], "aerender ERROR: No output file was given"),
    ],
)
def test_template_not_found_exits_7(
    templates: dict[str, Path], tmp_path: Path, arguments: list[str], message: str
) -> None:
    flags = [str(tmp_path / "x.mp4") if argument == "{out}" else argument for argument in arguments]
    result = run_simulator("-project", templates["main"], "-comp", "Main", *flags)

    assert result.returncode == 7
    assert any(line.startswith(message) for line in log_lines(result))


def test_missing_project_exits_7(tmp_path: Path) -> None:
    result = run_simulator(
        "-project", tmp_path / "gone.aep", "-comp", "Main", "-output", tmp_path / "x.mp4"
    )

    assert result.returncode == 7
    assert any(
        line.startswith("aerender ERROR: The project file was not found")
        for line in log_lines(result)
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_script_flag_runs_script(templates: dict[str, Path], tmp_path: Path) -> None:
    script = tmp_path / "patch.jsx"
    script.write_text("$.writeln('comps: ' + app.project.numItems);\n", encoding="utf-8")
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-output", tmp_path / "x.mp4", "-s", "0", "-e", "1", "-r", script,
    )  # fmt: skip

    assert result.returncode == 0
    assert any(line.startswith("comps: ") for line in log_lines(result))
    assert (tmp_path / "x.mp4").is_file()


def test_missing_script_exits_5(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-output", tmp_path / "x.mp4", "-s", "0", "-e", "1", "-r", tmp_path / "gone.jsx",
    )  # fmt: skip

    assert result.returncode == 5
    errors = [line for line in log_lines(result) if line.startswith("aerender ERROR:")]
    assert errors
    assert "gone.jsx" in errors[0]
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    ("module", "requested", "written", "codec"),
    [
        ("H.264 - Match Render Settings - 15 Mbps", "clip.mov", "clip.mp4", "h264"),
        ("H.264 - Match Render Settings -  5 Mbps", "clip.mp4", "clip.mp4", "h264"),
        ("High Quality", "clip.mp4", "clip.mov", "prores"),
        ("High Quality with Alpha", "clip.mov", "clip.mov", "prores"),
        ("Lossless", "clip.avi", "clip.mov", "qtrle"),
    ],
)
def test_output_module_decides_file_type(
    templates: dict[str, Path],
    tmp_path: Path,
    module: str,
    requested: str,
    written: str,
    codec: str,
) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-OMtemplate", module,
        "-output", tmp_path / requested, "-s", "0", "-e", "2",
    )  # fmt: skip

    assert result.returncode == 0, log_lines(result)
    assert sorted(path.name for path in tmp_path.iterdir()) == [written]
    info = probe(tmp_path / written)
    assert info.codec == codec
    assert info.frames == 3


def test_png_sequence_numbers_frames(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-OMtemplate", "PNG Sequence",
        "-output", tmp_path / "frames_[####].png", "-s", "10", "-e", "16", "-i", "3",
    )  # fmt: skip

    assert result.returncode == 0, log_lines(result)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["frames_0010.png", "frames_0013.png", "frames_0016.png"]
    assert probe(tmp_path / "frames_0013.png").width == 640


def test_sequence_pattern_added_when_missing(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-OMtemplate", "JPEG Sequence",
        "-output", tmp_path / "still.mp4", "-s", "0", "-e", "1",
    )  # fmt: skip

    assert result.returncode == 0, log_lines(result)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "still_00000.jpg",
        "still_00001.jpg",
    ]


def test_draft_settings_keep_size(templates: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "draft.mp4"
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-RStemplate", "Draft Settings", "-output", output, "-s", "0", "-e", "1",
    )  # fmt: skip

    assert result.returncode == 0
    info = probe(output)
    assert (info.width, info.height, info.frames) == (640, 120, 2)


def test_replaced_footage_shows_pixels(templates: dict[str, Path], tmp_path: Path) -> None:
    red = write_color_png(tmp_path / "red.png", "red", (160, 160))
    project = open_project(templates["main"])
    main = comp_named(project, "Main")
    logo = layer_named(main, "Logo")
    logo.replace_source(project.import_file(py_aep.ImportOptions(str(red))), False)
    logo.name = "Logo"
    patched = save_project(project, tmp_path / "patched.aep")
    output = tmp_path / "patched.mp4"

    result = run_simulator(
        "-project", patched, "-comp", "Main", "-output", output, "-s", "0", "-e", "2"
    )
    frame = decode_frame(output, 1)

    assert result.returncode == 0, log_lines(result)
    # Logo sits at (1160, 120), 160x160, in the template.
    assert is_close(pixel(frame, 1160, 120), (255, 0, 0))
    assert is_close(pixel(frame, 1090, 50), (255, 0, 0))
    assert not is_close(pixel(frame, 1060, 120), (255, 0, 0))
    assert not is_close(pixel(frame, 640, 300), (255, 0, 0))


def test_text_patch_changes_pixels(templates: dict[str, Path], tmp_path: Path) -> None:
    original = tmp_path / "original.mp4"
    run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird", "-output", original, "-e", "0"
    )
    project = open_project(templates["lower_third"])
    title = layer_named(comp_named(project, "LowerThird"), "Title")
    assert title.text is not None
    document = title.text.source_text.value
    assert isinstance(document, py_aep.TextDocument)
    document.text = "WWWWWWWWWWWWWWWWWWWWWW"
    patched = save_project(project, tmp_path / "patched.aep")
    output = tmp_path / "patched.mp4"

    result = run_simulator("-project", patched, "-comp", "LowerThird", "-output", output, "-e", "0")
    before, after = decode_frame(original, 0), decode_frame(output, 0)

    assert result.returncode == 0
    white = (255, 255, 255)
    row = [(x, 62) for x in range(0, 640, 2)]
    white_before = sum(is_close(pixel(before, x, y), white, 60) for x, y in row)
    white_after = sum(is_close(pixel(after, x, y), white, 60) for x, y in row)
    assert white_before > 0
    assert white_after > white_before
    # The text's right end moved past where the original title ended.
    assert not is_close(pixel(before, 600, 62), white, 60)


def test_precomp_layer_is_drawn(tmp_path: Path) -> None:
    project = py_aep.new().project
    inner = project.root_folder.add_comp("Inner", 200, 100, 1.0, 2.0, 25.0)
    inner.add_solid([0.0, 1.0, 0.0], name="Green", width=100, height=100)
    outer = project.root_folder.add_comp("Outer", 640, 360, 1.0, 2.0, 25.0)
    outer.add_solid([0.0, 0.0, 0.0], name="Black", width=640, height=360)
    layer = outer.add(inner)
    layer.name = "Inner"
    layer.transform.position.value = [160.0, 120.0, 0.0]
    path = save_project(project, tmp_path / "nested.aep")
    output = tmp_path / "nested.mp4"

    result = run_simulator(
        "-project", path, "-comp", "Outer", "-output", output, "-s", "0", "-e", "4"
    )
    frame = decode_frame(output, 2)

    assert result.returncode == 0, log_lines(result)
    # Inner spans (60, 70) to (260, 170); its solid covers the middle 100 pixels.
    assert is_close(pixel(frame, 160, 120), (0, 255, 0))
    assert is_close(pixel(frame, 80, 120), (0, 0, 0))
    assert is_close(pixel(frame, 400, 300), (0, 0, 0))


def test_rendered_child_as_footage(templates: dict[str, Path], tmp_path: Path) -> None:
    child = tmp_path / "child.mov"
    first = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-OMtemplate", "High Quality", "-output", child, "-s", "0", "-e", "9",
    )  # fmt: skip
    project = open_project(templates["main"])
    main = comp_named(project, "Main")
    slot = layer_named(main, "LowerThird")
    slot.replace_source(project.import_file(py_aep.ImportOptions(str(child))), False)
    slot.name = "LowerThird"
    parent = save_project(project, tmp_path / "parent.aep")
    output = tmp_path / "parent.mp4"

    second = run_simulator(
        "-project", parent, "-comp", "Main", "-output", output, "-s", "0", "-e", "4"
    )
    frame = decode_frame(output, 3)

    assert first.returncode == 0
    assert second.returncode == 0, log_lines(second)
    # The lower third's orange bar fills (320, 540) to (960, 660) in Main.
    assert is_close(pixel(frame, 330, 550), (219, 92, 26), 30)
    assert is_close(pixel(frame, 640, 500), (20, 26, 41), 30)


def test_drop_frame_labels() -> None:
    ntsc = Fraction(30000, 1001)

    assert format_timecode(1799, ntsc, drop_frame=True) == "0;00;59;29"
    assert format_timecode(1800, ntsc, drop_frame=True) == "0;01;00;02"
    assert format_timecode(17982, ntsc, drop_frame=True) == "0;10;00;00"
    assert format_timecode(1800, ntsc) == "0:01:00:00"


def test_errors_verbosity_hides_progress(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["lower_third"], "-comp", "LowerThird",
        "-output", tmp_path / "x.mp4", "-e", "2", "-v", "ERRORS",
    )  # fmt: skip

    assert result.returncode == 0
    assert log_lines(result) == ["aerender version 26.0x55"]
    assert probe(tmp_path / "x.mp4").frames == 3


def test_empty_render_queue_index(templates: dict[str, Path], tmp_path: Path) -> None:
    result = run_simulator(
        "-project", templates["main"], "-rqindex", "1", "-output", tmp_path / "x.mp4"
    )

    assert result.returncode == 7
    assert "aerender ERROR: No render queue item was found at index 1." in log_lines(result)


def test_image_sequence_footage(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for number in range(1, 4):
        write_color_png(frames / f"shot_{number:04d}.png", "yellow", (32, 32))
    project = py_aep.new().project
    options = py_aep.ImportOptions(str(frames / "shot_0001.png"))
    options.sequence = True
    sequence = project.import_file(options)
    comp = project.root_folder.add_comp("Seq Comp ü", 64, 64, 1.0, 1.0, 25.0)
    layer = comp.add(sequence)
    layer.name = "Shot"
    layer.transform.position.value = [16.0, 16.0, 0.0]
    path = save_project(project, tmp_path / "with space.aep")
    output = tmp_path / "out dir" / "seq.mp4"

    result = run_simulator("-project", path, "-comp", "Seq Comp ü", "-output", output, "-e", "1")
    frame = decode_frame(output, 0)

    assert result.returncode == 0, log_lines(result)
    assert is_close(pixel(frame, 10, 10), (255, 255, 0))
    assert is_close(pixel(frame, 50, 50), (0, 0, 0))
