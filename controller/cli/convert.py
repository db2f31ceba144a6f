"""Conversion of the controller's messages into the plain dicts that --json prints.

States and stages are lower-case names without their enum prefix ("rendering", "render").
Times are ISO 8601 in UTC with a Z suffix. An unset field is None rather than an empty string
or zero, so scripts can test for it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any

from google.protobuf import timestamp_pb2

from protos import agent_pb2, common_pb2, jobs_pb2

logger = logging.getLogger(__name__)

FINAL_STATES = frozenset(
    {
        common_pb2.JOB_STATE_FINISHED,
        common_pb2.JOB_STATE_FAILED,
        common_pb2.JOB_STATE_CANCELLED,
    }
)


def state_name(state: int) -> str:
    """Return "queued" for JOB_STATE_QUEUED, and "job_state_9" for an unknown number."""
    return enum_short_name(common_pb2.JobState, state, "JOB_STATE_")


def stage_name(stage: int) -> str | None:
    """Return "render" for STAGE_RENDER, or None for STAGE_UNSPECIFIED."""
    if stage == common_pb2.STAGE_UNSPECIFIED:
        return None
    return enum_short_name(common_pb2.Stage, stage, "STAGE_")


def state_value(name: str) -> common_pb2.JobState.ValueType:
    """Return the JobState for a name that state_name returns, such as "failed"."""
    return common_pb2.JobState.Value("JOB_STATE_" + name.upper())


def enum_short_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name: str = enum.Name(value)
    except ValueError:
        return f"{prefix.lower().rstrip('_')}_{value}"
    return name.removeprefix(prefix).lower()


# The states a user can filter by, in life-cycle order.
STATE_NAMES = tuple(
    state_name(value)
    for value in common_pb2.JobState.values()
    if value != common_pb2.JOB_STATE_UNSPECIFIED
)


def timestamp_to_iso(timestamp: timestamp_pb2.Timestamp) -> str | None:
    """Return "2026-03-01T09:30:00.250Z", or None for an unset timestamp."""
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return None
    moment = timestamp.ToDatetime(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def optional_text(text: str) -> str | None:
    return text or None


def progress_value(progress: float) -> float | None:
    """Return the progress in percent, or None when the controller sends -1 for unknown."""
    return None if progress < 0 else round(progress, 2)


def output_to_dict(output: common_pb2.Output) -> dict[str, Any]:
    return {
        "url": output.url,
        "size": output.size,
        "sha256": output.sha256,
        "name": output.name,
    }


def error_to_dict(job: jobs_pb2.Job) -> dict[str, Any] | None:
    if not job.HasField("error") or not (job.error.code or job.error.message):
        return None
    return {
        "code": job.error.code,
        "message": job.error.message,
        "retryable": job.error.retryable,
    }


def transition_to_dict(transition: common_pb2.Transition) -> dict[str, Any]:
    return {
        "state": state_name(transition.state),
        "stage": stage_name(transition.stage),
        "at": timestamp_to_iso(transition.at),
        "cause": transition.cause,
        "attempt": transition.attempt or None,
        "agent": optional_text(transition.agent_id),
    }


def job_to_dict(job: jobs_pb2.Job) -> dict[str, Any]:
    """Return the JSON form of a job, with its spec parsed when the controller sent it."""
    return {
        "id": job.id,
        "state": state_name(job.state),
        "stage": stage_name(job.stage),
        "progress": progress_value(job.progress),
        "parent": optional_text(job.parent_id),
        "children": list(job.child_ids),
        "attempts": job.attempts,
        "outputs": [output_to_dict(output) for output in job.outputs],
        "error": error_to_dict(job),
        "history": [transition_to_dict(transition) for transition in job.history],
        "kind": job.kind,
        "layer_name": optional_text(job.layer_name),
        "priority": job.priority,
        "composition": optional_text(job.composition),
        "engine": optional_text(job.engine),
        "agent": optional_text(job.agent_id),
        "created_at": timestamp_to_iso(job.created_at),
        "updated_at": timestamp_to_iso(job.updated_at),
        "frames_done": job.frames_done,
        "frames_total": job.frames_total or None,
        "stats": {"bytes_fetched": job.bytes_fetched, "bytes_from_cache": job.bytes_from_cache},
        "uid": optional_text(job.uid),
        "tags": list(job.tags),
        "waiting_reason": optional_text(job.waiting_reason),
        "spec": parse_spec(job),
    }


def parse_spec(job: jobs_pb2.Job) -> Any:
    if not job.spec_json:
        return None
    try:
        return json.loads(job.spec_json)
    except json.JSONDecodeError as error:
        # The spec is informational here, so a bad one must not hide the rest of the job.
        logger.warning("job %s has a spec that is not JSON: %s", job.id, error)
        return job.spec_json


def submit_response_to_dict(response: jobs_pb2.SubmitResponse) -> dict[str, Any]:
    return {
        "job": job_to_dict(response.job),
        "children": [job_to_dict(child) for child in response.children],
    }


def event_to_dict(event: jobs_pb2.JobEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "tree_progress": progress_value(event.tree_progress),
        "job": job_to_dict(event.job),
    }


def engine_to_dict(engine: agent_pb2.Engine) -> dict[str, Any]:
    return {
        "name": engine.name,
        "version": engine.version,
        "path": engine.path,
        "available": engine.available,
        "unavailable_reason": optional_text(engine.unavailable_reason),
    }


def agent_to_dict(agent: jobs_pb2.AgentInfo) -> dict[str, Any]:
    return {
        "id": agent.agent_id,
        "host": agent.host,
        "version": agent.version,
        "state": agent.state,
        "engines": [engine_to_dict(engine) for engine in agent.engines],
        "slots": agent.slots,
        "running": [
            {"lease_id": lease.lease_id, "job_id": lease.job_id, "attempt": lease.attempt}
            for lease in agent.running
        ],
        "pools": list(agent.pools),
        "last_seen": timestamp_to_iso(agent.last_seen),
        "connected_at": timestamp_to_iso(agent.connected_at),
        "draining": agent.draining,
        "quarantine_reason": agent.quarantine_reason,
    }
