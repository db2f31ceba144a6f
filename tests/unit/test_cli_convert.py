"""The CLI's conversion of controller messages into the dicts that --json prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from controller.cli import convert
from protos import agent_pb2, common_pb2, jobs_pb2

SHA = "ab" * 32


def timestamp(text: str) -> timestamp_pb2.Timestamp:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def finished_child() -> jobs_pb2.Job:
    return jobs_pb2.Job(
        id="child1",
        state=common_pb2.JOB_STATE_FINISHED,
        progress=100.0,
        parent_id="root1",
        attempts=2,
        outputs=[
            common_pb2.Output(
                url=f"artifact://{SHA}/clip.mp4", size=2048, sha256=SHA, name="clip.mp4"
            )
        ],
        history=[
            common_pb2.Transition(
                state=common_pb2.JOB_STATE_QUEUED,
                at=timestamp("2026-03-01T09:30:00.250"),
                cause="submitted",
            ),
            common_pb2.Transition(
                state=common_pb2.JOB_STATE_RENDERING,
                stage=common_pb2.STAGE_RENDER,
                at=timestamp("2026-03-01T09:30:05"),
                cause="render started",
                attempt=2,
                agent_id="agent-1",
            ),
        ],
        kind="render",
        layer_name="Clip A",
        priority=5,
        composition="clip",
        engine="ae2026",
        agent_id="agent-1",
        created_at=timestamp("2026-03-01T09:30:00"),
        updated_at=timestamp("2026-03-01T09:31:00"),
        spec_json=json.dumps({"kind": "render"}),
        frames_done=24,
        frames_total=24,
    )


def test_state_names_are_lower_case_without_prefix() -> None:
    assert convert.state_name(common_pb2.JOB_STATE_PENDING) == "pending"
    assert convert.state_name(common_pb2.JOB_STATE_RENDERING) == "rendering"
    assert convert.state_name(common_pb2.JOB_STATE_CANCELLED) == "cancelled"
    assert convert.state_name(99) == "job_state_99"


def test_state_value_inverts_state_name() -> None:
    for name in convert.STATE_NAMES:
        assert convert.state_name(convert.state_value(name)) == name
    assert convert.STATE_NAMES[0] == "pending"
    assert "unspecified" not in convert.STATE_NAMES


def test_stage_name_is_none_when_unspecified() -> None:
    assert convert.stage_name(common_pb2.STAGE_UNSPECIFIED) is None
    assert convert.stage_name(common_pb2.STAGE_UPLOAD) == "upload"


def test_timestamp_is_iso_utc_with_z() -> None:
    assert convert.timestamp_to_iso(timestamp("2026-03-01T09:30:00.250")) == (
        "2026-03-01T09:30:00.250Z"
    )
    assert convert.timestamp_to_iso(timestamp_pb2.Timestamp()) is None


def test_job_dict_has_every_field() -> None:
    job = convert.job_to_dict(finished_child())

    assert job["id"] == "child1"
    assert job["state"] == "finished"
    assert job["stage"] is None
    assert job["progress"] == 100.0
    assert job["parent"] == "root1"
    assert job["children"] == []
    assert job["attempts"] == 2
    assert job["outputs"] == [
        {"url": f"artifact://{SHA}/clip.mp4", "size": 2048, "sha256": SHA, "name": "clip.mp4"}
    ]
    assert job["error"] is None
    assert job["kind"] == "render"
    assert job["layer_name"] == "Clip A"
    assert job["priority"] == 5
    assert job["composition"] == "clip"
    assert job["engine"] == "ae2026"
    assert job["agent"] == "agent-1"
    assert job["created_at"] == "2026-03-01T09:30:00.000Z"
    assert job["updated_at"] == "2026-03-01T09:31:00.000Z"
    assert job["frames_done"] == 24
    assert job["frames_total"] == 24
    assert job["spec"] == {"kind": "render"}


def test_job_dict_history() -> None:
    history = convert.job_to_dict(finished_child())["history"]

    assert history[0] == {
        "state": "queued",
        "stage": None,
        "at": "2026-03-01T09:30:00.250Z",
        "cause": "submitted",
        "attempt": None,
        "agent": None,
    }
    assert history[1]["state"] == "rendering"
    assert history[1]["stage"] == "render"
    assert history[1]["attempt"] == 2
    assert history[1]["agent"] == "agent-1"


def test_job_dict_unset_fields_are_none() -> None:
    job = convert.job_to_dict(
        jobs_pb2.Job(id="root1", state=common_pb2.JOB_STATE_QUEUED, progress=-1, kind="render")
    )

    assert job["progress"] is None
    assert job["parent"] is None
    assert job["agent"] is None
    assert job["layer_name"] is None
    assert job["created_at"] is None
    assert job["frames_total"] is None
    assert job["spec"] is None
    assert job["error"] is None


def test_job_dict_error() -> None:
    job = jobs_pb2.Job(
        id="root1",
        state=common_pb2.JOB_STATE_FAILED,
        error=common_pb2.JobError(code="comp_not_found", message="no comp main", retryable=False),
    )

    assert convert.job_to_dict(job)["error"] == {
        "code": "comp_not_found",
        "message": "no comp main",
        "retryable": False,
    }


def test_job_dict_is_json_serializable() -> None:
    job = convert.job_to_dict(finished_child())

    assert json.loads(json.dumps(job)) == job


def test_job_dict_keeps_invalid_spec() -> None:
    job = convert.job_to_dict(jobs_pb2.Job(id="root1", spec_json="{not json"))

    assert job["spec"] == "{not json"


def test_submit_response_dict_lists_children() -> None:
    response = jobs_pb2.SubmitResponse(
        job=jobs_pb2.Job(id="root1", child_ids=["child1"]), children=[finished_child()]
    )

    submitted = convert.submit_response_to_dict(response)

    assert submitted["job"]["id"] == "root1"
    assert submitted["job"]["children"] == ["child1"]
    assert [child["id"] for child in submitted["children"]] == ["child1"]


def test_event_dict() -> None:
    event = jobs_pb2.JobEvent(sequence=7, job=finished_child(), tree_progress=62.5)

    converted = convert.event_to_dict(event)

    assert converted["sequence"] == 7
    assert converted["tree_progress"] == 62.5
    assert converted["job"]["id"] == "child1"


def test_agent_dict() -> None:
    agent = jobs_pb2.AgentInfo(
        agent_id="agent-1",
        host="render01",
        version="0.1.0",
        engines=[
            agent_pb2.Engine(name="ae2026", version="26.0x55", path="/sim", available=True),
            agent_pb2.Engine(name="ae2025", available=False, unavailable_reason="not installed"),
        ],
        slots=2,
        pools=["gpu"],
        state="connected",
        running=[agent_pb2.RunningLease(lease_id="lease1", job_id="child1", attempt=1)],
        last_seen=timestamp("2026-03-01T09:31:00"),
    )

    converted = convert.agent_to_dict(agent)

    assert converted["id"] == "agent-1"
    assert converted["host"] == "render01"
    assert converted["state"] == "connected"
    assert converted["engines"][0]["version"] == "26.0x55"
    assert converted["engines"][1]["available"] is False
    assert converted["engines"][1]["unavailable_reason"] == "not installed"
    assert converted["slots"] == 2
    assert converted["running"] == [{"lease_id": "lease1", "job_id": "child1", "attempt": 1}]
    assert converted["pools"] == ["gpu"]
    assert converted["last_seen"] == "2026-03-01T09:31:00.000Z"
    assert converted["connected_at"] is None
