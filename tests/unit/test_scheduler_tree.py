"""The scheduler with job trees: nested jobs, join jobs, and failure and cancel propagation."""

from __future__ import annotations

from test_scheduler import Harness, causes, nested_spec, of_type, output, render_spec

from controller.jobspec.models import JobSpec, JoinInput, NestedJob, RenderSettings
from controller.scheduler_types import (
    CancelRequested,
    GrantLease,
    JobErrorInfo,
    JobState,
    SendCancel,
    StoreTransition,
)
from controller.tasks import build_task


def test_nested_parent_waits_then_gets_child_outputs() -> None:
    farm = Harness()
    farm.connect("render-1", slots=2)
    (parent, left, right), effects = farm.submit(
        nested_spec([("Left Panel", render_spec()), ("Right Panel", render_spec())])
    )
    assert parent.state is JobState.PENDING
    assert parent.child_ids == [left.id, right.id]
    grants = {g.job_id: g for g in of_type(effects, GrantLease)}
    assert set(grants) == {left.id, right.id}

    farm.result(grants[right.id], outputs=[output("right.mp4")])
    assert parent.state is JobState.PENDING
    effects = farm.result(grants[left.id], outputs=[output("left.mp4"), output("left.wav")])
    assert "children finished" in causes(effects, parent.id)
    assert [g.job_id for g in of_type(effects, GrantLease)] == [parent.id]

    task = build_task(parent)
    footage = [asset.footage for asset in task.assets if asset.HasField("footage")]
    assert [(f.type, f.src, f.layer_name) for f in footage] == [
        ("video", output("left.mp4").url, "Left Panel"),
        ("video", output("right.mp4").url, "Right Panel"),
    ]
    assert footage[0].sha256 == output("left.mp4").sha256


def test_nested_composition_reaches_footage() -> None:
    farm = Harness()
    farm.connect("render-1")
    spec = render_spec(
        children=[NestedJob(layer_name="Logo", composition="outer->inner", job=render_spec())]
    )
    (parent, _), effects = farm.submit(spec)
    farm.result(of_type(effects, GrantLease)[0], outputs=[output("logo.mov")])
    footage = build_task(parent).assets[-1].footage
    assert (footage.layer_name, footage.composition) == ("Logo", "outer->inner")


def test_children_of_children_promote_in_turn() -> None:
    farm = Harness()
    farm.connect("render-1")
    spec = nested_spec([("Middle", nested_spec([("Bottom", render_spec())]))])
    (root, middle, bottom), effects = farm.submit(spec)
    assert (root.state, middle.state) == (JobState.PENDING, JobState.PENDING)
    assert bottom.state is JobState.LEASED
    assert middle.parent_id == root.id
    assert bottom.root_id == root.id

    effects = farm.result(of_type(effects, GrantLease)[0])
    assert root.state is JobState.PENDING
    assert [g.job_id for g in of_type(effects, GrantLease)] == [middle.id]
    assert build_task(middle).assets[-1].footage.layer_name == "Bottom"

    effects = farm.result(of_type(effects, GrantLease)[0])
    assert [g.job_id for g in of_type(effects, GrantLease)] == [root.id]
    assert build_task(root).assets[-1].footage.src == output(f"{middle.id}.mp4").url


def test_child_failure_fails_parent_and_cancels_siblings() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.connect("render-2")
    spec = nested_spec([("A", render_spec()), ("B", render_spec()), ("C", render_spec())])
    (parent, first, second, third), effects = farm.submit(spec)
    grants = {g.job_id: g for g in of_type(effects, GrantLease)}
    assert set(grants) == {first.id, second.id}
    assert third.state is JobState.QUEUED

    error = JobErrorInfo("comp_not_found", "no composition named main")
    effects = farm.result(grants[first.id], success=False, error=error)
    assert first.state is JobState.FAILED
    assert parent.state is JobState.FAILED
    assert parent.error is not None
    assert parent.error.code == "child_failed"
    assert first.id in parent.error.message
    assert "comp_not_found" in parent.error.message
    assert third.state is JobState.CANCELLED
    assert [c.lease_id for c in of_type(effects, SendCancel)] == [grants[second.id].lease_id]
    assert second.cancel_reason == f"sibling job {first.id} failed"
    # The freed slot must not go to a job of the failed tree.
    assert of_type(effects, GrantLease) == []

    farm.result(grants[second.id], success=False, error=JobErrorInfo("cancelled", "stopped"))
    assert second.state is JobState.CANCELLED
    assert parent.id not in farm.scheduler.jobs


