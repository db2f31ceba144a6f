"""The scheduler: a state machine of jobs, leases and agents without I/O.

Scheduler.handle takes one event and the clock value and returns the effects that the adapters
apply: store writes (one transaction per event), messages on agent streams, log appends and job
events. Dispatch runs after every event, so a job that becomes queued goes to an idle matching
agent at once, and an agent that connects or frees a slot takes the next queued job.

Leases are fenced by lease id, job id, attempt and agent id. A progress, log or result for a
lease that is not current never changes a job; the agent is sent a Cancel for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from controller import fontmatch
from controller.dispatch_index import ANY_ENGINE, FreeAgents, JobQueue
from controller.jobtree import collect_child_inputs
from controller.retry_policy import choose_agent, note_outcome, retry_delay
from controller.scheduler_types import (
    FINAL_ERROR_CODES,
    FINAL_STATES,
    FREE_ERROR_CODES,
    RUNNING_STATES,
    AgentConnected,
    AgentDisconnected,
    AgentDrainSet,
    AgentRecord,
    AppendLog,
    CancelRequested,
    Effect,
    Event,
    GrantLease,
    HeartbeatReceived,
    JobErrorInfo,
    JobRecord,
    JobsSubmitted,
    JobState,
    LeaseRecord,
    LeaseRef,
    LeaseState,
    LogReceived,
    OutputInfo,
    ProgressReported,
    PublishJobEvent,
    ResultReceived,
    SchedulerConfig,
    SendAck,
    SendCancel,
    SendWelcome,
    Stage,
    StoreAgent,
    StoreAgentControl,
    StoreAppliedResult,
    StoreJob,
    StoreLease,
    StoreProgress,
    StoreTransition,
    Tick,
    Transition,
)

logger = logging.getLogger(__name__)


class JobNotKnown(LookupError):
    """The job is not among the scheduler's unfinished job trees."""


class AgentNotKnown(LookupError):
    """No agent with that id ever connected to this controller."""


