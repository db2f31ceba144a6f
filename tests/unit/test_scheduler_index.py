"""The scheduler's kept queue order, retry wait times and index of agents with free slots."""

from __future__ import annotations

from controller.scheduler_types import (
    AgentDrainSet,
    GrantLease,
    HeartbeatReceived,
    JobErrorInfo,
    Tick,
)
from tests.unit.test_scheduler import Harness, of_type, render_spec

CRASH = JobErrorInfo("render_error", "aerender crashed", retryable=True)


def test_set_priority_moves_a_queued_job_ahead() -> None:
    farm = Harness()
    first = farm.submit(render_spec(priority=5))[0][0]
    second = farm.submit(render_spec(priority=0))[0][0]
    farm.scheduler.set_priority(second.id, 9)
    grants = of_type(farm.connect("render-1"), GrantLease)
    assert [g.job_id for g in grants] == [second.id]
    assert [g.job_id for g in of_type(farm.result(grants[0]), GrantLease)] == [first.id]


def test_set_priority_lowers_and_raises() -> None:
    farm = Harness()
    farm.connect("render-1")
    running = of_type(farm.submit(render_spec())[1], GrantLease)[0]
    later = farm.submit(render_spec(priority=0))[0][0]
    earlier = farm.submit(render_spec(priority=3))[0][0]
    farm.scheduler.set_priority(later.id, 4)
    farm.scheduler.set_priority(earlier.id, 1)
    grants = of_type(farm.result(running), GrantLease)
    assert [g.job_id for g in grants] == [later.id]


def test_next_wakeup_follows_the_earliest_waiting_retry() -> None:
    farm = Harness(retry_delay=2.0)
    farm.connect("render-1")
    farm.connect("render-2")
    first = of_type(farm.submit(render_spec())[1], GrantLease)[0]
    second = of_type(farm.submit(render_spec())[1], GrantLease)[0]
    assert farm.scheduler.next_wakeup(farm.now) is None
    farm.result(first, success=False, error=CRASH)
    first_wait = farm.now + 2.0
    farm.advance(1.0)
    farm.result(second, success=False, error=CRASH)
    assert farm.scheduler.next_wakeup(farm.now) == first_wait
    farm.advance(1.5)
    grants = of_type(farm.handle(Tick()), GrantLease)
    assert [g.job_id for g in grants] == [first.job_id]
    assert farm.scheduler.next_wakeup(farm.now) == farm.now - 1.5 + 2.0


def test_drained_agent_takes_no_job_until_resumed() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.handle(AgentDrainSet("render-1", True))
    (job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []
    grants = of_type(farm.handle(AgentDrainSet("render-1", False)), GrantLease)
    assert [(g.agent_id, g.job_id) for g in grants] == [("render-1", job.id)]


def test_stopping_agent_leaves_and_rejoins_the_free_agents() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.connect("render-2")
    farm.handle(HeartbeatReceived("render-1", draining=True))
    grants = of_type(farm.submit(render_spec())[1], GrantLease)
    assert [g.agent_id for g in grants] == ["render-2"]
    farm.handle(HeartbeatReceived("render-1", draining=False))
    grants = of_type(farm.submit(render_spec())[1], GrantLease)
    assert [g.agent_id for g in grants] == ["render-1"]


def test_freed_slot_takes_next_job() -> None:
    farm = Harness()
    farm.connect("render-1", slots=2)
    farm.connect("render-2", slots=1)
    grants = [of_type(farm.submit(render_spec())[1], GrantLease)[0] for _ in range(3)]
    assert [g.agent_id for g in grants] == ["render-1", "render-1", "render-2"]
    queued = farm.submit(render_spec())[0][0]
    following = of_type(farm.result(grants[2]), GrantLease)
    assert [(g.agent_id, g.job_id) for g in following] == [("render-2", queued.id)]


def test_unmatched_job_lets_others_pass() -> None:
    farm = Harness()
    farm.connect("old", engines=("ae2025",))
    waiting = farm.submit(render_spec(engine="ae2026", priority=9))[0][0]
    (job,), effects = farm.submit(render_spec(engine="ae2025"))
    assert [(g.agent_id, g.job_id) for g in of_type(effects, GrantLease)] == [("old", job.id)]
    grants = of_type(farm.connect("new", engines=("ae2026",)), GrantLease)
    assert [(g.agent_id, g.job_id) for g in grants] == [("new", waiting.id)]
