"""The simulator's audio: heard layers mixed into movie outputs, run as a real subprocess."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import py_aep
import pytest
from py_aep.binary.utils import build_als2_list
from test_simulator_support import (
    decode_frame,
    is_close,
    log_lines,
    pixel,
    probe,
    run_simulator,
    save_project,
    write_color_png,
)

from agent.simulator.footage_paths import relative_footage_path
from tests.audio_tones import (
    FFMPEG,
    decode_samples,
    has_audio_stream,
    rms,
    write_tone,
    zero_crossing_frequency,
)

# A tone counts as heard when its RMS is at least this, in 16-bit units. lavfi's sine has an
# amplitude of 4096, so its RMS is about 2900, and about 2000 after mono to stereo and back.
HEARD_RMS = 500.0
SILENT_RMS = 50.0


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("tones")
    return {hz: write_tone(folder / f"tone-{hz}.wav", hz, 1.0) for hz in (440, 1000)}


def tone_at(path: Path, start: float, seconds: float = 0.2) -> float:
    """Return the estimated frequency of the output's audio over [start, start + seconds)."""
    samples = decode_samples(path, start, seconds)
    assert rms(samples) >= HEARD_RMS, f"silence at {start} s"
    return zero_crossing_frequency(samples)


def new_comp(project: py_aep.Project, name: str = "Main", seconds: float = 2.0) -> py_aep.CompItem:
    comp = project.root_folder.add_comp(name, 64, 36, 1.0, seconds, 25.0)
    comp.add_solid([0.0, 0.0, 1.0], name="Bg", width=64, height=36)
    return comp


def add_file(project: py_aep.Project, comp: py_aep.CompItem, path: Path) -> py_aep.AVLayer:
    layer: py_aep.AVLayer = comp.add(project.import_file(py_aep.ImportOptions(path)))
    return layer