def test_child_failure_reaches_grandparent() -> None:
    farm = Harness()
    farm.connect("render-1")
    spec = nested_spec(
        [("Middle", nested_spec([("Bottom", render_spec())])), ("Side", render_spec())]
    )
    (root, middle, bottom, side), effects = farm.submit(spec)
    grant = next(g for g in of_type(effects, GrantLease) if g.job_id == bottom.id)

    farm.result(grant, success=False, error=JobErrorInfo("render_error", "aerender exit 9"))
    assert middle.state is JobState.FAILED
    assert root.state is JobState.FAILED
    assert root.error is not None
    assert middle.id in root.error.message
    assert side.state is JobState.CANCELLED


def test_parent_cancel_cancels_children() -> None:
    farm = Harness()
    farm.connect("render-1")
    (parent, leased, queued), effects = farm.submit(
        nested_spec([("A", render_spec()), ("B", render_spec())])
    )
    grant = of_type(effects, GrantLease)[0]
    assert grant.job_id == leased.id

    effects = farm.handle(CancelRequested(parent.id, "client gave up"))
    assert parent.state is JobState.CANCELLED
    assert queued.state is JobState.CANCELLED
    assert leased.state is JobState.LEASED
    assert [c.lease_id for c in of_type(effects, SendCancel)] == [grant.lease_id]
    assert f"parent job {parent.id} was cancelled" in causes(effects, queued.id)[0]

    farm.result(grant, success=False, error=JobErrorInfo("cancelled", "stopped"))
    assert leased.state is JobState.CANCELLED
    assert parent.id not in farm.scheduler.jobs


def test_child_cancel_cancels_parent_and_siblings() -> None:
    farm = Harness()
    (parent, first, second), _ = farm.submit(
        nested_spec([("A", render_spec()), ("B", render_spec())])
    )
    effects = farm.handle(CancelRequested(first.id, "bad data"))
    assert first.state is JobState.CANCELLED
    assert parent.state is JobState.CANCELLED
    assert second.state is JobState.CANCELLED
    assert f"child job {first.id} was cancelled" in causes(effects, parent.id)[0]


def test_retried_child_keeps_parent_pending() -> None:
    farm = Harness()
    farm.connect("render-1")
    (parent, _), effects = farm.submit(nested_spec([("A", render_spec())]))
    retryable = JobErrorInfo("fetch_failed", "connection reset", retryable=True)
    effects = farm.result(of_type(effects, GrantLease)[0], success=False, error=retryable)
    assert parent.state is JobState.PENDING
    assert [g.attempt for g in of_type(effects, GrantLease)] == [2]


def test_join_waits_for_job_inputs_in_order() -> None:
    farm = Harness()
    farm.connect("render-1", slots=2, engines=["ae2025"])
    join = JobSpec(
        kind="join",
        template=None,
        settings=RenderSettings(codec="video_h264_vbr_15mbps"),
        join_inputs=[
            JoinInput(src="https://media.example/intro.mp4"),
            JoinInput(job=render_spec(engine="ae2025")),
            JoinInput(src="https://media.example/outro.mp4"),
            JoinInput(job=render_spec(engine="ae2025")),
        ],
    )
    (parent, second, fourth), effects = farm.submit(join)
    assert parent.state is JobState.PENDING
    assert (second.input_index, fourth.input_index) == (1, 3)
    grants = {g.job_id: g for g in of_type(effects, GrantLease)}

    farm.result(grants[fourth.id], outputs=[output("fourth.mp4")])
    effects = farm.result(grants[second.id], outputs=[output("second.mp4")])
    # The join needs no After Effects engine, so an ae2025-only agent takes it.
    assert [g.job_id for g in of_type(effects, GrantLease)] == [parent.id]

    task = build_task(parent)
    assert task.kind == "join"
    assert [clip.src for clip in task.join_inputs] == [
        "https://media.example/intro.mp4",
        output("second.mp4").url,
        "https://media.example/outro.mp4",
        output("fourth.mp4").url,
    ]


