"""Essential Graphics controllers and solid colours rendered end to end by a real farm.

The template is tests/unit/test_essential_support.build_cards, stored on the controller. Each
check decodes a rendered frame and reads the pixels where a change must show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm
from tests.e2e.test_nested_render import close_to, frame_rgb, pixel
from tests.e2e.test_templates_render import add_template
from tests.unit.test_essential_support import MAIN_SIZE, build_cards

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
WIDTH, HEIGHT = MAIN_SIZE
BLUE, RED, GREEN = (0, 0, 255), (255, 0, 0), (0, 255, 0)
WHITE, MAGENTA = (255, 255, 255), (255, 0, 255)
TEMPLATE = {"id": "cards", "composition": "Main"}
# The text layers use Myriad Pro, which the simulated agent does not have.
SETTINGS = {"frames": [0, 2], "allowMissingFonts": True}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    try:
        running.start_controller()
        running.start_agent("agent-1")
        running.wait_for_agents(1)
        media = tmp_path_factory.mktemp("media")
        add_template(running, build_cards(media / "cards.aep"), "cards")
        yield running
    finally:
        running.stop()


def render(farm: Farm, assets: list[dict[str, object]], tmp_path: Path) -> bytes:
    job = {"template": TEMPLATE, "settings": SETTINGS, "assets": assets}
    done = farm.wait_final(farm.submit(job).job.id)
    assert done.state == FINISHED, f"{done.error}\n{farm.log('agent-1')}"
    video = farm.download(done.outputs[0], tmp_path / done.outputs[0].name)
    return frame_rgb(video, WIDTH, HEIGHT, at_seconds=0.04)


def band(frame: bytes, xs: range, ys: range) -> list[tuple[int, int, int]]:
    return [pixel(frame, WIDTH, x, y) for x in xs for y in ys]


def shows(frame: bytes, xs: range, ys: range, color: tuple[int, int, int]) -> bool:
    return any(close_to(seen, color, 60) for seen in band(frame, xs, ys))


def job_count(farm: Farm) -> int:
    return len(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs)


def test_untouched_template_renders_its_own_values(farm: Farm, tmp_path: Path) -> None:
    frame = render(farm, [], tmp_path)
    assert shows(frame, range(0, 80), range(0, 45), WHITE), "Left label white"
    assert shows(frame, range(80, 160), range(0, 45), WHITE), "Right label white"
    assert not shows(frame, range(0, 160), range(0, 45), GREEN)
    assert not shows(frame, range(0, 160), range(50, 90), MAGENTA), "Headline is empty"
    assert close_to(pixel(frame, WIDTH, 20, 105), RED), "Chip red"
    assert close_to(pixel(frame, WIDTH, 140, 105), RED), "Chip Twin red"


def test_essential_text_and_colour_controllers_render(farm: Farm, tmp_path: Path) -> None:
    frame = render(
        farm,
        [
            # Main's own text controller.
            {"type": "essential", "property": "Headline", "value": "MMMM"},
            # The colour controller of the Card that the Right layer shows, for Right only.
            {
                "type": "essential",
                "layerName": "Right",
                "property": "Label Color",
                "value": [0, 1, 0],
            },
        ],
        tmp_path,
    )
    assert shows(frame, range(0, 160), range(50, 90), MAGENTA), "Headline text drawn"
    assert shows(frame, range(80, 160), range(0, 45), GREEN), "Right label green"
    assert not shows(frame, range(80, 160), range(0, 45), WHITE), "no white left on Right"
    assert shows(frame, range(0, 80), range(0, 45), WHITE), "Left label still white"
    assert not shows(frame, range(0, 80), range(0, 45), GREEN), "Left label not green"


def test_solid_colour_renders_for_one_layer(farm: Farm, tmp_path: Path) -> None:
    frame = render(
        farm,
        [{"type": "data", "layerName": "Chip", "property": "Solid Color", "value": "#00ff00"}],
        tmp_path,
    )
    assert close_to(pixel(frame, WIDTH, 20, 105), GREEN), "Chip green"
    assert close_to(pixel(frame, WIDTH, 140, 105), RED), "Chip Twin shares the old solid"
    assert close_to(pixel(frame, WIDTH, 50, 105), BLUE), "Bg around the chips"


def test_bad_controller_name_is_rejected_at_submit(farm: Farm) -> None:
    before = job_count(farm)
    job = {
        "template": TEMPLATE,
        "assets": [
            {
                "type": "essential",
                "layerName": "Right",
                "property": "Label Colour",
                "value": [0, 1, 0],
            }
        ],
    }
    with pytest.raises(grpc.RpcError) as caught:
        farm.submit(job)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "$.assets[0].property" in details
    assert "no Essential Graphics controller 'Label Colour'" in details
    assert "did you mean 'Label Color'" in details
    assert job_count(farm) == before


def test_bad_effect_path_is_rejected_at_submit(farm: Farm) -> None:
    before = job_count(farm)
    job = {
        "template": TEMPLATE,
        "assets": [
            {
                "type": "data",
                "layerName": "Knob",
                "property": "Effects.Slider Contrl.Slider",
                "value": 5,
            }
        ],
    }
    with pytest.raises(grpc.RpcError) as caught:
        farm.submit(job)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert "$.assets[0].property" in details
    assert "no effect 'Slider Contrl'" in details
    assert "did you mean 'Slider Control'" in details
    assert job_count(farm) == before


def test_template_show_lists_controllers_and_effects(farm: Farm) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "template", "show", "cards"],
        capture_output=True,
        text=True,
        env={**os.environ, "AEFARM_CONTROLLER": farm.address},
        cwd=TOP,
        timeout=60,
        check=True,
    )
    assert "Essential Graphics controllers:" in shown.stdout
    assert "color       Label Color" in shown.stdout
    assert "text        Headline" in shown.stdout
    assert "effects: Slider Control, Color Control" in shown.stdout
