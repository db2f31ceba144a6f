"""The adapter around the scheduler: it feeds events in and applies the effects that come out.

Every event runs to completion without awaiting, so events are applied one at a time in the
event loop. The store writes of one event go into one transaction, committed before any message
leaves: no agent receives a lease or an Ack that a crash of the controller could lose. An Ack,
and a Submit reply, also wait until a sync has made the commit survive a power loss; Durability
groups those syncs, so the event loop goes on applying events while the disk syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from controller import messages
from controller.durability import GroupCommit
from controller.errors import AgentNotFound, JobAlreadyFinal, JobNotFound, StoreFailure
from controller.events import JobEventBus
from controller.joblogs import JobLogs
from controller.jobspec.models import JobSpec
from controller.jobtree import build_job_tree
from controller.scheduler import AgentNotKnown, Scheduler
from controller.scheduler_types import (
    FINAL_STATES,
    AgentDisconnected,
    AgentDrainSet,
    AppendLog,
    CancelRequested,
    Effect,
    Event,
    GrantLease,
    JobRecord,
    JobsSubmitted,
    LeaseState,
    PublishJobEvent,
    SchedulerConfig,
    SendAck,
    SendCancel,
    SendWelcome,
    StoreAgent,
    StoreAgentControl,
    StoreAppliedResult,
    StoreJob,
    StoreLease,
    StoreProgress,
    StoreTransition,
    Tick,
)
from controller.store import Store
from controller.tasks import build_task
from protos import agent_pb2, jobs_pb2

logger = logging.getLogger(__name__)

# Seconds a disconnected agent stays in ListAgents after it was last seen.
AGENT_LIST_RETENTION_SECONDS = 3600.0


@dataclass
class AgentConnection:
    """The outgoing side of one agent's Connect stream; None in the outbox ends the stream."""

    agent_id: str
    number: int
    outbox: asyncio.Queue[agent_pb2.ControllerMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, message: agent_pb2.ControllerMessage) -> None:
        self.outbox.put_nowait(message)

    def close(self) -> None:
        self.outbox.put_nowait(None)


