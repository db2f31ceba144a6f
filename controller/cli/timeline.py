"""The timeline lines of `aefarm job ID`: when the job was created, queued, started and ended,
how long it rendered, and each webhook call with the response status."""

from __future__ import annotations

import logging
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from controller.cli.convert import timestamp_to_iso
from protos import common_pb2, jobs_pb2

logger = logging.getLogger(__name__)

_ENDS = {
    common_pb2.JOB_STATE_FINISHED: "finished",
    common_pb2.JOB_STATE_FAILED: "failed",
    common_pb2.JOB_STATE_CANCELLED: "cancelled",
}


def _first(job: jobs_pb2.Job, states: set[int]) -> Timestamp | None:
    return next((t.at for t in job.history if t.state in states), None)


def timeline(job: jobs_pb2.Job) -> dict[str, Any]:
    queued = _first(job, {common_pb2.JOB_STATE_QUEUED})
    started = _first(job, {common_pb2.JOB_STATE_RENDERING})
    ended = next((t for t in reversed(job.history) if t.state in _ENDS), None)
    seconds = None
    if started is not None and ended is not None:
        seconds = round((ended.at.ToNanoseconds() - started.ToNanoseconds()) / 1e9, 3)
    return {
        "created": timestamp_to_iso(job.created_at),
        "queued": timestamp_to_iso(queued) if queued is not None else None,
        "started": timestamp_to_iso(started) if started is not None else None,
        "ended": timestamp_to_iso(ended.at) if ended is not None else None,
        "end": _ENDS[ended.state] if ended is not None else None,
        "render_seconds": seconds,
        "webhook_attempts": [
            {
                "event": attempt.event,
                "attempt": attempt.attempt,
                "at": timestamp_to_iso(attempt.at),
                "status_code": attempt.status_code or None,
                "error": attempt.error or None,
                "delivery_state": attempt.delivery_state,
            }
            for attempt in job.webhook_attempts
        ],
    }


def timeline_lines(job: jobs_pb2.Job) -> list[str]:
    data = timeline(job)
    lines = ["timeline"]
    for label in ("created", "queued", "started", "ended"):
        value = data[label] or "-"
        if label == "ended" and data["end"]:
            value = f"{value} ({data['end']})"
        lines.append(f"  {label:<8}  {value}")
    if data["render_seconds"] is not None:
        lines.append(f"  {'rendered':<8}  {data['render_seconds']:.1f} s")
    if data["webhook_attempts"]:
        lines.append("webhook calls")
    for attempt in data["webhook_attempts"]:
        answer = attempt["status_code"] or attempt["error"] or "no answer"
        lines.append(
            f"  {attempt['at']}  {attempt['event']} #{attempt['attempt']}: {answer} "
            f"({attempt['delivery_state']})"
        )
    return lines