class Scheduler:
    """Jobs of unfinished trees, their leases and the agents, changed only by handle()."""

    def __init__(
        self, config: SchedulerConfig, new_lease_id: Callable[[], str] | None = None
    ) -> None:
        self.config = config
        self.jobs: dict[str, JobRecord] = {}
        self.leases: dict[str, LeaseRecord] = {}
        self.agents: dict[str, AgentRecord] = {}
        self._queued = JobQueue(config.retry_delay)
        self._free = FreeAgents()
        self._trees: dict[str, set[str]] = {}
        self._new_lease_id = new_lease_id or (lambda: uuid.uuid4().hex)
        self._effects: list[Effect] = []

    # Entry points.

    def restore(
        self,
        jobs: Iterable[JobRecord],
        leases: Iterable[LeaseRecord],
        agents: Iterable[AgentRecord],
        now: float,
    ) -> list[Effect]:
        """Load the stored state after a restart and return the effects of repairing it.

        Every agent starts disconnected. Active leases are renewed to now, so their agents
        get a whole lease grace to reconnect and re-adopt them. A running job whose lease
        is not active is requeued.
        """
        for agent in agents:
            agent.connected = False
            agent.lease_ids = set()
            self.agents[agent.agent_id] = agent
        for job in jobs:
            self._add_job(job)
        for lease in leases:
            if lease.state is not LeaseState.ACTIVE or lease.job_id not in self.jobs:
                continue
            lease.renewed_at = max(lease.renewed_at, now)
            self.leases[lease.lease_id] = lease
            holder = self.agents.get(lease.agent_id)
            if holder is not None:
                holder.lease_ids.add(lease.lease_id)
        for agent in self.agents.values():
            self._free.update(agent)

        for job in list(self.jobs.values()):
            if job.state in RUNNING_STATES and job.lease_id not in self.leases:
                job.lease_id = job.agent_id = None
                message = "the controller restarted and found no active lease for the job"
                error = JobErrorInfo("agent_lost", message, retryable=True)
                self._retry_or_fail(job, error, "lease missing after a controller restart", now)
        return self._take_effects(now)

    def handle(self, event: Event, now: float) -> list[Effect]:
        """Apply one event and return its effects, ending with the grants of dispatch."""
        match event:
            case JobsSubmitted():
                for job in event.jobs:
                    self._add_job(job)
            case AgentConnected():
                self._on_agent_connected(event, now)
            case AgentDisconnected():
                self._on_agent_disconnected(event, now)
            case HeartbeatReceived():
                self._on_heartbeat(event, now)
            case ProgressReported():
                self._on_progress(event, now)
            case LogReceived():
                self._on_log(event, now)
            case ResultReceived():
                self._on_result(event, now)
            case Tick():
                self._expire_leases(now)
            case CancelRequested():
                self._on_cancel(event, now)
            case AgentDrainSet():
                self._on_drain(event)
        return self._take_effects(now)

    def next_wakeup(self, now: float) -> float | None:
        """Return the earliest time after now when a waiting retry may be dispatched."""
        return self._queued.next_wakeup(self.jobs, now)

    def set_priority(self, job_id: str, priority: int) -> None:
        """Change a job's priority and move it to its new place in the queue."""
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotKnown(job_id)
        job.priority = priority
        self._queued.reorder(job)

    # Agents.

    def _on_agent_connected(self, event: AgentConnected, now: float) -> None:
        agent = event.agent
        previous = self.agents.get(agent.agent_id)
        agent.lease_ids = previous.lease_ids if previous else set()
        if previous is not None:
            # An operator's drain and a quarantine outlive reconnects.
            agent.draining = previous.draining
            agent.quarantine_reason = previous.quarantine_reason
            agent.failed_jobs = previous.failed_jobs
        agent.connected = True
        agent.connected_at = agent.last_seen = now
        self.agents[agent.agent_id] = agent
        self._free.update(agent)
        self._emit(StoreAgent(agent))

        stale: list[LeaseRef] = []
        cancels: list[SendCancel] = []
        for ref in event.running:
            lease, _ = self._current_lease(ref, agent.agent_id)
            if lease is None:
                stale.append(ref)
                continue
            lease.renewed_at = now
            self._emit(StoreLease(lease))
            job = self.jobs[lease.job_id]
            if job.cancel_reason is not None:
                cancels.append(self._cancel_message(lease, job.cancel_reason))
        self._emit(SendWelcome(agent.agent_id, tuple(stale)))
        self._effects.extend(cancels)

        for ref in event.interrupted:
            lease, _ = self._current_lease(ref, agent.agent_id)
            if lease is None:
                continue
            self._end_lease(lease, LeaseState.INTERRUPTED, now)
            message = f"agent {agent.agent_id} stopped while it ran attempt {lease.attempt}"
            error = JobErrorInfo("agent_lost", message, retryable=True)
            job = self.jobs[lease.job_id]
            self._end_attempt(job, error, "lease interrupted", now, lease.agent_id, delay=False)

    def _on_drain(self, event: AgentDrainSet) -> None:
        agent = self.agents.get(event.agent_id)
        if agent is None:
            raise AgentNotKnown(event.agent_id)
        agent.draining = event.draining
        if not event.draining:
            agent.quarantine_reason = ""
            agent.failed_jobs = []
        self._free.update(agent)
        self._emit(StoreAgentControl(agent.agent_id, agent.draining, agent.quarantine_reason))

    def _on_agent_disconnected(self, event: AgentDisconnected, now: float) -> None:
        # The agent's leases stay active: it may reconnect within the lease grace and re-adopt.
        agent = self.agents.get(event.agent_id)
        if agent is None:
            return
        agent.connected = False
        agent.last_seen = now
        self._free.update(agent)
        self._emit(StoreAgent(agent))

    def _on_heartbeat(self, event: HeartbeatReceived, now: float) -> None:
        agent = self.agents.get(event.agent_id)
        if agent is None:
            return
        agent.last_seen = now
        if agent.stopping != event.draining:
            agent.stopping = event.draining
            self._free.update(agent)
        for ref in event.running:
            lease, reason = self._current_lease(ref, event.agent_id)
            if lease is not None:
                lease.renewed_at = now
                continue
            known = self.leases.get(ref.lease_id)
            if known is not None and known.state is LeaseState.COMPLETED:
                # The agent lists a lease until its result is acknowledged.
                continue
            self._emit(SendCancel(event.agent_id, ref.lease_id, ref.job_id, ref.attempt, reason))

    # Lease messages.

    def _on_progress(self, event: ProgressReported, now: float) -> None:
        lease = self._fenced_lease(event.agent_id, event.lease)
        if lease is None:
            return
        lease.renewed_at = now
        job = self.jobs[lease.job_id]
        job.progress = -1.0 if event.percent < 0 else min(event.percent, 100.0)
        job.frames_done = max(event.frames_done, 0)
        job.frames_total = max(event.frames_total, 0)
        stage = event.stage if event.stage is not Stage.NONE else job.stage
        if job.state is JobState.LEASED or stage is not job.stage:
            cause = f"stage {stage.value}" if stage is not Stage.NONE else "render started"
            self._set_state(job, JobState.RENDERING, cause, now, stage)
            return
        job.updated_at = now
        self._emit(StoreProgress(job))
        self._emit(PublishJobEvent(job))

    def _on_log(self, event: LogReceived, now: float) -> None:
        lease = self._fenced_lease(event.agent_id, event.lease)
        if lease is None:
            return
        lease.renewed_at = now
        self._emit(AppendLog(event.agent_id, event.lease, event.offset, event.data))

    def _on_result(self, event: ResultReceived, now: float) -> None:
        lease = self._fenced_lease(event.agent_id, event.lease, event.result_id)
        if lease is None:
            return
        lease.result_id = event.result_id
        self._end_lease(lease, LeaseState.COMPLETED, now)
        self._emit(StoreAppliedResult(event.result_id, lease.lease_id, lease.job_id, now))
        self._emit(SendAck(event.agent_id, event.result_id, event.lease, True, "applied"))

        job = self.jobs[lease.job_id]
        if event.success:
            output_error = _output_error(event, lease.attempt)
            if output_error is None:
                self._note_agent_outcome(lease.agent_id, job, None)
                job.bytes_fetched = event.bytes_fetched
                job.bytes_from_cache = event.bytes_from_cache
                self._finish(job, list(event.outputs), f"attempt {lease.attempt} finished", now)
                return
            error = output_error
        else:
            error = event.error or JobErrorInfo("render_error", "the agent sent no error")
        if job.cancel_reason is None:
            self._note_agent_outcome(lease.agent_id, job, error)
        self._end_attempt(job, error, f"attempt {lease.attempt} failed", now, lease.agent_id)

    def _note_agent_outcome(
        self, agent_id: str, job: JobRecord, error: JobErrorInfo | None
    ) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and note_outcome(agent, job, error, self.config.quarantine_after):
            self._free.update(agent)
            self._emit(StoreAgentControl(agent_id, agent.draining, agent.quarantine_reason))

    def _fenced_lease(
        self, agent_id: str, ref: LeaseRef, result_id: str | None = None
    ) -> LeaseRecord | None:
        """Return the current lease named by ref, or reject the message and return None.

        A rejected result is acknowledged as not accepted so the agent can clear its outbox.
        """
        lease, reason = self._current_lease(ref, agent_id)
        if lease is not None:
            return lease
        known = self.leases.get(ref.lease_id)
        if result_id is not None and known is not None and known.result_id == result_id:
            # A resend of the result that ended this lease: applied once, acknowledged again.
            self._emit(SendAck(agent_id, result_id, ref, True, "applied before"))
            return None
        if result_id is not None:
            self._emit(SendAck(agent_id, result_id, ref, False, reason))
        self._emit(SendCancel(agent_id, ref.lease_id, ref.job_id, ref.attempt, reason))
        return None

    def _current_lease(self, ref: LeaseRef, agent_id: str) -> tuple[LeaseRecord | None, str]:
        """Return the lease if it is the current one of its job and held by agent_id.

        Otherwise return None and the reason, for the agent.
        """
        lease = self.leases.get(ref.lease_id)
        name = f"lease {ref.lease_id}"
        if lease is None:
            return None, f"{name} is not a current lease of this controller"
        if lease.state is not LeaseState.ACTIVE:
            return None, f"{name} is no longer current: it is {lease.state.value}"
        if lease.agent_id != agent_id:
            return None, f"{name} belongs to agent {lease.agent_id}, not {agent_id}"
        if lease.job_id != ref.job_id or lease.attempt != ref.attempt:
            return None, (
                f"{name} is attempt {lease.attempt} of job {lease.job_id}, "
                f"not attempt {ref.attempt} of job {ref.job_id}"
            )
        return lease, ""

    def _expire_leases(self, now: float) -> None:
        expired = [
            lease
            for lease in self.leases.values()
            if lease.state is LeaseState.ACTIVE and now - lease.renewed_at > self.config.lease_grace
        ]
        for lease in expired:
            self._end_lease(lease, LeaseState.EXPIRED, now)
            message = (
                f"agent {lease.agent_id} sent no heartbeat listing lease {lease.lease_id} "
                f"for {self.config.lease_grace:g} s"
            )
            error = JobErrorInfo("agent_lost", message, retryable=True)
            self._end_attempt(self.jobs[lease.job_id], error, "lease expired", now, lease.agent_id)

    def _end_lease(self, lease: LeaseRecord, state: LeaseState, now: float) -> None:
        lease.state = state
        lease.ended_at = now
        agent = self.agents.get(lease.agent_id)
        if agent is not None:
            agent.lease_ids.discard(lease.lease_id)
            self._free.update(agent)
        # The job keeps lease_id and agent_id until its next transition, which records them.
        self._emit(StoreLease(lease))

    # Job outcomes.

    def _end_attempt(
        self,
        job: JobRecord,
        error: JobErrorInfo,
        cause: str,
        now: float,
        agent_id: str = "",
        delay: bool = True,
    ) -> None:
        """Close a job's attempt that did not finish: cancel, retry or fail the job.

        The agent that held the attempt is avoided for the job's next lease. An attempt the
        agent did not run (FREE_ERROR_CODES) costs nothing and is retried at once.
        """
        if job.cancel_reason is not None:
            self._set_state(job, JobState.CANCELLED, f"cancelled: {job.cancel_reason}", now)
            self._after_final(job, now)
            return
        if agent_id:
            job.avoid_agents.add(agent_id)
        if error.code in FREE_ERROR_CODES:
            job.free_attempts += 1
            cause = f"{cause}: {error.code}: {error.message}; requeued, the attempt is not counted"
            self._set_state(job, JobState.QUEUED, cause, now)
            return
        if error.code == "cancelled":
            # The agent cancelled a lease without a cancel request, for example while it stops.
            error = JobErrorInfo(error.code, error.message, retryable=True)
        self._retry_or_fail(job, error, f"{cause}: {error.code}: {error.message}", now, delay)

    def _retry_or_fail(
        self, job: JobRecord, error: JobErrorInfo, cause: str, now: float, delay: bool = True
    ) -> None:
        if error.code in FINAL_ERROR_CODES:
            error = JobErrorInfo(error.code, error.message, retryable=False)
        counted = job.attempts - job.free_attempts
        if error.retryable and counted < self.config.max_attempts:
            wait = retry_delay(self.config, counted) if delay else 0.0
            job.not_before = now + wait
            when = f"; retry in {wait:g} s" if wait > 0 else ""
            self._set_state(job, JobState.QUEUED, f"{cause}; requeued{when}", now)
            return
        if error.retryable:
            cause = f"{cause}; no attempts left of {self.config.max_attempts}"
        job.error = error
        self._set_state(job, JobState.FAILED, cause, now)
        self._after_final(job, now)

    def _finish(self, job: JobRecord, outputs: list[OutputInfo], cause: str, now: float) -> None:
        job.outputs = outputs
        job.error = None
        job.progress = 100.0
        self._set_state(job, JobState.FINISHED, cause, now)
        self._after_final(job, now)

    def _after_final(self, job: JobRecord, now: float) -> None:
        """Carry a final job's outcome to its parent, then forget the tree if it is done."""
        parent = self.jobs.get(job.parent_id) if job.parent_id else None
        if parent is not None and parent.state not in FINAL_STATES:
            if job.state is JobState.FINISHED:
                self._promote_if_ready(parent, now)
            elif parent.cancel_reason is None:
                self._end_parent(parent, job, now)
        self._forget_tree_if_final(job.root_id)

    def _promote_if_ready(self, parent: JobRecord, now: float) -> None:
        children = [self.jobs[child_id] for child_id in parent.child_ids]
        if parent.state is not JobState.PENDING:
            return
        if any(child.state is not JobState.FINISHED for child in children):
            return
        parent.inputs = collect_child_inputs(children)
        self._set_state(parent, JobState.QUEUED, "children finished", now)

    def _end_parent(self, parent: JobRecord, child: JobRecord, now: float) -> None:
        """Fail or cancel a parent after one child failed or was cancelled, and its siblings."""
        sibling_reason = f"sibling job {child.id} {child.state.value}"
        if child.state is JobState.FAILED:
            detail = f": {child.error.code}: {child.error.message}" if child.error else ""
            if child.layer_name:
                place = f"layer {child.layer_name!r}"
            else:
                # A join input fills no layer, so it is named by its place in the join's assets.
                place = f"join input assets[{child.input_index}]"
            message = f"child job {child.id} ({place}) failed{detail}"
            parent.error = JobErrorInfo("child_failed", message)
            self._set_state(parent, JobState.FAILED, f"child job {child.id} failed", now)
        else:
            parent.cancel_reason = f"child job {child.id} was cancelled"
            self._set_state(parent, JobState.CANCELLED, f"cancelled: {parent.cancel_reason}", now)
        for sibling_id in parent.child_ids:
            self._cancel(self.jobs[sibling_id], sibling_reason, now)
        self._after_final(parent, now)

    # Cancellation.

    def _on_cancel(self, event: CancelRequested, now: float) -> None:
        job = self.jobs.get(event.job_id)
        if job is None or job.state in FINAL_STATES:
            raise JobNotKnown(event.job_id)
        self._cancel(job, event.reason, now)
        if job.state in FINAL_STATES:
            self._after_final(job, now)

    def _cancel(self, job: JobRecord, reason: str, now: float) -> None:
        """Cancel a job and its unfinished descendants.

        A pending or queued job is cancelled at once. A leased or rendering job is sent a
        Cancel and stays until the agent's result or the lease's expiry.
        """
        if job.state in FINAL_STATES or job.cancel_reason is not None:
            return
        job.cancel_reason = reason
        if job.state in RUNNING_STATES and job.lease_id is not None:
            lease = self.leases[job.lease_id]
            self._emit(self._cancel_message(lease, reason))
            self._set_state(job, job.state, f"cancel requested: {reason}", now, job.stage)
        else:
            self._set_state(job, JobState.CANCELLED, f"cancelled: {reason}", now)
        for child_id in job.child_ids:
            self._cancel(self.jobs[child_id], f"parent job {job.id} was cancelled", now)

    def _cancel_message(self, lease: LeaseRecord, reason: str) -> SendCancel:
        return SendCancel(lease.agent_id, lease.lease_id, lease.job_id, lease.attempt, reason)

    # Dispatch.

    def _dispatch(self, now: float) -> None:
        """Grant queued jobs to connected agents with free slots, best job first."""
        # Most events (every heartbeat) find no queued job or no free agent.
        if not self._queued or not self._free:
            return
        order = self._queued.order
        index = 0
        while index < len(order):
            job = self.jobs[order[index][2]]
            agent = None if job.not_before > now else self._pick_agent(job, now)
            if agent is None:
                index += 1
                continue
            # The grant takes the job out of the queue, so the next job moves to index.
            self._grant(job, agent, now)
            if not self._free:
                return

    def _pick_agent(self, job: JobRecord, now: float) -> AgentRecord | None:
        """Return the agent for job among those with free slots (see choose_agent).

        The free agents come best first, so the first matching agent that the job does not
        avoid wins. Matching agents that the job avoids are kept in case no other one matches.
        """
        engine = ANY_ENGINE if job.kind == "join" else job.engine
        candidates: list[AgentRecord] = []
        for _, agent_id in self._free.best_first(engine):
            agent = self.agents[agent_id]
            if now - agent.last_seen > self.config.lease_grace or not self._matches(job, agent):
                continue
            candidates.append(agent)
            if agent_id not in job.avoid_agents:
                break
        if not candidates:
            return None
        others = candidates[-1].agent_id in job.avoid_agents and any(
            agent.takes_leases()
            and agent.agent_id not in job.avoid_agents
            and self._matches(job, agent)
            for agent in self.agents.values()
        )
        free = {agent.agent_id: self._free.free_slots(agent.agent_id) for agent in candidates}
        return choose_agent(job, candidates, others, free, self.config.retry_delay, now)

    @staticmethod
    def _matches(job: JobRecord, agent: AgentRecord) -> bool:
        # A join stitches clips with ffmpeg, so it needs no After Effects engine.
        if job.kind != "join" and job.engine not in agent.available_engines():
            return False
        if fontmatch.missing_fonts(job.spec, agent.fonts):
            return False
        # nexrender tags pick workers: the agent's pools must contain every tag of the job.
        return agent.pools.issuperset(job.pools) and agent.pools.issuperset(job.spec.tags)

    def _grant(self, job: JobRecord, agent: AgentRecord, now: float) -> None:
        job.attempts += 1
        lease = LeaseRecord(
            lease_id=self._new_lease_id(),
            job_id=job.id,
            attempt=job.attempts,
            agent_id=agent.agent_id,
            state=LeaseState.ACTIVE,
            granted_at=now,
            renewed_at=now,
        )
        self.leases[lease.lease_id] = lease
        agent.lease_ids.add(lease.lease_id)
        self._free.update(agent)
        job.lease_id = lease.lease_id
        job.agent_id = agent.agent_id
        job.progress = 0.0
        job.frames_done = job.frames_total = 0
        self._emit(StoreLease(lease))
        self._set_state(job, JobState.LEASED, "lease granted", now)
        self._emit(GrantLease(agent.agent_id, lease.lease_id, job.id, lease.attempt))

    # Bookkeeping.

    def _set_state(
        self, job: JobRecord, state: JobState, cause: str, now: float, stage: Stage = Stage.NONE
    ) -> None:
        job.state = state
        job.stage = stage
        job.updated_at = now
        if state is JobState.QUEUED:
            self._queued.add(job)
        else:
            self._queued.discard(job.id)
        transition = Transition(state, stage, now, cause, job.attempts, job.agent_id or "")
        lease_id = job.lease_id or ""
        if state not in RUNNING_STATES:
            job.lease_id = job.agent_id = None
        self._emit(StoreJob(job))
        self._emit(StoreTransition(job.id, lease_id, transition))
        self._emit(PublishJobEvent(job))

    def _add_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job
        self._trees.setdefault(job.root_id, set()).add(job.id)
        if job.state is JobState.QUEUED:
            self._queued.add(job)

    def _forget_tree_if_final(self, root_id: str) -> None:
        """Drop a job tree from memory once every job of it is final; the store keeps it."""
        job_ids = self._trees.get(root_id, set())
        if any(self.jobs[job_id].state not in FINAL_STATES for job_id in job_ids):
            return
        for job_id in job_ids:
            del self.jobs[job_id]
        self._trees.pop(root_id, None)
        for lease_id in [lid for lid, lease in self.leases.items() if lease.job_id in job_ids]:
            del self.leases[lease_id]

    def _emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def _take_effects(self, now: float) -> list[Effect]:
        self._dispatch(now)
        effects, self._effects = self._effects, []
        return effects


def _output_error(event: ResultReceived, attempt: int) -> JobErrorInfo | None:
    """Return the error of a success result whose outputs are missing, or None."""
    if not event.outputs:
        message = f"attempt {attempt} reported success but listed no outputs"
        return JobErrorInfo("output_missing", message, retryable=True)
    if event.missing_outputs:
        message = (
            f"attempt {attempt} reported outputs that the artifact store does not have: "
            f"{', '.join(event.missing_outputs)}; the agent must upload each output before "
            "it sends the result"
        )
        return JobErrorInfo("output_missing", message, retryable=True)
    return None