def join_spec(*inputs: JoinInput) -> JobSpec:
    return JobSpec(
        kind="join", settings=RenderSettings(codec="video_h264_vbr_15mbps"), join_inputs=inputs
    )


def test_join_output_fills_parent_layer() -> None:
    farm = Harness()
    farm.connect("render-1", slots=2)
    join = join_spec(
        JoinInput(job=render_spec()),
        JoinInput(src="https://media.example/bumper.mp4"),
        JoinInput(job=render_spec()),
    )
    (parent, joined, first, third), effects = farm.submit(nested_spec([("Clips", join)]))
    assert (parent.state, joined.state) == (JobState.PENDING, JobState.PENDING)
    assert (joined.kind, joined.layer_name, joined.parent_id) == ("join", "Clips", parent.id)
    assert (first.parent_id, first.input_index, third.input_index) == (joined.id, 0, 2)
    grants = {g.job_id: g for g in of_type(effects, GrantLease)}
    assert set(grants) == {first.id, third.id}

    farm.result(grants[first.id], outputs=[output("first.mp4")])
    effects = farm.result(grants[third.id], outputs=[output("third.mp4")])
    assert parent.state is JobState.PENDING
    [join_grant] = of_type(effects, GrantLease)
    assert join_grant.job_id == joined.id

    effects = farm.result(join_grant, outputs=[output("joined.mp4")])
    assert [g.job_id for g in of_type(effects, GrantLease)] == [parent.id]
    footage = build_task(parent).assets[-1].footage
    assert (footage.type, footage.src, footage.layer_name) == (
        "video",
        output("joined.mp4").url,
        "Clips",
    )


def test_failed_join_input_fails_join_and_parent() -> None:
    farm = Harness()
    farm.connect("render-1", slots=2)
    join = join_spec(JoinInput(src="https://media.example/a.mp4"), JoinInput(job=render_spec()))
    spec = nested_spec([("Clips", join), ("Side", render_spec())])
    (parent, joined, failing, side), effects = farm.submit(spec)
    grant = next(g for g in of_type(effects, GrantLease) if g.job_id == failing.id)

    error = JobErrorInfo("comp_not_found", "no composition named main")
    farm.result(grant, success=False, error=error)

    assert joined.state is JobState.FAILED
    assert joined.error is not None
    assert joined.error.code == "child_failed"
    assert f"child job {failing.id} (join input assets[1]) failed" in joined.error.message
    assert parent.state is JobState.FAILED
    assert parent.error is not None
    assert parent.error.code == "child_failed"
    assert f"child job {joined.id} (layer 'Clips') failed" in parent.error.message
    assert "comp_not_found: no composition named main" in parent.error.message
    # The sibling render holds a lease, so it is asked to cancel.
    assert side.cancel_reason == f"sibling job {joined.id} failed"


def test_cancelled_parent_cancels_join_inputs() -> None:
    farm = Harness()
    farm.connect("render-1")
    join = join_spec(JoinInput(job=render_spec()), JoinInput(job=render_spec()))
    (parent, joined, leased, queued), effects = farm.submit(nested_spec([("Clips", join)]))
    grant = of_type(effects, GrantLease)[0]
    assert grant.job_id == leased.id

    effects = farm.handle(CancelRequested(parent.id, "client gave up"))

    assert (parent.state, joined.state, queued.state) == (JobState.CANCELLED,) * 3
    assert [c.lease_id for c in of_type(effects, SendCancel)] == [grant.lease_id]
    farm.result(grant, success=False, error=JobErrorInfo("cancelled", "stopped"))
    assert leased.state is JobState.CANCELLED
    assert parent.id not in farm.scheduler.jobs


def test_child_priority_at_least_parent() -> None:
    farm = Harness()
    (_, child), _ = farm.submit(
        render_spec(priority=7, children=nested_spec([("A", render_spec())]).children)
    )
    assert child.priority == 7


def test_every_transition_records_attempt_and_agent() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    effects = farm.result(grant)
    finished = [e.transition for e in of_type(effects, StoreTransition) if e.job_id == job.id]
    assert [(t.state, t.attempt, t.agent_id) for t in finished] == [
        (JobState.FINISHED, 1, "render-1")
    ]
