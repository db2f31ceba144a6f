"""The scheduler state machine on its own: dispatch, slots, leases, fencing and expiry.

No network and no disk: the tests feed events with a fake clock and read the effects. Harness is
shared with test_scheduler_tree.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, TypeVar

from controller.jobspec.models import JobSpec, NestedJob, RenderSettings, TemplateRef
from controller.jobtree import build_job_tree
from controller.scheduler import Scheduler
from controller.scheduler_types import (
    AgentConnected,
    AgentDisconnected,
    AgentRecord,
    CancelRequested,
    Effect,
    EngineInfo,
    Event,
    GrantLease,
    HeartbeatReceived,
    JobErrorInfo,
    JobRecord,
    JobsSubmitted,
    JobState,
    LeaseRef,
    LeaseState,
    LogReceived,
    OutputInfo,
    ProgressReported,
    ResultReceived,
    SchedulerConfig,
    SendAck,
    SendCancel,
    SendWelcome,
    Stage,
    StoreAppliedResult,
    StoreTransition,
    Tick,
)

E = TypeVar("E")
LEASE_GRACE = 30.0


def render_spec(engine: str = "ae2026", priority: int = 0, **fields: Any) -> JobSpec:
    return JobSpec(
        template=TemplateRef(src="file:///templates/intro.aep", composition="main"),
        settings=RenderSettings(engine=engine),
        priority=priority,
        **fields,
    )


def output(name: str) -> OutputInfo:
    sha256 = name.encode().hex().ljust(64, "0")[:64]
    return OutputInfo(f"artifact://{sha256}/{name}", 100, sha256, name)


def of_type(effects: Sequence[Effect], kind: type[E]) -> list[E]:
    return [effect for effect in effects if isinstance(effect, kind)]


class Harness:
    """A scheduler with a fake clock, readable lease ids and helpers for common events."""

    def __init__(
        self, max_attempts: int = 3, retry_delay: float = 0.0, quarantine_after: int = 0
    ) -> None:
        self.now = 1000.0
        counter = itertools.count(1)
        config = SchedulerConfig(
            heartbeat_interval=5.0,
            lease_grace=LEASE_GRACE,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            quarantine_after=quarantine_after,
        )
        self.scheduler = Scheduler(config, new_lease_id=lambda: f"lease-{next(counter)}")
        self._job_ids = itertools.count(1)
        self._results = itertools.count(1)

    def handle(self, event: Event) -> list[Effect]:
        return self.scheduler.handle(event, self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def submit(self, spec: JobSpec) -> tuple[list[JobRecord], list[Effect]]:
        tree = build_job_tree(spec, self.now, lambda: f"job-{next(self._job_ids)}")
        self.advance(0.001)
        return list(tree.jobs), self.handle(JobsSubmitted(tree.jobs))

    def connect(
        self,
        agent_id: str,
        engines: Sequence[str] = ("ae2026",),
        slots: int = 1,
        pools: Sequence[str] = (),
        running: Sequence[LeaseRef] = (),
        interrupted: Sequence[LeaseRef] = (),
        unavailable: Sequence[str] = (),
    ) -> list[Effect]:
        engine_infos = tuple(
            EngineInfo(name, "26.0x55", f"/opt/{name}/aerender", True) for name in engines
        ) + tuple(EngineInfo(name, "", "", False, "binary missing") for name in unavailable)
        agent = AgentRecord(
            agent_id=agent_id,
            host=f"{agent_id}.local",
            version="0.1.0",
            engines=engine_infos,
            slots=slots,
            pools=frozenset(pools),
            fonts=(),
            connected=True,
            connected_at=self.now,
            last_seen=self.now,
        )
        return self.handle(AgentConnected(agent, tuple(running), tuple(interrupted)))

    def result(
        self,
        grant: GrantLease,
        success: bool = True,
        error: JobErrorInfo | None = None,
        outputs: Sequence[OutputInfo] | None = None,
        result_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[Effect]:
        if outputs is None:
            outputs = [output(f"{grant.job_id}.mp4")] if success else []
        event = ResultReceived(
            agent_id=agent_id or grant.agent_id,
            result_id=result_id or f"result-{next(self._results)}",
            lease=ref(grant),
            success=success,
            outputs=tuple(outputs),
            error=error,
        )
        return self.handle(event)

    def job(self, job_id: str) -> JobRecord:
        return self.scheduler.jobs[job_id]


def ref(grant: GrantLease) -> LeaseRef:
    return LeaseRef(grant.lease_id, grant.job_id, grant.attempt)


def causes(effects: Sequence[Effect], job_id: str) -> list[str]:
    return [e.transition.cause for e in of_type(effects, StoreTransition) if e.job_id == job_id]


# Dispatch.


def test_submit_dispatches_to_idle_agent() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grants = of_type(effects, GrantLease)
    assert [(g.agent_id, g.job_id, g.attempt) for g in grants] == [("render-1", job.id, 1)]
    assert job.state is JobState.LEASED
    assert job.agent_id == "render-1"
    assert job.lease_id == grants[0].lease_id


def test_connect_takes_queued_job() -> None:
    farm = Harness()
    (job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []
    assert job.state is JobState.QUEUED

    effects = farm.connect("render-1")
    assert [g.job_id for g in of_type(effects, GrantLease)] == [job.id]
    assert effects.index(of_type(effects, SendWelcome)[0]) < effects.index(
        of_type(effects, GrantLease)[0]
    )


def test_engine_mismatch_waits_for_matching_agent() -> None:
    farm = Harness()
    (job,), _ = farm.submit(render_spec(engine="ae2025"))
    effects = farm.connect("new-box", engines=["ae2026"], unavailable=["ae2025"])
    assert of_type(effects, GrantLease) == []
    assert job.state is JobState.QUEUED

    effects = farm.connect("old-box", engines=["ae2025"])
    assert [g.agent_id for g in of_type(effects, GrantLease)] == ["old-box"]


def test_pools_must_be_covered_by_agent() -> None:
    farm = Harness()
    farm.submit(render_spec(pools=["gpu", "fast"]))
    assert of_type(farm.connect("plain", pools=["gpu"]), GrantLease) == []
    grants = of_type(farm.connect("big", pools=["fast", "gpu", "other"]), GrantLease)
    assert [g.agent_id for g in grants] == ["big"]


def test_slots_limit_concurrent_leases() -> None:
    farm = Harness()
    jobs = [farm.submit(render_spec())[0][0] for _ in range(3)]
    grants = of_type(farm.connect("render-1", slots=2), GrantLease)
    assert [g.job_id for g in grants] == [jobs[0].id, jobs[1].id]
    assert jobs[2].state is JobState.QUEUED

    effects = farm.result(grants[0])
    assert [g.job_id for g in of_type(effects, GrantLease)] == [jobs[2].id]


def test_queue_order_priority_then_age() -> None:
    farm = Harness()
    low = farm.submit(render_spec(priority=0))[0][0]
    first_high = farm.submit(render_spec(priority=5))[0][0]
    second_high = farm.submit(render_spec(priority=5))[0][0]
    order = []
    grant = of_type(farm.connect("render-1"), GrantLease)[0]
    for _ in range(3):
        order.append(grant.job_id)
        next_grants = of_type(farm.result(grant), GrantLease)
        if not next_grants:
            break
        grant = next_grants[0]
    assert order == [first_high.id, second_high.id, low.id]


def test_agent_with_most_free_slots_wins() -> None:
    farm = Harness()
    farm.connect("small", slots=1)
    farm.connect("large", slots=4)
    _, effects = farm.submit(render_spec())
    assert [g.agent_id for g in of_type(effects, GrantLease)] == ["large"]


# Progress, logs and fencing.


def test_progress_moves_leased_to_rendering() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]

    effects = farm.handle(ProgressReported("render-1", ref(grant), Stage.DOWNLOAD, 0.0))
    assert (job.state, job.stage) == (JobState.RENDERING, Stage.DOWNLOAD)
    assert causes(effects, job.id) == ["stage download"]

    effects = farm.handle(ProgressReported("render-1", ref(grant), Stage.RENDER, 40.0, 12, 30))
    assert job.stage is Stage.RENDER
    assert (job.progress, job.frames_done, job.frames_total) == (40.0, 12, 30)
    effects = farm.handle(ProgressReported("render-1", ref(grant), Stage.RENDER, 50.0, 15, 30))
    assert causes(effects, job.id) == []
    assert job.progress == 50.0


def test_stale_progress_and_log_are_cancelled() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    stale = LeaseRef(grant.lease_id, grant.job_id, grant.attempt + 1)

    effects = farm.handle(ProgressReported("render-1", stale, Stage.RENDER, 90.0))
    assert [c.lease_id for c in of_type(effects, SendCancel)] == [grant.lease_id]
    assert (job.state, job.progress) == (JobState.LEASED, 0.0)

    effects = farm.handle(LogReceived("intruder", ref(grant), 0, b"aerender version 26"))
    cancels = of_type(effects, SendCancel)
    assert [c.agent_id for c in cancels] == ["intruder"]
    assert "belongs to agent render-1" in cancels[0].reason


def test_result_finishes_job_and_acks() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    result = output("intro.mp4")

    effects = farm.result(grant, outputs=[result], result_id="r-1")
    acks = of_type(effects, SendAck)
    assert [(a.result_id, a.accepted) for a in acks] == [("r-1", True)]
    assert [r.result_id for r in of_type(effects, StoreAppliedResult)] == ["r-1"]
    assert job.state is JobState.FINISHED
    assert job.outputs == [result]
    assert job.progress == 100.0
    # A finished tree leaves the scheduler; the store keeps it.
    assert job.id not in farm.scheduler.jobs


def test_success_without_uploaded_output_is_retried() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    event = ResultReceived(
        "render-1", "r-1", ref(grant), True, (output("a.mp4"),), None, ("artifact://x/a.mp4",)
    )
    effects = farm.handle(event)
    assert of_type(effects, SendAck)[0].accepted
    assert "output_missing" in causes(effects, job.id)[0]
    assert [g.attempt for g in of_type(effects, GrantLease)] == [2]


def test_retryable_failure_requeues_until_max_attempts() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    error = JobErrorInfo("fetch_failed", "template download timed out", retryable=True)
    for attempt in (1, 2, 3):
        grant = of_type(effects, GrantLease)[0]
        assert grant.attempt == attempt
        effects = farm.result(grant, success=False, error=error)
    assert job.state is JobState.FAILED
    assert job.error == error
    assert job.attempts == 3
    assert "no attempts left of 3" in causes(effects, job.id)[-1]


def test_permanent_failure_fails_at_once() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    error = JobErrorInfo("comp_not_found", "no composition named main", retryable=False)
    effects = farm.result(of_type(effects, GrantLease)[0], success=False, error=error)
    assert job.state is JobState.FAILED
    assert job.error == error
    assert of_type(effects, GrantLease) == []


def test_stale_result_rejected_after_requeue() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    first = of_type(effects, GrantLease)[0]

    farm.advance(LEASE_GRACE + 1)
    farm.handle(Tick())
    assert job.state is JobState.QUEUED
    second = of_type(farm.connect("render-2"), GrantLease)[0]
    assert second.attempt == 2

    effects = farm.result(first)
    acks = of_type(effects, SendAck)
    assert [(a.accepted, a.lease.lease_id) for a in acks] == [(False, first.lease_id)]
    assert "expired" in acks[0].reason
    assert [c.lease_id for c in of_type(effects, SendCancel)] == [first.lease_id]
    assert of_type(effects, StoreAppliedResult) == []
    assert (job.state, job.lease_id, job.attempts) == (JobState.LEASED, second.lease_id, 2)


def test_resent_result_applied_once() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.connect("render-2")
    children = [(name, render_spec()) for name in ("left", "right")]
    _, effects = farm.submit(nested_spec(children))
    grant = of_type(effects, GrantLease)[0]

    first = farm.result(grant, result_id="r-1")
    again = farm.result(grant, result_id="r-1")
    assert len(of_type(first, StoreAppliedResult)) == 1
    assert of_type(again, StoreAppliedResult) == []
    assert causes(again, grant.job_id) == []
    assert [(a.result_id, a.accepted) for a in of_type(again, SendAck)] == [("r-1", True)]
    assert of_type(again, SendCancel) == []
    assert farm.job(grant.job_id).state is JobState.FINISHED


def nested_spec(children: list[tuple[str, JobSpec]]) -> JobSpec:
    return render_spec(children=[NestedJob(layer_name=layer, job=spec) for layer, spec in children])


# Lease expiry, heartbeats and reconnects.


def test_lease_expiry_requeues_with_next_attempt() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    first = of_type(effects, GrantLease)[0]

    farm.advance(LEASE_GRACE - 1)
    farm.handle(Tick())
    assert job.state is JobState.LEASED

    farm.advance(2)
    effects = farm.handle(Tick())
    assert job.state is JobState.QUEUED
    assert "lease expired" in causes(effects, job.id)[0]
    assert farm.scheduler.leases[first.lease_id].state is LeaseState.EXPIRED
    # render-1 sent no heartbeat for the whole grace, so it gets no new lease.
    assert of_type(effects, GrantLease) == []

    grants = of_type(farm.connect("render-2"), GrantLease)
    assert [(g.agent_id, g.attempt) for g in grants] == [("render-2", 2)]


def test_heartbeat_listing_lease_renews_it() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    for _ in range(4):
        farm.advance(LEASE_GRACE - 5)
        farm.handle(HeartbeatReceived("render-1", (ref(grant),)))
        farm.handle(Tick())
    assert job.state is JobState.LEASED

    # A heartbeat that no longer lists the lease leaves it to expire.
    farm.advance(LEASE_GRACE - 5)
    farm.handle(HeartbeatReceived("render-1", ()))
    farm.advance(10)
    effects = farm.handle(Tick())
    assert farm.scheduler.leases[grant.lease_id].state is LeaseState.EXPIRED
    assert [(g.agent_id, g.attempt) for g in of_type(effects, GrantLease)] == [("render-1", 2)]


def test_heartbeat_cancels_unknown_lease() -> None:
    farm = Harness()
    farm.connect("render-1")
    stray = LeaseRef("lease-from-elsewhere", "job-x", 1)
    effects = farm.handle(HeartbeatReceived("render-1", (stray,)))
    assert [(c.lease_id, c.agent_id) for c in of_type(effects, SendCancel)] == [
        ("lease-from-elsewhere", "render-1")
    ]


def test_reconnect_readopts_current_lease() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    farm.handle(AgentDisconnected("render-1"))
    farm.advance(LEASE_GRACE - 1)

    stale = LeaseRef("lease-old", job.id, 7)
    effects = farm.connect("render-1", running=[ref(grant), stale])
    welcome = of_type(effects, SendWelcome)[0]
    assert welcome.stale_leases == (stale,)
    assert of_type(effects, GrantLease) == []
    assert (job.state, job.lease_id) == (JobState.LEASED, grant.lease_id)

    # Re-adoption renewed the lease, so the time before the reconnect does not count.
    farm.advance(LEASE_GRACE - 1)
    farm.handle(Tick())
    assert job.state is JobState.LEASED
    farm.handle(ProgressReported("render-1", ref(grant), Stage.RENDER, 10.0))
    assert job.state is JobState.RENDERING


def test_disconnected_agent_gets_no_lease() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.handle(AgentDisconnected("render-1"))
    (job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []
    assert job.state is JobState.QUEUED


def test_interrupted_lease_requeued_at_once() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    farm.handle(AgentDisconnected("render-1"))

    effects = farm.connect("render-1", interrupted=[ref(grant)])
    assert farm.scheduler.leases[grant.lease_id].state is LeaseState.INTERRUPTED
    assert "lease interrupted" in causes(effects, job.id)[0]
    assert [(g.agent_id, g.attempt) for g in of_type(effects, GrantLease)] == [("render-1", 2)]
    assert job.attempts == 2


def test_cancel_running_job_waits_for_agent() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]

    effects = farm.handle(CancelRequested(job.id, "wrong text"))
    assert [(c.lease_id, c.reason) for c in of_type(effects, SendCancel)] == [
        (grant.lease_id, "wrong text")
    ]
    assert job.state is JobState.LEASED
    assert causes(effects, job.id) == ["cancel requested: wrong text"]

    error = JobErrorInfo("cancelled", "stopped on request")
    effects = farm.result(grant, success=False, error=error)
    assert job.state is JobState.CANCELLED
    assert of_type(effects, SendAck)[0].accepted


def test_cancel_confirmed_by_lease_expiry() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), _ = farm.submit(render_spec())
    farm.handle(CancelRequested(job.id, "no longer needed"))
    farm.handle(AgentDisconnected("render-1"))
    farm.advance(LEASE_GRACE + 1)
    farm.handle(Tick())
    assert job.state is JobState.CANCELLED


def test_cancel_resent_when_agent_readopts() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    farm.handle(AgentDisconnected("render-1"))
    farm.handle(CancelRequested(job.id, "no longer needed"))
    effects = farm.connect("render-1", running=[ref(grant)])
    cancels = of_type(effects, SendCancel)
    assert [c.lease_id for c in cancels] == [grant.lease_id]
    # The agent reads the Welcome before anything else on the stream.
    assert effects.index(of_type(effects, SendWelcome)[0]) < effects.index(cancels[0])
    assert job.state is JobState.LEASED


def test_restore_requeues_running_job_without_lease() -> None:
    farm = Harness()
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease)
    agent = farm.scheduler.agents["render-1"]

    restarted = Harness()
    restarted.now = farm.now + 100
    effects = restarted.scheduler.restore([job], [], [agent], restarted.now)
    assert job.state is JobState.QUEUED
    assert "lease missing after a controller restart" in causes(effects, job.id)[0]
    assert not restarted.scheduler.agents["render-1"].connected
