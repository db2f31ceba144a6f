"""Every footage and text asset kind, in both job shapes, rendered by a real farm.

Each test submits a job to a real controller, lets a simulated agent fetch, patch and render
it, downloads the output and reads the pixels or the sound where the asset must show. Sources
are file:// URIs inside the agent's --file-root, and some come over HTTP from a server on
127.0.0.1 that the module starts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import py_aep
import pytest

from protos import common_pb2
from tests.asset_server import AssetServer, Route, asset_server
from tests.audio_tones import decode_samples, has_audio_stream, rms, write_tone
from tests.audio_tones import zero_crossing_frequency as frequency_of
from tests.e2e.farm import Farm
from tests.e2e.test_nested_render import close_to, frame_rgb, pixel
from tests.e2e.test_templates_render import add_template, png, solid

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
WIDTH, HEIGHT, RATE = 160, 90, 30
BLUE, RED, GREEN, YELLOW = (0, 0, 255), (255, 0, 0), (0, 255, 0), (255, 255, 0)
MAGENTA, CYAN, WHITE = (255, 0, 255), (0, 255, 255), (255, 255, 255)
# The frames of the image sequence asset, in order.
SEQUENCE_COLORS = (MAGENTA, CYAN, WHITE)
# Centres of the boxes the footage layers fill: Clip at x 0..80, Frames at x 80..160, y 0..44.
CLIP_POINT, FRAMES_POINT = (40, 22), (120, 22)
# The Title text layer writes its first line here, under the footage boxes.
TITLE_BAND = [(x, y) for x in range(0, WIDTH) for y in range(50, HEIGHT)]
# A tone counts as heard at this RMS (16-bit units); lavfi's sine gives about 2000 here.
HEARD_RMS = 500.0


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "0x" + "".join(f"{channel:02x}" for channel in rgb)


def color_clip(path: Path, rgb: tuple[int, int, int], size: str) -> Path:
    """Write a one-second H.264 clip of one colour, as a lavfi source makes it."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"color=c={hex_color(rgb)}:s={size}:r={RATE}:d=1"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


def build_kinds(folder: Path) -> Path:
    """Save kinds.aep: comp Main (160x90, 30 fps, 1 s) with a layer for each asset kind.

    Bg is blue everywhere. Clip is a red solid at x 0..80, y 0..44 and Frames a yellow one at
    x 80..160, y 0..44. Tone is an audio layer playing a 440 Hz sine. Title is a white text
    layer holding one space, which draws nothing, with its baseline at y 80.
    """
    folder.mkdir(parents=True, exist_ok=True)
    app = py_aep.new()
    main = app.project.root_folder.add_comp("Main", WIDTH, HEIGHT, 1.0, 1.0, float(RATE))
    solid(main, [0.0, 0.0, 1.0], "Bg", (0, 0, WIDTH, HEIGHT))
    solid(main, [1.0, 0.0, 0.0], "Clip", (0, 0, 80, 44))
    solid(main, [1.0, 1.0, 0.0], "Frames", (80, 0, 80, 44))
    tone = app.project.import_file(
        py_aep.ImportOptions(write_tone(folder / "tone-440.wav", 440, 1))
    )
    main.add(tone).name = "Tone"
    # py-aep gives an empty text the default "Text 1", so a space stands for no text.
    title = main.add_text(" ")
    title.name = "Title"
    assert title.text is not None
    document = title.text.source_text.value
    assert isinstance(document, py_aep.TextDocument)
    document.font_size = 30.0
    document.fill_color = [1.0, 1.0, 1.0]
    title.transform["Position"].value = [8.0, 80.0, 0.0]
    path = folder / "kinds.aep"
    app.project.save(path)
    return path


