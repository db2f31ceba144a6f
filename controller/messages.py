"""Conversions between the scheduler's records and the protobuf messages of the contract."""

from __future__ import annotations

import logging

from google.protobuf.timestamp_pb2 import Timestamp

from controller.scheduler_types import (
    AgentRecord,
    EngineInfo,
    JobErrorInfo,
    JobRecord,
    JobState,
    LeaseRecord,
    LeaseRef,
    OutputInfo,
    Stage,
    Transition,
)
from protos import agent_pb2, common_pb2, jobs_pb2

logger = logging.getLogger(__name__)

JOB_STATES: dict[JobState, common_pb2.JobState.ValueType] = {
    JobState.PENDING: common_pb2.JOB_STATE_PENDING,
    JobState.QUEUED: common_pb2.JOB_STATE_QUEUED,
    JobState.LEASED: common_pb2.JOB_STATE_LEASED,
    JobState.RENDERING: common_pb2.JOB_STATE_RENDERING,
    JobState.FINISHED: common_pb2.JOB_STATE_FINISHED,
    JobState.FAILED: common_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: common_pb2.JOB_STATE_CANCELLED,
}
STATES_BY_PROTO = {value: state for state, value in JOB_STATES.items()}
STAGES: dict[Stage, common_pb2.Stage.ValueType] = {
    Stage.NONE: common_pb2.STAGE_UNSPECIFIED,
    Stage.DOWNLOAD: common_pb2.STAGE_DOWNLOAD,
    Stage.PREPARE: common_pb2.STAGE_PREPARE,
    Stage.RENDER: common_pb2.STAGE_RENDER,
    Stage.ENCODE: common_pb2.STAGE_ENCODE,
    Stage.UPLOAD: common_pb2.STAGE_UPLOAD,
}
STAGES_BY_PROTO = {value: stage for stage, value in STAGES.items()}


def timestamp(seconds: float) -> Timestamp:
    message = Timestamp()
    message.FromNanoseconds(int(seconds * 1e9))
    return message


def job_message(job: JobRecord, history: list[Transition]) -> jobs_pb2.Job:
    message = jobs_pb2.Job(
        id=job.id,
        state=JOB_STATES[job.state],
        stage=STAGES[job.stage],
        progress=job.progress,
        parent_id=job.parent_id or "",
        child_ids=job.child_ids,
        attempts=job.attempts,
        outputs=[output_message(output) for output in job.outputs],
        history=[transition_message(transition) for transition in history],
        kind=job.kind,
        layer_name=job.layer_name,
        priority=job.priority,
        composition=job.composition,
        engine=job.engine,
        agent_id=job.agent_id or "",
        created_at=timestamp(job.created_at),
        updated_at=timestamp(job.updated_at),
        spec_json=job.spec_json,
        uid=job.spec.uid or "",
        tags=job.spec.tags,
        frames_done=job.frames_done,
        frames_total=job.frames_total,
        bytes_fetched=job.bytes_fetched,
        bytes_from_cache=job.bytes_from_cache,
    )
    if job.error is not None:
        message.error.CopyFrom(error_message(job.error))
    return message


def transition_message(transition: Transition) -> common_pb2.Transition:
    return common_pb2.Transition(
        state=JOB_STATES[transition.state],
        stage=STAGES[transition.stage],
        at=timestamp(transition.at),
        cause=transition.cause,
        attempt=transition.attempt,
        agent_id=transition.agent_id,
    )


def output_message(output: OutputInfo) -> common_pb2.Output:
    return common_pb2.Output(
        url=output.url, size=output.size, sha256=output.sha256, name=output.name
    )


def error_message(error: JobErrorInfo) -> common_pb2.JobError:
    return common_pb2.JobError(code=error.code, message=error.message, retryable=error.retryable)


def output_info(message: common_pb2.Output) -> OutputInfo:
    return OutputInfo(url=message.url, size=message.size, sha256=message.sha256, name=message.name)


def error_info(message: common_pb2.JobError) -> JobErrorInfo:
    return JobErrorInfo(code=message.code, message=message.message, retryable=message.retryable)


def lease_ref(message: agent_pb2.RunningLease) -> LeaseRef:
    return LeaseRef(message.lease_id, message.job_id, message.attempt)


def agent_record(hello: agent_pb2.Hello, now: float) -> AgentRecord:
    engines = tuple(
        EngineInfo(
            name=engine.name,
            version=engine.version,
            path=engine.path,
            available=engine.available,
            unavailable_reason=engine.unavailable_reason,
        )
        for engine in hello.engines
    )
    return AgentRecord(
        agent_id=hello.agent_id,
        host=hello.host,
        version=hello.version,
        engines=engines,
        slots=hello.slots,
        pools=frozenset(hello.pools),
        fonts=tuple(hello.fonts),
        connected=True,
        connected_at=now,
        last_seen=now,
        stopping=hello.draining,
    )


def agent_message(agent: AgentRecord, leases: list[LeaseRecord]) -> jobs_pb2.AgentInfo:
    return jobs_pb2.AgentInfo(
        agent_id=agent.agent_id,
        host=agent.host,
        version=agent.version,
        engines=[
            agent_pb2.Engine(
                name=engine.name,
                version=engine.version,
                path=engine.path,
                available=engine.available,
                unavailable_reason=engine.unavailable_reason,
            )
            for engine in agent.engines
        ],
        slots=agent.slots,
        pools=sorted(agent.pools),
        state="connected" if agent.connected else "disconnected",
        running=[
            agent_pb2.RunningLease(
                lease_id=lease.lease_id, job_id=lease.job_id, attempt=lease.attempt
            )
            for lease in leases
        ],
        last_seen=timestamp(agent.last_seen),
        connected_at=timestamp(agent.connected_at),
        draining=agent.draining or agent.stopping,
        quarantine_reason=agent.quarantine_reason,
    )
