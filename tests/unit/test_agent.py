"""The render pipeline of one lease, run by a real agent against the simulator."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import py_aep
import pytest
from test_agent_support import (
    RunningAgent,
    StandInController,
    lease_result,
    make_clip,
    make_project,
    render_lease,
    run_farm,
)

from agent.outbox import Outbox
from protos import agent_pb2, common_pb2


def test_agent_renders_lease_against_simulator(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        hello = standin.hellos[0]
        assert hello.agent_id == "test-agent"
        assert {e.name: e.version for e in hello.engines} == {
            "ae2025": "25.6x101",
            "ae2026": "26.0x55",
        }
        assert all(e.available for e in hello.engines)
        assert hello.slots == 1
        assert list(hello.pools) == ["gpu"]

        lease = render_lease(make_project(tmp_path / "in" / "template.aep"))
        result = await lease_result(standin, lease)
        assert result.error.message == ""
        assert result.success
        assert result.lease_id == lease.lease_id
        assert result.job_id == lease.job_id
        assert result.attempt == 1
        assert [o.name for o in result.outputs] == ["result.mp4"]
        output = result.outputs[0]
        stored = (tmp_path / "artifacts" / output.sha256).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == output.sha256
        assert output.size == len(stored)
        assert output.url == f"artifact://{output.sha256}/result.mp4"
        media = json.loads(result.media_json)
        assert media["frames"] == 10
        assert media["width"] == 160
        assert media["height"] == 90
        assert result.render_seconds > 0
        assert result.bytes_fetched > 0

        progress = [p for p in standin.of_kind("progress") if p.lease_id == lease.lease_id]
        stages = [p.stage for p in progress]
        for stage in (
            common_pb2.STAGE_DOWNLOAD,
            common_pb2.STAGE_PREPARE,
            common_pb2.STAGE_RENDER,
            common_pb2.STAGE_UPLOAD,
        ):
            assert stage in stages
        assert common_pb2.STAGE_ENCODE not in stages
        render_progress = [p for p in progress if p.stage == common_pb2.STAGE_RENDER]
        assert render_progress[-1].frames_total == 10
        assert render_progress[-1].frames_done == 10

        chunks = standin.of_kind("log")
        assert chunks, "the agent sent no log"
        offset = 0
        for chunk in chunks:
            assert chunk.offset == offset
            offset += len(chunk.data)
        assert b"aerender version 26.0x55" in b"".join(chunk.data for chunk in chunks)

        outbox = Outbox(tmp_path / "work" / "outbox")
        await standin.wait_for(lambda: not outbox.pending())
        assert not list((tmp_path / "work" / "leases").iterdir())

    run_farm(tmp_path, scenario, pools=("gpu",))


def test_image_sequence_encoded_with_ffmpeg(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(
            make_project(tmp_path / "template.aep"),
            codec="image_png",
            has_frame_range=True,
            frame_start=2,
            frame_end=5,
        )
        result = await lease_result(standin, lease)
        assert result.error.message == ""
        assert [o.name for o in result.outputs] == [
            "result_00002.png",
            "result_00003.png",
            "result_00004.png",
            "result_00005.png",
        ]
        assert json.loads(result.media_json)["frames"] == 4
        stages = [p.stage for p in standin.of_kind("progress")]
        assert common_pb2.STAGE_ENCODE in stages

    run_farm(tmp_path, scenario)


def test_cbr_codec_encoded_with_ffmpeg(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep"), codec="video_h264_cbr_1mbps")
        result = await lease_result(standin, lease)
        assert result.error.message == ""
        assert [o.name for o in result.outputs] == ["result.mp4"]
        assert json.loads(result.media_json)["frames"] == 10

    run_farm(tmp_path, scenario)


def test_artifact_template_and_cache(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep")
        sha256 = standin.store(template.read_bytes())
        results = []
        for _ in range(2):
            lease = render_lease(template)
            lease.task.template_src = f"artifact://{sha256}/intro%20v1.aep"
            results.append(await lease_result(standin, lease))
        assert all(r.success for r in results), [r.error.message for r in results]
        size = template.stat().st_size
        assert results[0].bytes_from_cache == 0
        assert results[1].bytes_from_cache == size

    run_farm(tmp_path, scenario)


def test_missing_artifact_fails_fetch(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep"))
        lease.task.template_src = f"artifact://{'c' * 64}/t.aep"
        result = await lease_result(standin, lease)
        assert not result.success
        assert result.error.code == "fetch_failed"
        assert "c" * 64 in result.error.message
        assert not result.error.retryable

    run_farm(tmp_path, scenario)


def test_patched_project_returned_for_aep(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep"), output_type="aep")
        result = await lease_result(standin, lease)
        assert result.error.message == ""
        assert [o.name for o in result.outputs] == ["project.aep"]
        stored = tmp_path / "artifacts" / result.outputs[0].sha256
        patched = stored.with_suffix(".aep")
        patched.write_bytes(stored.read_bytes())
        comp: Any = py_aep.parse(patched).project.compositions[0]
        assert comp.layer("Title").text.source_text.value.text == "Hello"
        assert comp.layer("Slot").source.name == "red.png"

    run_farm(tmp_path, scenario)


@pytest.mark.parametrize(
    ("comment", "settings", "code", "retryable"),
    [
        ("aefarm-sim: exit_no_output", {}, "silent_exit", True),
        ("aefarm-sim: missing_fonts", {}, "missing_fonts", False),
        ("aefarm-sim: hang_launch", {"hang_timeout_seconds": 1}, "render_hang", True),
        ("aefarm-sim: crash", {}, "render_error", True),
        ("aefarm-sim: missing_footage", {}, "missing_footage", False),
    ],
)
def test_render_failures_classified(
    tmp_path: Path, comment: str, settings: dict[str, Any], code: str, retryable: bool
) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep", comment=comment), **settings)
        result = await lease_result(standin, lease)
        assert not result.success
        assert result.error.code == code
        assert result.error.retryable == retryable
        assert result.error.message
        failed = [p for p in (tmp_path / "work" / "leases").iterdir()]
        assert len(failed) == 1
        assert (failed[0] / "aerender.log").stat().st_size > 0

    run_farm(tmp_path, scenario)


def test_missing_fonts_allowed(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep", comment="aefarm-sim: missing_fonts")
        result = await lease_result(standin, render_lease(template, allow_missing_fonts=True))
        assert result.error.message == ""
        assert result.success

    run_farm(tmp_path, scenario)


def test_missing_layer_and_composition(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        template = make_project(tmp_path / "template.aep")
        lease = render_lease(template)
        lease.task.assets[0].footage.layer_name = "Logo"
        result = await lease_result(standin, lease)
        assert result.error.code == "layer_not_found"
        assert "'Logo'" in result.error.message

        lease = render_lease(template)
        lease.task.composition = "Outro"
        result = await lease_result(standin, lease)
        assert result.error.code == "comp_not_found"
        assert "'Main'" in result.error.message

    run_farm(tmp_path, scenario)


def test_script_asset_without_runner(tmp_path: Path) -> None:
    script = tmp_path / "setup.jsx"
    script.write_text("app.project.item(1).comment = NX.get('x');\n", encoding="utf-8")

    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep"))
        lease.task.assets.append(
            common_pb2.Asset(script=common_pb2.ScriptAsset(src=script.as_uri()))
        )
        result = await lease_result(standin, lease)
        assert result.error.code == "script_runner_missing"
        assert "setup.jsx" in result.error.message

    run_farm(tmp_path, scenario)


def test_unknown_engine(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        lease = render_lease(make_project(tmp_path / "template.aep"))
        lease.task.settings.engine = "ae2019"
        result = await lease_result(standin, lease)
        assert result.error.code == "engine_unavailable"
        assert "ae2026" in result.error.message
        assert result.error.retryable

    run_farm(tmp_path, scenario)


def test_join_concatenates_clips(tmp_path: Path) -> None:
    async def scenario(standin: StandInController, agent: RunningAgent) -> None:
        inputs = []
        for index, (size, frames) in enumerate([("160x90", 5), ("320x180", 7)]):
            clip = tmp_path / f"clip{index}.mp4"
            make_clip(clip, size, frames)
            inputs.append(
                common_pb2.JoinInput(src=f"artifact://{standin.store(clip.read_bytes())}/c.mp4")
            )
        task = common_pb2.RenderTask(
            kind="join",
            join_inputs=inputs,
            settings=common_pb2.RenderSettings(engine="ae2026"),
        )
        lease = agent_pb2.Lease(lease_id=uuid.uuid4().hex, job_id="join1", attempt=1, task=task)
        result = await lease_result(standin, lease)
        assert result.error.message == ""
        media = json.loads(result.media_json)
        assert media["frames"] == 12
        assert media["width"] == 160

    run_farm(tmp_path, scenario)