class Coordinator:
    def __init__(
        self,
        store: Store,
        logs: JobLogs,
        bus: JobEventBus,
        config: SchedulerConfig,
        controller_version: str,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.logs = logs
        self.bus = bus
        self.config = config
        self.controller_version = controller_version
        self.clock = clock
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self.scheduler = Scheduler(config, self._new_id)
        self._connections: dict[str, AgentConnection] = {}
        self._connection_count = 0
        self._sequence = 0
        self._wakeup: asyncio.TimerHandle | None = None
        # Called once a store write fails; the server stops, because memory and store differ.
        self.on_store_failure: Callable[[BaseException], None] = lambda error: None
        self.outgoing = GroupCommit(store, lambda error: self.on_store_failure(error))
        # Called inside the store transaction of each applied event, with its effects and the
        # jobs it publishes (sequence set): modules with their own tables (webhook deliveries,
        # stored job events) write there, so their rows commit with the change.
        self.write_hooks: list[Callable[[list[Effect], list[JobRecord]], None]] = []

    def start(self) -> None:
        """Load every unfinished job tree, active lease and known agent from the store."""
        jobs, leases = self.store.load_unfinished()
        agents = self.store.load_agents()
        controls = self.store.load_agent_controls()
        for agent in agents:
            agent.draining, agent.quarantine_reason = controls.get(agent.agent_id, (False, ""))
        self._sequence = self.store.max_sequence()
        effects = self.scheduler.restore(jobs, leases, agents, self.clock())
        self._apply(effects)
        unfinished = sum(1 for job in jobs if job.state not in FINAL_STATES)
        logger.info(
            "loaded %d unfinished jobs, %d active leases and %d agents from the store",
            unfinished,
            len(self.scheduler.leases),
            len(agents),
        )

    # Requests.

    def submit(self, spec: JobSpec, source: str, durable: bool = True) -> list[JobRecord]:
        """Store a job tree in one transaction, then let the scheduler dispatch it.

        With durable=False the commit is deferred and then survives a crash of the process
        only; await outgoing.wait_durable() before telling the client that the job is stored.
        """
        return self.submit_many([spec], source, durable=durable)[0]

    def submit_many(
        self,
        specs: list[JobSpec],
        source: str,
        on_stored: Callable[[list[list[JobRecord]]], None] | None = None,
        durable: bool = True,
    ) -> list[list[JobRecord]]:
        """Store job trees in one transaction; on_stored writes more rows in it (a batch)."""
        trees = [build_job_tree(spec, self.clock(), self._new_id, source) for spec in specs]
        for tree in trees:
            for job in tree.jobs:
                self._sequence += 1
                job.sequence = self._sequence
        try:
            with self.store.transaction(durable=durable, deferred=not durable):
                for tree in trees:
                    for job in tree.jobs:
                        self.store.insert_job(job)
                    for job_id, transition in tree.transitions:
                        self.store.insert_transition(job_id, transition)
                if on_stored is not None:
                    on_stored([list(tree.jobs) for tree in trees])
                # The submitted jobs' first events, for watchers that resume from a sequence.
                for hook in self.write_hooks:
                    hook([], [job for tree in trees for job in tree.jobs])
        except sqlite3.Error as error:
            # Nothing changed in memory yet, so the controller can go on.
            logger.error("storing a submitted job failed: %s", error)
            raise StoreFailure(f"storing the job failed: {error}; submit it again") from error
        if durable:
            self.outgoing.durability.note_commit(synced=True)
        else:
            self.outgoing.schedule_commit()
        for tree in trees:
            for job_id, transition in tree.transitions:
                logger.info("job=%s: %s (%s)", job_id, transition.state.value, transition.cause)
        self.handle(JobsSubmitted(tuple(job for tree in trees for job in tree.jobs)))
        # The scheduler keeps these same records and updates them, so they are current.
        return [list(tree.jobs) for tree in trees]

    def cancel(self, job_id: str, reason: str) -> None:
        job = self.scheduler.jobs.get(job_id)
        if job is None:
            stored = self.store.get_job(job_id)
            if stored is None:
                raise JobNotFound(job_id)
            # A job missing from the scheduler belongs to a tree whose jobs are all final.
            raise JobAlreadyFinal(job_id, stored.state.value)
        if job.state in FINAL_STATES:
            raise JobAlreadyFinal(job_id, job.state.value)
        self.handle(CancelRequested(job_id, reason), durable=True)

    def set_draining(self, agent_id: str, draining: bool) -> jobs_pb2.AgentInfo:
        """Drain an agent, or resume it (which also ends a quarantine); stored durably."""
        try:
            self.handle(AgentDrainSet(agent_id, draining), durable=True)
        except AgentNotKnown:
            raise AgentNotFound(agent_id) from None
        agent = self.scheduler.agents[agent_id]
        leases = [self.scheduler.leases[lease_id] for lease_id in sorted(agent.lease_ids)]
        return messages.agent_message(agent, leases)

    def job_message(self, job_id: str) -> jobs_pb2.Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return messages.job_message(job, self.store.history(job_id))

    def agent_messages(self) -> list[jobs_pb2.AgentInfo]:
        now = self.clock()
        infos = []
        for agent in sorted(self.scheduler.agents.values(), key=lambda agent: agent.agent_id):
            if not agent.connected and now - agent.last_seen > AGENT_LIST_RETENTION_SECONDS:
                continue
            leases = [self.scheduler.leases[lease_id] for lease_id in sorted(agent.lease_ids)]
            infos.append(messages.agent_message(agent, leases))
        return infos

    # Agent streams.

    def attach(self, agent_id: str) -> AgentConnection:
        """Register a new stream of an agent; a previous stream of the same agent is closed."""
        self._connection_count += 1
        connection = AgentConnection(agent_id, self._connection_count)
        previous = self._connections.get(agent_id)
        if previous is not None:
            logger.warning("agent=%s opened a new stream; closing its previous one", agent_id)
            previous.close()
        self._connections[agent_id] = connection
        return connection

    def detach(self, connection: AgentConnection) -> None:
        if self._connections.get(connection.agent_id) is not connection:
            return
        del self._connections[connection.agent_id]
        self.handle(AgentDisconnected(connection.agent_id))

    def close_agent_streams(self) -> None:
        for connection in list(self._connections.values()):
            connection.close()

    async def run_ticks(self, interval: float) -> None:
        """Send a Tick every interval seconds so leases expire on time."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.handle(Tick())
            except StoreFailure:
                return  # on_store_failure has already stopped the controller
            except Exception as error:
                # A stopped timer would leave every lease unexpired and the farm stuck; stopping
                # the controller lets its supervisor restart it from the store instead.
                logger.critical("the lease timer failed, stopping the controller", exc_info=True)
                self.on_store_failure(error)
                return

    def flush(self) -> None:
        """Write the in-memory lease renewals and agent times, for a clean stop."""
        with self.store.transaction(durable=True):
            for lease in self.scheduler.leases.values():
                if lease.state is LeaseState.ACTIVE:
                    self.store.save_lease(lease)
            for agent in self.scheduler.agents.values():
                self.store.save_agent(agent)

    # Effects.

    def handle(self, event: Event, durable: bool = False) -> None:
        """Apply one event; durable=True syncs its store writes, for a reply to a client."""
        self._apply(self.scheduler.handle(event, self.clock()), durable)
        self._schedule_wakeup()

    def _schedule_wakeup(self) -> None:
        """Arrange a Tick for the earliest retry that waits for its delay to pass."""
        at = self.scheduler.next_wakeup(self.clock())
        if at is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        when = loop.time() + max(at - self.clock(), 0.0) + 0.01
        if self._wakeup is not None:
            if self._wakeup.when() <= when:
                return
            self._wakeup.cancel()
        self._wakeup = loop.call_at(when, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        # A store failure already stopped the controller through on_store_failure.
        with contextlib.suppress(StoreFailure):
            self.handle(Tick())

    def _apply(self, effects: list[Effect], durable: bool = False) -> None:
        """Write the effects in one transaction, then send and publish what they produced.

        durable=True syncs the commit before this returns. Otherwise an event that applied a
        result delays its messages until a sync. Its Ack lets the agent delete the result from
        its outbox, so the result must survive a power loss first.
        """
        published: dict[str, JobRecord] = {}
        try:
            committed = self._write(effects, published, durable)
        except sqlite3.Error as error:
            logger.critical("a store write failed, stopping the controller: %s", error)
            self.on_store_failure(error)
            raise StoreFailure(f"the controller store failed: {error}") from error
        if committed and durable:
            self.outgoing.durability.note_commit(synced=True)
        needs_sync = any(isinstance(effect, StoreAppliedResult) for effect in effects)
        with self.outgoing.event(deferred=committed and not durable, needs_sync=needs_sync):
            for effect in effects:
                self._send(effect, 0)
            for job in published.values():
                self._publish(job, 0)

    def _write(self, effects: list[Effect], published: dict[str, JobRecord], durable: bool) -> bool:
        """Write the effects' store changes in one transaction; return whether it committed."""
        jobs: dict[str, JobRecord] = {}
        progress: dict[str, JobRecord] = {}
        writes = [effect for effect in effects if not isinstance(effect, _SENDS)]
        if not writes:
            return False
        with self.store.transaction(durable=durable, deferred=not durable):
            for effect in writes:
                match effect:
                    case StoreJob():
                        jobs[effect.job.id] = effect.job
                    case StoreProgress():
                        progress[effect.job.id] = effect.job
                    case StoreTransition():
                        self.store.insert_transition(effect.job_id, effect.transition)
                        _log_transition(effect)
                    case StoreLease():
                        self.store.save_lease(effect.lease)
                    case StoreAgent():
                        self.store.save_agent(effect.agent)
                    case StoreAgentControl():
                        self.store.save_agent_control(
                            effect.agent_id, effect.draining, effect.quarantine_reason
                        )
                    case StoreAppliedResult():
                        self.store.insert_applied_result(
                            effect.result_id, effect.lease_id, effect.job_id, effect.at
                        )
                    case PublishJobEvent() if effect.job.id not in published:
                        self._sequence += 1
                        effect.job.sequence = self._sequence
                        published[effect.job.id] = effect.job
            for job in jobs.values():
                self.store.update_job(job)
            for job in progress.values():
                if job.id not in jobs:
                    self.store.update_progress(job)
            for job in published.values():
                self.store.set_sequence(job.id, job.sequence)
            for hook in self.write_hooks:
                hook(effects, list(published.values()))
        return True

    def _send(self, effect: Effect, gate: int) -> None:
        """Send one effect's message once commit number gate is durable (0: at once)."""
        match effect:
            case SendWelcome():
                self._send_welcome(effect, gate)
            case GrantLease():
                self._send_lease(effect, gate)
            case SendCancel():
                logger.info(
                    "job=%s lease=%s attempt=%d agent=%s: cancel sent: %s",
                    effect.job_id,
                    effect.lease_id,
                    effect.attempt,
                    effect.agent_id,
                    effect.reason,
                )
                cancel = agent_pb2.Cancel(
                    lease_id=effect.lease_id, job_id=effect.job_id, reason=effect.reason
                )
                self.send_to_agent(
                    effect.agent_id, agent_pb2.ControllerMessage(cancel=cancel), gate
                )
            case SendAck():
                self._send_ack(effect, gate)
            case AppendLog():
                self._append_log(effect)

    def _send_lease(self, effect: GrantLease, gate: int) -> None:
        job = self.scheduler.jobs[effect.job_id]
        logger.debug(
            "job=%s lease=%s attempt=%d agent=%s: sending the lease",
            effect.job_id,
            effect.lease_id,
            effect.attempt,
            effect.agent_id,
        )
        lease = agent_pb2.Lease(
            lease_id=effect.lease_id,
            job_id=effect.job_id,
            attempt=effect.attempt,
            task=build_task(job),
        )
        self.send_to_agent(effect.agent_id, agent_pb2.ControllerMessage(lease=lease), gate)

    def _send_ack(self, effect: SendAck, gate: int) -> None:
        lease = effect.lease
        logger.log(
            logging.INFO if effect.accepted else logging.WARNING,
            "job=%s lease=%s attempt=%d agent=%s: result %s %s: %s",
            lease.job_id,
            lease.lease_id,
            lease.attempt,
            effect.agent_id,
            effect.result_id,
            "accepted" if effect.accepted else "rejected",
            effect.reason,
        )
        ack = agent_pb2.Ack(
            result_id=effect.result_id,
            lease_id=lease.lease_id,
            accepted=effect.accepted,
            reason=effect.reason,
        )
        self.send_to_agent(effect.agent_id, agent_pb2.ControllerMessage(ack=ack), gate)

    def _send_welcome(self, effect: SendWelcome, gate: int) -> None:
        for lease in effect.stale_leases:
            logger.warning(
                "job=%s lease=%s attempt=%d agent=%s: the agent runs a lease that is not "
                "current; the Welcome tells it to stop",
                lease.job_id,
                lease.lease_id,
                lease.attempt,
                effect.agent_id,
            )
        welcome = agent_pb2.Welcome(
            controller_version=self.controller_version,
            heartbeat_interval_ms=round(self.config.heartbeat_interval * 1000),
            lease_grace_ms=round(self.config.lease_grace * 1000),
            stop_lease_ids=[lease.lease_id for lease in effect.stale_leases],
        )
        self.send_to_agent(effect.agent_id, agent_pb2.ControllerMessage(welcome=welcome), gate)

    def _append_log(self, effect: AppendLog) -> None:
        lease = effect.lease
        try:
            missing = self.logs.append(lease.job_id, lease.attempt, effect.offset, effect.data)
        except OSError as error:
            problem = f"storing a log chunk failed: {error}"
        else:
            if missing == 0:
                return
            problem = f"{missing} bytes of the log are missing before offset {effect.offset}"
        logger.warning(
            "job=%s lease=%s attempt=%d agent=%s: %s",
            lease.job_id,
            lease.lease_id,
            lease.attempt,
            effect.agent_id,
            problem,
        )

    def send_to_agent(
        self, agent_id: str, message: agent_pb2.ControllerMessage, gate: int = 0
    ) -> None:
        """Send message once commit number gate is durable, after earlier messages to agent_id.

        gate=-1 means the newest commit so far.
        """
        self.outgoing.after_commit(agent_id, gate, lambda: self._put(agent_id, message))

    def _put(self, agent_id: str, message: agent_pb2.ControllerMessage) -> None:
        connection = self._connections.get(agent_id)
        if connection is None:
            # The agent learns of it on reconnect: a Welcome lists stale leases, cancels repeat.
            logger.info(
                "agent=%s is not connected; dropped a %s", agent_id, message.WhichOneof("body")
            )
            return
        connection.send(message)

    def _publish(self, job: JobRecord, gate: int) -> None:
        if not self.bus.has_watchers(job.id):
            return
        # The event is built now: the job may change again before the commit is durable.
        message = messages.job_message(job, self.store.history(job.id))
        event = jobs_pb2.JobEvent(sequence=job.sequence, job=message)
        self.outgoing.after_commit(_EVENTS_KEY, gate, lambda: self.bus.publish(event))


_SENDS = (SendWelcome, GrantLease, SendCancel, SendAck, AppendLog)
# The order key of published job events in Durability; agent ids key the agents' messages.
_EVENTS_KEY = "\0job events"


def _log_transition(effect: StoreTransition) -> None:
    transition = effect.transition
    state = transition.state.value
    if transition.stage.value:
        state = f"{state}/{transition.stage.value}"
    logger.info(
        "job=%s lease=%s attempt=%d agent=%s: %s (%s)",
        effect.job_id,
        effect.lease_id or "-",
        transition.attempt,
        transition.agent_id or "-",
        state,
        transition.cause,
    )