def build_static(folder: Path) -> Path:
    """Save static.aep, whose layer Brand shows brand.png beside it, and then remove the file.

    Like a template made on another machine, the project names a file the render box lacks,
    and After Effects looks for it beside the project, where a static asset puts it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    app = py_aep.new()
    main = app.project.root_folder.add_comp("Main", WIDTH, HEIGHT, 1.0, 1.0, float(RATE))
    solid(main, [0.0, 0.0, 1.0], "Bg", (0, 0, WIDTH, HEIGHT))
    brand = png(folder / "brand.png", hex_color(RED), "80x44")
    layer = main.add(app.project.import_file(py_aep.ImportOptions(brand)))
    layer.name = "Brand"
    layer.transform["Position"].value = [40.0, 22.0, 0.0]
    path = folder / "static.aep"
    app.project.save(path)
    brand.unlink()
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kinds-media")


@pytest.fixture(scope="module")
def server() -> Iterator[AssetServer]:
    with asset_server() as running:
        yield running


@pytest.fixture(scope="module")
def kinds(media: Path) -> Path:
    return build_kinds(media / "templates")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, media: Path, kinds: Path) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    try:
        running.start_controller()
        running.start_agent("agent-1", extra=["--file-root", str(media)])
        running.wait_for_agents(1)
        add_template(running, kinds, "kinds")
        add_template(running, build_static(media / "static-template"), "static")
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def sequence(media: Path) -> Path:
    """Write f_00001.png to f_00003.png (80x44) in SEQUENCE_COLORS; return the first."""
    folder = media / "frames"
    folder.mkdir()
    for number, rgb in enumerate(SEQUENCE_COLORS, start=1):
        png(folder / f"f_{number:05d}.png", hex_color(rgb), "80x44")
    return folder / "f_00001.png"


@pytest.fixture(scope="module")
def tone(media: Path) -> Path:
    return write_tone(media / "tone-1000.wav", 1000, 1)


def render(farm: Farm, job: dict[str, object], folder: Path) -> Path:
    done = farm.wait_final(farm.submit(job).job.id)
    assert done.state == FINISHED, f"{done.error}\n{farm.log('agent-1')}"
    output = done.outputs[0]
    return farm.download(output, folder / output.name)


def frame_at(video: Path, frame: int) -> bytes:
    """Decode comp frame `frame` of a render that starts at frame 0."""
    # ffmpeg's -ss before -i decodes the first frame that starts at or after the time, so a
    # time a quarter frame early lands on the frame itself.
    return frame_rgb(video, WIDTH, HEIGHT, at_seconds=max(0.0, (frame - 0.25) / RATE))


def seen(frame: bytes, point: tuple[int, int]) -> tuple[int, int, int]:
    return pixel(frame, WIDTH, *point)


def text_drawn(frame: bytes) -> bool:
    return any(close_to(pixel(frame, WIDTH, x, y), WHITE, 60) for x, y in TITLE_BAND)


def tone_of(video: Path, start: float = 0.05, seconds: float = 0.3) -> float:
    samples = decode_samples(video, start, seconds)
    assert rms(samples) >= HEARD_RMS, f"no tone at {start} s"
    return frequency_of(samples)


def cloud_job(
    template: str, *assets: dict[str, object], last: int = 5, codec: str = ""
) -> dict[str, object]:
    # The text layer uses Myriad Pro, which the simulated agent does not have.
    settings: dict[str, object] = {"frames": [0, last], "allowMissingFonts": True}
    if codec:
        settings["codec"] = codec
    return {
        "template": {"id": template, "composition": "Main"},
        "settings": settings,
        "assets": list(assets),
    }


def test_video_asset_over_http(farm: Farm, server: AssetServer, tmp_path: Path) -> None:
    clip = color_clip(tmp_path / "green.mp4", GREEN, "80x44")
    server.routes["/media/green.mp4"] = Route(clip.read_bytes(), etag='"green-1"')
    asset = {"type": "video", "src": server.url("/media/green.mp4"), "layerName": "Clip"}

    video = render(farm, cloud_job("kinds", asset), tmp_path)
    frame = frame_at(video, 2)

    assert len(server.requests_for("/media/green.mp4")) == 1
    assert close_to(seen(frame, CLIP_POINT), GREEN), "the clip replaced the red solid"
    assert close_to(seen(frame, FRAMES_POINT), YELLOW), "Frames keeps its solid"
    assert close_to(pixel(frame, WIDTH, 150, 85), BLUE), "Bg shows under nothing else"
    # Without text and audio assets the template's own empty title and 440 Hz tone remain.
    assert not text_drawn(frame)
    assert abs(tone_of(video) - 440) < 30


def test_image_sequence_asset(farm: Farm, sequence: Path, tmp_path: Path) -> None:
    asset = {"type": "image", "src": sequence.as_uri(), "layerName": "Frames", "sequence": True}

    video = render(farm, cloud_job("kinds", asset), tmp_path)

    assert close_to(seen(frame_at(video, 0), FRAMES_POINT), SEQUENCE_COLORS[0]), "frame 1"
    assert close_to(seen(frame_at(video, 2), FRAMES_POINT), SEQUENCE_COLORS[2]), "frame 3"
    assert close_to(seen(frame_at(video, 2), CLIP_POINT), RED), "Clip keeps its solid"


# The native H.264 template, the Lossless intermediate that ffmpeg encodes, and ProRes.
@pytest.mark.parametrize(
    "codec", ["video_h264_vbr_15mbps", "video_h264_cbr_5mbps", "video_prores_422"]
)
def test_audio_asset_replaces_tone(farm: Farm, tone: Path, tmp_path: Path, codec: str) -> None:
    asset = {"type": "audio", "src": tone.as_uri(), "layerName": "Tone"}

    video = render(farm, cloud_job("kinds", asset, last=14, codec=codec), tmp_path)

    assert has_audio_stream(video)
    assert abs(tone_of(video) - 1000) < 30
    assert len(decode_samples(video)) == pytest.approx(48000 * 15 / RATE, abs=48000 * 0.03)
    assert close_to(seen(frame_at(video, 0), CLIP_POINT), RED), "the picture is unchanged"


def test_cloud_text_asset_sets_text(farm: Farm, tmp_path: Path) -> None:
    asset = {"type": "text", "layerName": "Title", "value": "MMMM"}

    video = render(farm, cloud_job("kinds", asset), tmp_path)
    frame = frame_at(video, 1)

    assert text_drawn(frame), "the title's white text is drawn under the boxes"
    assert close_to(seen(frame, CLIP_POINT), RED)


def test_static_asset_beside_project(farm: Farm, media: Path, tmp_path: Path) -> None:
    green = png(media / "brand-green.png", hex_color(GREEN), "80x44")
    # The project names brand.png, so the asset's name, not its source's, must match.
    asset = {"type": "static", "src": green.as_uri(), "name": "brand.png"}

    video = render(farm, cloud_job("static", asset), tmp_path)
    frame = frame_at(video, 1)

    assert close_to(seen(frame, CLIP_POINT), GREEN), "brand.png from the static asset"
    assert close_to(seen(frame, FRAMES_POINT), BLUE)
    assert not has_audio_stream(video)


def test_nexrender_shape_footage_kinds(
    farm: Farm, server: AssetServer, kinds: Path, sequence: Path, tone: Path, tmp_path: Path
) -> None:
    clip = color_clip(tmp_path / "cyan.mp4", CYAN, "80x44")
    server.routes["/nexrender/cyan.mp4"] = Route(clip.read_bytes())
    server.routes["/nexrender/tone.wav"] = Route(tone.read_bytes())
    job = {
        "template": {
            "src": kinds.as_uri(),
            "composition": "Main",
            "frameStart": 0,
            "frameEnd": 14,
            "allowMissingFonts": True,
        },
        "assets": [
            {"type": "video", "src": server.url("/nexrender/cyan.mp4"), "layerName": "Clip"},
            {"type": "image", "src": sequence.as_uri(), "layerName": "Frames", "sequence": True},
            {"type": "audio", "src": server.url("/nexrender/tone.wav"), "layerName": "Tone"},
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": "WW"},
        ],
    }

    video = render(farm, job, tmp_path)

    assert close_to(seen(frame_at(video, 1), CLIP_POINT), CYAN), "video asset"
    assert close_to(seen(frame_at(video, 1), FRAMES_POINT), SEQUENCE_COLORS[1]), "sequence"
    assert close_to(seen(frame_at(video, 0), FRAMES_POINT), SEQUENCE_COLORS[0]), "sequence"
    assert text_drawn(frame_at(video, 1)), "Source Text"
    assert abs(tone_of(video) - 1000) < 30, "audio asset"
