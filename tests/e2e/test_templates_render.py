"""Templates known to the controller, rendered end to end by a real farm with the simulator.

Each check decodes a rendered frame and reads the pixel where a patch must show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import imageio_ffmpeg
import py_aep
import pytest

from protos import common_pb2, jobs_pb2, templates_pb2, templates_pb2_grpc
from tests.e2e.farm import TOP, Farm
from tests.e2e.test_nested_render import close_to, frame_rgb, pixel
from tests.unit.test_templates_support import build_template

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
QUEUED = common_pb2.JOB_STATE_QUEUED
BLUE, RED, YELLOW, WHITE = (0, 0, 255), (255, 0, 0), (255, 255, 0), (255, 255, 255)
GREEN, CYAN, MAGENTA = (0, 255, 0), (0, 255, 255), (255, 0, 255)


def solid(comp: py_aep.CompItem, color: list[float], name: str, box: tuple[int, ...]) -> None:
    """Add a solid of box (x, y, width, height) in comp pixels."""
    x, y, width, height = box
    layer = comp.add_solid(color, name=name, width=width, height=height)
    layer.transform["Position"].value = [x + width / 2, y + height / 2, 0.0]


def build_scene(path: Path) -> Path:
    """Save the scene the frame checks read, in pixels of Main (160x90).

    Bg is blue everywhere. Inner (an 80x90 precomp at x 0..80) has Slot red at y 0..60 and
    Badge yellow at x 20..60, y 60..90. Main's own Slot is yellow at x 120..160, y 0..45, and
    its Badge yellow at x 120..160, y 60..90. Mover is white at x 90..110, y 35..55. Title is
    an empty text layer.
    """
    app = py_aep.new()
    folder = app.project.root_folder
    inner = folder.add_comp("Inner", 80, 90, 1.0, 1.0, 25.0)
    solid(inner, [1.0, 0.0, 0.0], "Slot", (0, 0, 80, 60))
    solid(inner, [1.0, 1.0, 0.0], "Badge", (20, 60, 40, 30))
    main = folder.add_comp("Main", 160, 90, 1.0, 1.0, 25.0)
    solid(main, [0.0, 0.0, 1.0], "Bg", (0, 0, 160, 90))
    precomp = main.add(inner)
    precomp.transform["Position"].value = [40.0, 45.0, 0.0]
    solid(main, [1.0, 1.0, 0.0], "Slot", (120, 0, 40, 45))
    solid(main, [1.0, 1.0, 0.0], "Badge", (120, 60, 40, 30))
    solid(main, [1.0, 1.0, 1.0], "Mover", (90, 35, 20, 20))
    title = main.add_text("")
    title.name = "Title"
    title.transform["Position"].value = [90.0, 30.0, 0.0]
    app.project.save(path)
    return path


def png(path: Path, color: str, size: str) -> Path:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", f"color={color}:s={size}", "-frames:v", "1", str(path)]
    subprocess.run(command, check=True)
    return path


def add_template(farm: Farm, path: Path, name: str) -> templates_pb2.Template:
    from controller.cli.client import Controller
    from controller.cli.templates import upload

    with Controller(farm.address) as controller:
        ref = upload(controller, path)
    stub = templates_pb2_grpc.TemplateServiceStub(farm.channel)
    request = templates_pb2.AddTemplateRequest(sha256=ref.sha256, file_name=ref.name, name=name)
    template: templates_pb2.Template = stub.AddTemplate(request, timeout=30)
    return template


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    try:
        running.start_controller()
        running.start_agent("agent-1", extra=["--file-root", str(media)])
        running.wait_for_agents(1)
        add_template(running, build_scene(media / "scene.aep"), "scene")
        yield running
    finally:
        running.stop()


def test_patches_show_in_the_rendered_frames(farm: Farm, media: Path, tmp_path: Path) -> None:
    green = png(media / "green.png", "0x00ff00", "80x60")
    cyan = png(media / "cyan.png", "0x00ffff", "40x30")
    job = {
        "template": {"id": "scene", "composition": "Main"},
        # The text layer uses Myriad Pro, which the simulated agent does not have.
        "settings": {"frames": [0, 4], "allowMissingFonts": True},
        "assets": [
            {
                "type": "image",
                "src": green.as_uri(),
                "layerName": "Slot",
                "composition": "Main->Inner",
            },
            {"type": "image", "src": cyan.as_uri(), "layerName": "Badge", "composition": "*"},
            {"type": "data", "layerName": "Mover", "property": "Position", "value": [100, 80]},
            {
                "type": "data",
                "layerName": "Title",
                "property": "Source Text",
                "value": {"text": "MMMM", "fillColor": "#ff00ff", "fontSize": 30},
            },
        ],
    }
    done = farm.wait_final(farm.submit(job).job.id)
    assert done.state == FINISHED, f"{done.error}\n{farm.log('agent-1')}"
    video = farm.download(done.outputs[0], tmp_path / done.outputs[0].name)
    frame = frame_rgb(video, 160, 90, at_seconds=0.04)

    assert close_to(pixel(frame, 160, 20, 20), GREEN), "footage inside the precomp"
    assert close_to(pixel(frame, 160, 140, 20), YELLOW), "Main's own Slot is not in Main->Inner"
    assert close_to(pixel(frame, 160, 40, 80), CYAN), "Badge inside Inner, by composition *"
    assert close_to(pixel(frame, 160, 140, 80), CYAN), "Badge in Main, by composition *"
    assert close_to(pixel(frame, 160, 100, 45), BLUE), "Mover left its place"
    assert close_to(pixel(frame, 160, 100, 80), WHITE), "Mover at its new position"
    title_band = [pixel(frame, 160, x, y) for x in range(90, 160) for y in range(0, 35)]
    assert any(close_to(seen, MAGENTA, 60) for seen in title_band), "Source Text drawn"


def test_aep_output_is_the_patched_project(farm: Farm, tmp_path: Path) -> None:
    job = {
        "template": {"id": "scene", "composition": "Main"},
        "settings": {"type": "aep", "allowMissingFonts": True},
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": "Patched"}
        ],
    }
    done = farm.wait_final(farm.submit(job).job.id)
    assert done.state == FINISHED, f"{done.error}\n{farm.log('agent-1')}"
    output = done.outputs[0]
    assert output.name.endswith(".aep")
    project = py_aep.parse(farm.download(output, tmp_path / output.name)).project
    main = next(comp for comp in project.compositions if comp.name == "Main")
    title = next(layer for layer in main.layers if layer.name == "Title")
    assert title.text["Source Text"].value.text == "Patched"


def test_submit_rejection_names_path(farm: Farm) -> None:
    job = {
        "template": {"id": "scene", "composition": "Main"},
        "assets": [{"type": "data", "layerName": "Bg", "property": "Source Text", "value": "x"}],
    }
    before = len(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs)
    with pytest.raises(grpc.RpcError) as caught:
        farm.submit(job)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "$.assets[0].property" in caught.value.details()
    assert "solid layer" in caught.value.details()
    assert len(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs) == before


def test_missing_fonts_keep_job_queued(farm: Farm, tmp_path: Path) -> None:
    path = build_template(tmp_path / "fonts.aep")
    add_template(farm, path, "with-fonts")
    job = {"template": {"id": "with-fonts", "composition": "Main"}, "settings": {"frames": [0, 1]}}
    queued = farm.get(farm.submit(job).job.id)
    assert queued.state == QUEUED
    # The simulated agent reports this machine's font families, which lack Myriad Pro.
    assert "missing MyriadPro-Regular" in queued.waiting_reason
    shown = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "job", queued.id],
        capture_output=True,
        text=True,
        env={**os.environ, "AEFARM_CONTROLLER": farm.address},
        cwd=TOP,
        timeout=60,
        check=True,
    )
    assert "waiting" in shown.stdout
    assert "missing MyriadPro-Regular" in shown.stdout
    farm.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=queued.id, reason="test over"), timeout=10)


def test_template_src_of_a_stored_file_is_checked(farm: Farm) -> None:
    stub = templates_pb2_grpc.TemplateServiceStub(farm.channel)
    stored = stub.GetTemplate(templates_pb2.GetTemplateRequest(id="scene"), timeout=10)
    job = {"template": {"src": stored.url, "composition": "Mian"}}
    with pytest.raises(grpc.RpcError) as caught:
        farm.submit(job)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "did you mean 'Main'?" in caught.value.details()
