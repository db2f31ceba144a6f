"""Records, events and effects of the scheduler.

The scheduler keeps JobRecord, LeaseRecord and AgentRecord objects in memory. The adapters feed
it events and apply the effects it returns: store writes, messages on agent streams and job
events for watchers. Times are seconds since the Unix epoch, as time.time() returns them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

from controller.jobspec.models import JobSpec


class JobState(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    LEASED = "leased"
    RENDERING = "rendering"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({JobState.FINISHED, JobState.FAILED, JobState.CANCELLED})
RUNNING_STATES = frozenset({JobState.LEASED, JobState.RENDERING})


class Stage(StrEnum):
    NONE = ""
    DOWNLOAD = "download"
    PREPARE = "prepare"
    RENDER = "render"
    ENCODE = "encode"
    UPLOAD = "upload"


class LeaseState(StrEnum):
    # Granted and renewed by heartbeats that list it.
    ACTIVE = "active"
    # A result of the lease was applied: success, failure or cancellation.
    COMPLETED = "completed"
    # No heartbeat listed the lease within the lease grace.
    EXPIRED = "expired"
    # The agent's Hello named the lease as interrupted by its last stop.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class OutputInfo:
    url: str
    size: int
    sha256: str
    name: str


@dataclass(frozen=True)
class JobErrorInfo:
    code: str
    message: str
    retryable: bool = False


@dataclass(frozen=True)
class Transition:
    state: JobState
    stage: Stage
    at: float
    cause: str
    attempt: int
    agent_id: str


@dataclass(frozen=True)
class ChildInput:
    """The output of a finished child, as its parent's render task receives it.

    input_index is the child's position in the parent spec's children (render parent) or
    join_inputs (join parent).
    """

    input_index: int
    src: str
    sha256: str
    name: str
    layer_name: str
    composition: str


@dataclass
class JobRecord:
    id: str
    spec: JobSpec
    kind: str
    parent_id: str | None
    root_id: str
    # Position in the parent spec's children or join_inputs; 0 for a root.
    input_index: int
    # For a child of a render parent: the parent's layer and composition that receive its output.
    layer_name: str
    target_composition: str
    # The composition this job renders; empty for a join.
    composition: str
    priority: int
    engine: str
    pools: tuple[str, ...]
    state: JobState
    created_at: float
    updated_at: float
    source: str = ""
    stage: Stage = Stage.NONE
    # Number of leases granted so far.
    attempts: int = 0
    # 0 to 100, or -1 when the agent cannot tell.
    progress: float = 0.0
    frames_done: int = 0
    frames_total: int = 0
    # Input bytes of the finished attempt: fetched over the network, and taken from the cache.
    bytes_fetched: int = 0
    bytes_from_cache: int = 0
    error: JobErrorInfo | None = None
    outputs: list[OutputInfo] = field(default_factory=list)
    # Set when the parent is promoted: one entry per child, in input_index order.
    inputs: list[ChildInput] = field(default_factory=list)
    # The current lease and its agent; None when no lease is active.
    lease_id: str | None = None
    agent_id: str | None = None
    # Set once a cancel is requested; the job stays leased or rendering until the agent confirms.
    cancel_reason: str | None = None
    child_ids: list[str] = field(default_factory=list)
    # Sequence number of the last job event about this job.
    sequence: int = 0
    # Kept in memory only: a retry is not dispatched before this time.
    not_before: float = 0.0
    # Kept in memory only: leases that ended without a charge to max_attempts, such as an
    # agent that was busy or stopping.
    free_attempts: int = 0
    # Kept in memory only: agents whose lease of this job failed or was lost.
    avoid_agents: set[str] = field(default_factory=set)

    @functools.cached_property
    def spec_json(self) -> str:
        """The spec as JSON, encoded once: a job's spec never changes after it is created."""
        return self.spec.model_dump_json()


@dataclass
class LeaseRecord:
    lease_id: str
    job_id: str
    attempt: int
    agent_id: str
    state: LeaseState
    granted_at: float
    renewed_at: float
    ended_at: float | None = None
    result_id: str | None = None


@dataclass(frozen=True)
class EngineInfo:
    name: str
    version: str
    path: str
    available: bool
    unavailable_reason: str = ""


@dataclass
class AgentRecord:
    agent_id: str
    host: str
    version: str
    engines: tuple[EngineInfo, ...]
    slots: int
    pools: frozenset[str]
    fonts: tuple[str, ...]
    connected: bool
    connected_at: float
    last_seen: float
    # Active leases held by the agent; kept by the scheduler, not stored.
    lease_ids: set[str] = field(default_factory=set)
    # Set by an operator (DrainAgent): the agent finishes its leases and gets no new ones.
    draining: bool = False
    # Set after the agent failed quarantine_after different jobs in a row; cleared by
    # ResumeAgent. While set the agent gets no new leases.
    quarantine_reason: str = ""
    # Ids of the jobs the agent failed in a row, oldest first; reset by a success.
    failed_jobs: list[str] = field(default_factory=list)
    # True when the agent's Hello or last heartbeat reported that it is stopping. Not stored.
    stopping: bool = False

    def takes_leases(self) -> bool:
        return (
            self.connected
            and not self.draining
            and not self.stopping
            and not self.quarantine_reason
        )

    def available_engines(self) -> set[str]:
        return {engine.name for engine in self.engines if engine.available}


# Events.


@dataclass(frozen=True)
class LeaseRef:
    """A lease as an agent names it: id, job and attempt."""

    lease_id: str
    job_id: str
    attempt: int


@dataclass(frozen=True)
class JobsSubmitted:
    """A job tree that the store already holds, parent before children."""

    jobs: tuple[JobRecord, ...]


