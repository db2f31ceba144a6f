"""Script and function assets rendered end to end by a real farm with the simulator.

One controller and two simulated agents: `agent-patched` (pool patched) runs scripts with the
patched-aerender runner, which --simulate picks by default, and `agent-afterfx` (pool afterfx)
with `--script-runner afterfx`, which runs the simulator's After Effects stand-in. Each job's
tag sends it to one of them. The checks decode rendered frames and read the pixels where the
script's changes must show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import Farm
from tests.e2e.test_nested_render import close_to, frame_rgb, pixel
from tests.unit.test_script_host_support import HOSTILE_VALUES, NODE, build_scene

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(NODE is None, reason="node is not installed")]

FINISHED = common_pb2.JOB_STATE_FINISHED
FAILED = common_pb2.JOB_STATE_FAILED
BLUE, WHITE, MAGENTA = (0, 0, 255), (255, 255, 255), (255, 0, 255)
RUNNERS = ("patched", "afterfx")

# Finds Main by name, sets the Title text, colour and size, and moves Mover.
BRAND_SCRIPT = """\
var main = null;
for (var i = 1; i <= app.project.numItems; i++) {
  var item = app.project.item(i);
  if (item instanceof CompItem && item.name === 'Main') { main = item; }
}
var title = main.layer('Title');
var document = title.property('Source Text').value;
document.text = NX.get('title');
document.fillColor = NX.get('color');
document.fontSize = 30;
title.property('Source Text').setValue(document);
main.layer('Mover').property('Transform').property('Position').setValue(NX.get('position'));
"""
BRAND_PARAMETERS = {"title": "MMMM", "color": [1, 0, 1], "position": [100, 80]}

# Writes every parameter it gets, as JSON, to the file that the parameter `out` names.
RECORD_SCRIPT = """\
var values = [];
for (var k = 0; k < NX.get('count'); k++) { values.push(NX.get('value' + k)); }
var file = new File(NX.get('out'));
file.encoding = 'UTF-8';
file.open('w');
file.write(JSON.stringify({values: values, keys: NX.get('keys')}));
file.close();
"""

THROW_SCRIPT = "var ready = true;\nthrow new Error('brand colour ' + NX.get('why'));\n"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    build_scene(folder / "scene.aep")
    for name, text in [
        ("brand.jsx", BRAND_SCRIPT),
        ("record.jsx", RECORD_SCRIPT),
        ("throw.jsx", THROW_SCRIPT),
    ]:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    running = Farm(tmp_path_factory.mktemp("farm"))
    try:
        running.start_controller()
        running.start_agent("agent-patched", extra=["--pool", "patched"])
        running.start_agent(
            "agent-afterfx", extra=["--pool", "afterfx", "--script-runner", "afterfx"]
        )
        running.wait_for_agents(2)
        yield running
    finally:
        running.stop()


def nexrender_job(media: Path, runner: str, script: str, parameters: dict[str, Any]) -> dict:
    """Return a nexrender-shape job of frames 0 to 4 of Main with one script asset."""
    return {
        "uid": f"script-{runner}",
        "tags": runner,
        "template": {
            "src": (media / "scene.aep").as_uri(),
            "composition": "Main",
            "frameStart": 0,
            "frameEnd": 4,
            "outputModule": "H.264 - Match Render Settings - 15 Mbps",
            "outputExt": "mp4",
            "settingsTemplate": "Best Settings",
        },
        "assets": [
            {
                "type": "script",
                "src": (media / script).as_uri(),
                "keyword": "NX",
                "parameters": [{"key": key, "value": value} for key, value in parameters.items()],
            }
        ],
        "actions": {},
    }


def cloud_job(media: Path, runner: str, code: str, parameters: dict[str, Any]) -> dict:
    """Return a Nexrender Cloud job of frames 0 to 4 of Main with one function asset."""
    return {
        "tags": [runner],
        "template": {"src": (media / "scene.aep").as_uri(), "composition": "Main"},
        "settings": {"frames": [0, 4]},
        "assets": [{"type": "function", "code": code, "keyword": "NX", "parameters": parameters}],
    }


def render(farm: Farm, job: dict[str, Any], tmp_path: Path, runner: str) -> bytes:
    """Submit job, check that the agent of runner rendered it, and return its first frame."""
    done = farm.wait_final(farm.submit(job).job.id)
    assert done.state == FINISHED, f"{done.error}\n{farm.log(f'agent-{runner}')}"
    assert {t.agent_id for t in done.history if t.agent_id} == {f"agent-{runner}"}
    video = farm.download(done.outputs[0], tmp_path / done.outputs[0].name)
    return frame_rgb(video, 160, 90, at_seconds=0.04)


def check_brand_frame(frame: bytes) -> None:
    assert close_to(pixel(frame, 160, 100, 80), WHITE), "Mover at its new position"
    assert close_to(pixel(frame, 160, 100, 45), BLUE), "Mover left its old position"
    title_band = [pixel(frame, 160, x, y) for x in range(0, 100) for y in range(0, 35)]
    assert any(close_to(seen, MAGENTA, 60) for seen in title_band), "Title drawn in magenta"
    assert not any(close_to(seen, WHITE, 30) for seen in title_band), "Title no longer white"


@pytest.mark.parametrize("runner", RUNNERS)
def test_script_asset_changes_show(farm: Farm, media: Path, tmp_path: Path, runner: str) -> None:
    job = nexrender_job(media, runner, "brand.jsx", BRAND_PARAMETERS)

    check_brand_frame(render(farm, job, tmp_path, runner))


@pytest.mark.parametrize("runner", RUNNERS)
def test_function_asset_changes_show(farm: Farm, media: Path, tmp_path: Path, runner: str) -> None:
    job = cloud_job(media, runner, BRAND_SCRIPT, BRAND_PARAMETERS)

    check_brand_frame(render(farm, job, tmp_path, runner))


@pytest.mark.parametrize("runner", RUNNERS)
def test_throwing_script_fails_job(farm: Farm, media: Path, runner: str) -> None:
    job = nexrender_job(media, runner, "throw.jsx", {"why": HOSTILE_VALUES[1]})
    done = farm.wait_final(farm.submit(job).job.id)

    assert done.state == FAILED
    assert done.error.code == "script_error"
    assert f"Error: brand colour {HOSTILE_VALUES[1]} (line 2 of throw.jsx)" in done.error.message
    assert not done.error.retryable


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("shape", ["script", "function"])
def test_hostile_parameters_arrive_intact(
    farm: Farm, media: Path, tmp_path: Path, runner: str, shape: str
) -> None:
    out = tmp_path / 'it\'s "recorded" ü 🎬.json'
    parameters: dict[str, Any] = {f"value{i}": value for i, value in enumerate(HOSTILE_VALUES)}
    parameters |= {"count": len(HOSTILE_VALUES), "out": str(out), "keys": HOSTILE_VALUES[3:]}
    if shape == "script":
        job = nexrender_job(media, runner, "record.jsx", parameters)
    else:
        job = cloud_job(media, runner, RECORD_SCRIPT, parameters)
    done = farm.wait_final(farm.submit(job).job.id)

    assert done.state == FINISHED, f"{done.error}\n{farm.log(f'agent-{runner}')}"
    recorded = json.loads(out.read_bytes().decode("utf-8"))
    assert recorded == {"values": HOSTILE_VALUES, "keys": HOSTILE_VALUES[3:]}


def test_function_asset_rejected_at_submit(farm: Farm, media: Path) -> None:
    before = len(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs)
    with pytest.raises(grpc.RpcError) as caught:
        farm.submit(cloud_job(media, "patched", "", {}))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "$.assets[0].code" in caught.value.details()
    assert "empty" in caught.value.details()
    assert len(farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs) == before