def test_two_layers_play_at_start_times(tones: dict[int, Path], tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = new_comp(project)
    add_file(project, comp, tones[440])
    later = add_file(project, comp, tones[1000])
    later.start_time = 1.0
    path = save_project(project, tmp_path / "two.aep")
    output = tmp_path / "two.mp4"

    result = run_simulator("-project", path, "-comp", "Main", "-output", output)

    assert result.returncode == 0, log_lines(result)
    assert has_audio_stream(output)
    assert abs(tone_at(output, 0.3) - 440) < 20
    assert abs(tone_at(output, 1.3) - 1000) < 30
    assert len(decode_samples(output)) == pytest.approx(2 * 48000, abs=48000 * 0.03)
    assert probe(output).frames == 50


def test_comp_without_audio_has_no_stream(tmp_path: Path) -> None:
    project = py_aep.new().project
    new_comp(project)
    path = save_project(project, tmp_path / "silent.aep")
    output = tmp_path / "silent.mp4"

    result = run_simulator("-project", path, "-comp", "Main", "-output", output, "-e", "4")

    assert result.returncode == 0, log_lines(result)
    assert probe(output).frames == 5
    assert not has_audio_stream(output)


def test_audio_switch_off_is_not_heard(tones: dict[int, Path], tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = new_comp(project)
    add_file(project, comp, tones[440]).audio_enabled = False
    path = save_project(project, tmp_path / "muted.aep")
    output = tmp_path / "muted.mp4"

    result = run_simulator("-project", path, "-comp", "Main", "-output", output, "-e", "4")

    assert result.returncode == 0, log_lines(result)
    assert not has_audio_stream(output)


def test_frame_range_trims_audio(tones: dict[int, Path], tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = new_comp(project)
    add_file(project, comp, tones[440])
    add_file(project, comp, tones[1000]).start_time = 1.0
    path = save_project(project, tmp_path / "range.aep")
    output = tmp_path / "range.mov"

    # Frames 20 to 34 are comp seconds 0.8 to 1.4: 440 Hz for 0.2 s, then 1000 Hz.
    result = run_simulator(
        "-project", path, "-comp", "Main", "-output", output, "-OMtemplate", "Lossless",
        "-s", "20", "-e", "34",
    )  # fmt: skip

    assert result.returncode == 0, log_lines(result)
    assert "pcm_s16le" in _stream_listing(output)
    assert len(decode_samples(output)) == 15 * 48000 // 25
    assert abs(tone_at(output, 0.0, 0.15) - 440) < 30
    assert abs(tone_at(output, 0.3, 0.25) - 1000) < 30


def test_precomp_audio_follows_its_layer(tones: dict[int, Path], tmp_path: Path) -> None:
    project = py_aep.new().project
    inner = project.root_folder.add_comp("Inner", 64, 36, 1.0, 2.0, 25.0)
    add_file(project, inner, tones[1000])
    comp = new_comp(project)
    comp.add(inner).start_time = 1.0
    path = save_project(project, tmp_path / "nested.aep")
    output = tmp_path / "nested.mp4"

    result = run_simulator("-project", path, "-comp", "Main", "-output", output)

    assert result.returncode == 0, log_lines(result)
    assert rms(decode_samples(output, 0.2, 0.6)) < SILENT_RMS
    assert abs(tone_at(output, 1.2) - 1000) < 30


def test_movie_sound_is_heard(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _run_ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=32x18:r=25:d=1",
        "-f", "lavfi", "-i", "sine=frequency=1000:duration=1",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip),
    )  # fmt: skip
    project = py_aep.new().project
    comp = new_comp(project, seconds=1.0)
    add_file(project, comp, clip)
    path = save_project(project, tmp_path / "movie.aep")
    output = tmp_path / "movie.mp4"

    result = run_simulator("-project", path, "-comp", "Main", "-output", output)

    assert result.returncode == 0, log_lines(result)
    assert abs(tone_at(output, 0.4) - 1000) < 30
    assert is_close(pixel(decode_frame(output, 5), 32, 18), (255, 0, 0))


def test_sequence_output_ignores_audio(tones: dict[int, Path], tmp_path: Path) -> None:
    project = py_aep.new().project
    comp = new_comp(project)
    add_file(project, comp, tones[440])
    path = save_project(project, tmp_path / "frames.aep")

    result = run_simulator(
        "-project", path, "-comp", "Main", "-output", tmp_path / "out_[#####].png",
        "-OMtemplate", "PNG Sequence", "-e", "2",
    )  # fmt: skip

    assert result.returncode == 0, log_lines(result)
    assert sorted(p.name for p in tmp_path.glob("out_*.png")) == [
        "out_00000.png",
        "out_00001.png",
        "out_00002.png",
    ]


def test_missing_audio_file_stops_render(tones: dict[int, Path], tmp_path: Path) -> None:
    tone = shutil.copyfile(tones[440], tmp_path / "gone.wav")
    project = py_aep.new().project
    comp = new_comp(project)
    add_file(project, comp, Path(tone))
    path = save_project(project, tmp_path / "gone.aep")
    Path(tone).unlink()
    output = tmp_path / "gone.mp4"

    stopped = run_simulator("-project", path, "-comp", "Main", "-output", output, "-e", "4")
    bars = run_simulator(
        "-project", path, "-comp", "Main", "-output", output, "-e", "4",
        "-continueOnMissingFootage",
    )  # fmt: skip

    assert stopped.returncode == 9
    assert any("gone.wav" in line for line in log_lines(stopped))
    assert bars.returncode == 0, log_lines(bars)
    assert rms(decode_samples(output)) < SILENT_RMS


def test_footage_found_beside_moved_project(tmp_path: Path) -> None:
    authored = tmp_path / "authored"
    authored.mkdir()
    write_color_png(authored / "logo.png", "0x00ff00", (32, 18))
    project = py_aep.new().project
    comp = new_comp(project, seconds=1.0)
    add_file(project, comp, authored / "logo.png")
    save_project(project, authored / "t.aep")
    moved = tmp_path / "box" / "job"
    moved.mkdir(parents=True)
    shutil.move(authored / "t.aep", moved / "t.aep")
    shutil.move(authored / "logo.png", moved / "logo.png")
    output = tmp_path / "moved.mp4"

    result = run_simulator("-project", moved / "t.aep", "-comp", "Main", "-output", output)

    assert result.returncode == 0, log_lines(result)
    assert is_close(pixel(decode_frame(output, 0), 32, 18), (0, 255, 0))


class _Pin:
    """A stand-in for py-aep's chunk list of a FileSource, holding one `alas` record."""

    def __init__(self, record: str) -> None:
        self.chunks = [build_als2_list("/unused", target_is_folder=False)]
        self.chunks[0].chunks[0].value = record


class _Source:
    def __init__(self, record: str, file: str) -> None:
        self._pin = _Pin(record)
        self.file = file


@pytest.mark.parametrize(
    ("record", "file", "expected"),
    [
        # Saved as /a/b/t.aep with footage /a/c/x.png: two parts each below /a.
        (
            '{"ascendcount_base":2,"ascendcount_target":2,"fullpath":"/a/c/x.png"}',
            "/a/c/x.png",
            "/w/c/x.png",
        ),
        # Saved on Windows beside the project.
        (
            '{"ascendcount_base":1,"ascendcount_target":1,"fullpath":"C:\\\\jobs\\\\x.png"}',
            "C:\\jobs\\x.png",
            "/w/job/x.png",
        ),
        # A sequence folder counts one part more, as a file inside it.
        (
            '{"ascendcount_base":1,"ascendcount_target":2,"fullpath":"/a/frames",'
            '"target_is_folder":true}',
            "/a/frames/f_001.png",
            "/w/job/frames/f_001.png",
        ),
        # No relative path: the project and the footage are on different volumes.
        (
            '{"ascendcount_base":0,"ascendcount_target":0,"fullpath":"D:\\\\x.png"}',
            "D:\\x.png",
            None,
        ),
    ],
)
def test_relative_footage_path(record: str, file: str, expected: str | None) -> None:
    found = relative_footage_path(_Source(record, file), Path("/w/job/t.aep"))

    assert (str(found) if found is not None else None) == expected


def _stream_listing(path: Path) -> str:
    listed = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return listed.stderr


def _run_ffmpeg(*arguments: str) -> None:
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *arguments]
    subprocess.run(command, check=True, timeout=60)