@dataclass(frozen=True)
class AgentConnected:
    agent: AgentRecord
    running: tuple[LeaseRef, ...] = ()
    interrupted: tuple[LeaseRef, ...] = ()


@dataclass(frozen=True)
class AgentDisconnected:
    agent_id: str


@dataclass(frozen=True)
class HeartbeatReceived:
    agent_id: str
    running: tuple[LeaseRef, ...] = ()
    draining: bool = False


@dataclass(frozen=True)
class ProgressReported:
    agent_id: str
    lease: LeaseRef
    stage: Stage
    percent: float
    frames_done: int = 0
    frames_total: int = 0


@dataclass(frozen=True)
class LogReceived:
    agent_id: str
    lease: LeaseRef
    offset: int
    data: bytes


@dataclass(frozen=True)
class ResultReceived:
    agent_id: str
    result_id: str
    lease: LeaseRef
    success: bool
    outputs: tuple[OutputInfo, ...] = ()
    error: JobErrorInfo | None = None
    # artifact:// output URLs whose file the artifact store does not have.
    missing_outputs: tuple[str, ...] = ()
    bytes_fetched: int = 0
    bytes_from_cache: int = 0


@dataclass(frozen=True)
class Tick:
    """The clock moved on: leases not renewed within the lease grace expire."""


@dataclass(frozen=True)
class CancelRequested:
    job_id: str
    reason: str


@dataclass(frozen=True)
class AgentDrainSet:
    """An operator drains an agent (draining=True) or resumes it (also ends a quarantine)."""

    agent_id: str
    draining: bool


Event = (
    JobsSubmitted
    | AgentConnected
    | AgentDisconnected
    | HeartbeatReceived
    | ProgressReported
    | LogReceived
    | ResultReceived
    | Tick
    | CancelRequested
    | AgentDrainSet
)


# Effects.


@dataclass(frozen=True)
class SendWelcome:
    agent_id: str
    # Leases the agent named in its Hello that are no longer current.
    stale_leases: tuple[LeaseRef, ...]


@dataclass(frozen=True)
class GrantLease:
    agent_id: str
    lease_id: str
    job_id: str
    attempt: int


@dataclass(frozen=True)
class SendCancel:
    agent_id: str
    lease_id: str
    job_id: str
    attempt: int
    reason: str


@dataclass(frozen=True)
class SendAck:
    agent_id: str
    result_id: str
    lease: LeaseRef
    accepted: bool
    reason: str


@dataclass(frozen=True)
class StoreJob:
    """Write every mutable column of the job."""

    job: JobRecord


@dataclass(frozen=True)
class StoreProgress:
    """Write only the stage, progress and frame counts of the job."""

    job: JobRecord


@dataclass(frozen=True)
class StoreTransition:
    job_id: str
    lease_id: str
    transition: Transition


@dataclass(frozen=True)
class StoreLease:
    lease: LeaseRecord


@dataclass(frozen=True)
class StoreAgent:
    agent: AgentRecord


@dataclass(frozen=True)
class StoreAgentControl:
    """Write the operator's drain and the quarantine of an agent, kept across restarts."""

    agent_id: str
    draining: bool
    quarantine_reason: str


@dataclass(frozen=True)
class StoreAppliedResult:
    result_id: str
    lease_id: str
    job_id: str
    at: float


@dataclass(frozen=True)
class AppendLog:
    agent_id: str
    lease: LeaseRef
    offset: int
    data: bytes


@dataclass(frozen=True)
class PublishJobEvent:
    job: JobRecord


Effect = (
    SendWelcome
    | GrantLease
    | SendCancel
    | SendAck
    | StoreJob
    | StoreProgress
    | StoreTransition
    | StoreLease
    | StoreAgent
    | StoreAgentControl
    | StoreAppliedResult
    | AppendLog
    | PublishJobEvent
)


@dataclass(frozen=True)
class SchedulerConfig:
    # How often agents send a heartbeat, in seconds; sent to agents in the Welcome.
    heartbeat_interval: float = 5.0
    # Seconds a lease lives without a heartbeat that lists it.
    lease_grace: float = 30.0
    # Attempts a job gets before a retryable failure fails it for good.
    max_attempts: int = 3
    # Seconds before the retry after attempt n: retry_delay * 2 ** (n - 1), at most
    # retry_delay_max. 0 retries at once.
    retry_delay: float = 2.0
    retry_delay_max: float = 60.0
    # An agent that fails this many different jobs in a row is quarantined; 0 never.
    quarantine_after: int = 3


# Error codes that fail a job at once, whatever the retryable flag, because a retry renders
# the same.
FINAL_ERROR_CODES = frozenset(
    {
        "comp_not_found",
        "template_not_found",
        "template_invalid",
        "layer_not_found",
        "property_not_found",
        "invalid_frame_range",
        # The project patches of agent/patch.py, which fail the same way on every agent.
        "layer_ambiguous",
        "unsupported_property",
        "invalid_value",
        "controller_not_found",
        "controller_ambiguous",
        "layer_not_precomp",
        # A script or function asset of the job threw.
        "script_error",
    }
)
# Error codes of an agent that did not run the lease: busy, stopping, or sent a stop for it. The
# lease costs no attempt and the job is retried at once on another agent.
FREE_ERROR_CODES = frozenset({"agent_busy", "agent_shutdown", "lease_not_current"})
# Error codes that tell nothing about the agent's health, so they do not count towards
# quarantine.
NOT_AGENT_FAULT_CODES = FINAL_ERROR_CODES | FREE_ERROR_CODES | {"cancelled", "fetch_failed"}
