"""Scheduler tests of retry judgement: delays, avoided agents, free attempts, quarantine, drain."""

from __future__ import annotations

import pytest

from controller.scheduler import AgentNotKnown
from controller.scheduler_types import (
    AgentDrainSet,
    GrantLease,
    HeartbeatReceived,
    JobErrorInfo,
    JobState,
    StoreAgentControl,
    Tick,
)
from tests.unit.test_scheduler import Harness, causes, of_type, render_spec

CRASH = JobErrorInfo("render_crashed", "aerender crashed", retryable=True)


def test_retry_waits_a_doubling_delay() -> None:
    farm = Harness(max_attempts=4, retry_delay=2.0)
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]

    effects = farm.result(grant, success=False, error=CRASH)
    assert of_type(effects, GrantLease) == []
    assert "retry in 2 s" in causes(effects, job.id)[-1]
    assert farm.scheduler.next_wakeup(farm.now) == pytest.approx(farm.now + 2.0)

    farm.advance(1.0)
    assert of_type(farm.handle(Tick()), GrantLease) == []
    farm.advance(1.1)
    second = of_type(farm.handle(Tick()), GrantLease)
    assert [g.attempt for g in second] == [2]

    effects = farm.result(second[0], success=False, error=CRASH)
    assert "retry in 4 s" in causes(effects, job.id)[-1]


def test_retry_goes_to_another_agent() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.connect("render-2")
    (_job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    assert grant.agent_id == "render-1"

    retry = of_type(farm.result(grant, success=False, error=CRASH), GrantLease)
    assert [(g.agent_id, g.attempt) for g in retry] == [("render-2", 2)]


def test_retry_waits_for_busy_agent() -> None:
    farm = Harness(retry_delay=0.0)
    farm.connect("render-1")
    farm.connect("render-2")
    (first,), effects = farm.submit(render_spec())
    (second,), more = farm.submit(render_spec())
    grants = {g.job_id: g for g in of_type(effects + more, GrantLease)}

    effects = farm.result(grants[first.id], success=False, error=CRASH)
    # render-1 failed the job and render-2 is busy: the job waits for render-2.
    assert of_type(effects, GrantLease) == []
    effects = farm.result(grants[second.id])
    assert [(g.job_id, g.agent_id) for g in of_type(effects, GrantLease)] == [
        (first.id, "render-2")
    ]


def test_failed_agent_used_when_alone() -> None:
    farm = Harness(retry_delay=1.0)
    farm.connect("render-1")
    (_job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    farm.result(grant, success=False, error=CRASH)
    farm.advance(1.5)
    retry = of_type(farm.handle(Tick()), GrantLease)
    assert [(g.agent_id, g.attempt) for g in retry] == [("render-1", 2)]


def test_comp_not_found_never_retried() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.connect("render-2")
    (job,), effects = farm.submit(render_spec())
    error = JobErrorInfo("comp_not_found", "no composition 'main'", retryable=True)
    farm.result(of_type(effects, GrantLease)[0], success=False, error=error)
    assert job.state is JobState.FAILED
    assert job.attempts == 1


@pytest.mark.parametrize("code", ["agent_busy", "agent_shutdown"])
def test_busy_or_stopping_agent_costs_no_attempt(code: str) -> None:
    farm = Harness(max_attempts=1, retry_delay=5.0)
    farm.connect("render-1")
    farm.connect("render-2")
    (job,), effects = farm.submit(render_spec())
    grant = of_type(effects, GrantLease)[0]
    error = JobErrorInfo(code, "not now", retryable=True)

    retry = of_type(farm.result(grant, success=False, error=error), GrantLease)
    # max_attempts is 1, yet the job is retried at once, on the other agent.
    assert [(g.agent_id, g.attempt) for g in retry] == [("render-2", 2)]
    assert job.state is JobState.LEASED


def test_lone_busy_agent_waits_delay() -> None:
    farm = Harness(retry_delay=3.0)
    farm.connect("render-1")
    (_job,), effects = farm.submit(render_spec())
    error = JobErrorInfo("agent_busy", "2 leases in 2 slots", retryable=True)
    effects = farm.result(of_type(effects, GrantLease)[0], success=False, error=error)
    assert of_type(effects, GrantLease) == []
    farm.advance(3.5)
    assert [g.agent_id for g in of_type(farm.handle(Tick()), GrantLease)] == ["render-1"]


def test_failing_agent_quarantined_until_resume() -> None:
    farm = Harness(quarantine_after=2, max_attempts=1)
    farm.connect("render-1")
    (_first,), effects = farm.submit(render_spec())
    farm.result(of_type(effects, GrantLease)[0], success=False, error=CRASH)
    (_second,), effects = farm.submit(render_spec())
    effects = farm.result(of_type(effects, GrantLease)[0], success=False, error=CRASH)

    controls = of_type(effects, StoreAgentControl)
    assert (
        len(controls) == 1 and "failed 2 different jobs in a row" in controls[0].quarantine_reason
    )
    (third,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []

    effects = farm.handle(AgentDrainSet("render-1", draining=False))
    assert of_type(effects, StoreAgentControl)[0].quarantine_reason == ""
    assert [g.job_id for g in of_type(effects, GrantLease)] == [third.id]


def test_success_resets_the_failure_count() -> None:
    farm = Harness(quarantine_after=2, max_attempts=1)
    farm.connect("render-1")
    for success in (False, True, False):
        (_job,), effects = farm.submit(render_spec())
        error = None if success else CRASH
        farm.result(of_type(effects, GrantLease)[0], success=success, error=error)
    assert farm.scheduler.agents["render-1"].quarantine_reason == ""


def test_drain_survives_reconnect() -> None:
    farm = Harness()
    farm.connect("render-1")
    effects = farm.handle(AgentDrainSet("render-1", draining=True))
    assert of_type(effects, StoreAgentControl)[0].draining
    farm.connect("render-1")
    (job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []
    effects = farm.handle(AgentDrainSet("render-1", draining=False))
    assert [g.job_id for g in of_type(effects, GrantLease)] == [job.id]


def test_stopping_agent_heartbeat_stops_dispatch() -> None:
    farm = Harness()
    farm.connect("render-1")
    farm.handle(HeartbeatReceived("render-1", (), draining=True))
    (_job,), effects = farm.submit(render_spec())
    assert of_type(effects, GrantLease) == []


def test_drain_unknown_agent_rejected() -> None:
    farm = Harness()
    with pytest.raises(AgentNotKnown):
        farm.handle(AgentDrainSet("nobody", draining=True))


def test_job_errors_fail_at_once_unquarantined() -> None:
    farm = Harness(quarantine_after=2, max_attempts=3)
    farm.connect("render-1")
    # What a hostile job makes an agent report: its own values do not fit the template.
    for code in ("invalid_value", "controller_not_found", "unsupported_property", "script_error"):
        (job,), effects = farm.submit(render_spec())
        error = JobErrorInfo(code, "the job's value does not fit", retryable=True)
        farm.result(of_type(effects, GrantLease)[0], success=False, error=error)

        assert job.state is JobState.FAILED
        assert job.attempts == 1
    assert farm.scheduler.agents["render-1"].quarantine_reason == ""
