"""The SQLite schema of the store and the mapping between its rows and the records."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from dataclasses import asdict
from typing import Any

from controller.jobspec.models import JobSpec
from controller.scheduler_types import (
    FINAL_STATES,
    AgentRecord,
    ChildInput,
    EngineInfo,
    JobErrorInfo,
    JobRecord,
    JobState,
    LeaseRecord,
    LeaseState,
    OutputInfo,
    Stage,
)
from controller.store import InvalidPageToken

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 4

SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES jobs(id),
    root_id TEXT NOT NULL,
    input_index INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    layer_name TEXT NOT NULL,
    target_composition TEXT NOT NULL,
    composition TEXT NOT NULL,
    priority INTEGER NOT NULL,
    engine TEXT NOT NULL,
    pools_json TEXT NOT NULL,
    source TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    progress REAL NOT NULL,
    frames_done INTEGER NOT NULL,
    frames_total INTEGER NOT NULL,
    error_json TEXT,
    outputs_json TEXT NOT NULL,
    inputs_json TEXT NOT NULL,
    lease_id TEXT,
    agent_id TEXT,
    cancel_reason TEXT,
    sequence INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_parent ON jobs(parent_id);
CREATE INDEX jobs_root ON jobs(root_id);
CREATE INDEX jobs_created ON jobs(created_at, id);
CREATE TABLE transitions (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    at REAL NOT NULL,
    cause TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    agent_id TEXT NOT NULL
);
CREATE INDEX transitions_job ON transitions(job_id);
CREATE TABLE leases (
    lease_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    attempt INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    state TEXT NOT NULL,
    granted_at REAL NOT NULL,
    renewed_at REAL NOT NULL,
    ended_at REAL,
    result_id TEXT
);
CREATE INDEX leases_state ON leases(state);
CREATE INDEX leases_job ON leases(job_id);
CREATE TABLE applied_results (
    result_id TEXT PRIMARY KEY,
    lease_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    version TEXT NOT NULL,
    engines_json TEXT NOT NULL,
    slots INTEGER NOT NULL,
    pools_json TEXT NOT NULL,
    fonts_json TEXT NOT NULL,
    connected INTEGER NOT NULL,
    connected_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE artifacts (
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (sha256, name)
);
"""

# Additive migrations: MIGRATIONS[n] turns schema version n - 1 into version n. A new store runs
# SCHEMA and then every migration in order.
MIGRATIONS: dict[int, str] = {
    # Webhook deliveries (a durable outbox), their attempts, stored job events for watchers,
    # and batches of jobs submitted together.
    2: """
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    event TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    headers_json TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries(state, next_at);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries(job_id);
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id),
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX webhook_attempts_job ON webhook_attempts(job_id);
CREATE TABLE job_events (
    sequence INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    root_id TEXT NOT NULL,
    at REAL NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE INDEX job_events_root ON job_events(root_id, sequence);
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE batch_jobs (
    batch_id TEXT NOT NULL REFERENCES batches(id),
    position INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (batch_id, position)
);
""",
    # Templates known to the controller (controller/templates.py): a stored .aep and what
    # inspecting it found, as JSON.
    3: """
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    info_json TEXT NOT NULL
);
CREATE INDEX templates_sha256 ON templates(sha256);
""",
    # Input bytes of a job's finished attempt, from the agent's result.
    4: """
ALTER TABLE jobs ADD COLUMN bytes_fetched INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN bytes_from_cache INTEGER NOT NULL DEFAULT 0;
""",
}

# The operator's drain and the quarantine of each agent, kept across controller restarts.
AGENT_CONTROLS_TABLE = """
CREATE TABLE IF NOT EXISTS agent_controls (
    agent_id TEXT PRIMARY KEY,
    draining INTEGER NOT NULL,
    quarantine_reason TEXT NOT NULL
)
"""

# Columns that change after a job is created; the others are written once by insert_job.
MUTABLE_JOB_COLUMNS = (
    "state", "stage", "attempts", "progress", "frames_done", "frames_total", "bytes_fetched",
    "bytes_from_cache", "error_json",
    "outputs_json", "inputs_json", "lease_id", "agent_id", "cancel_reason", "updated_at",
)  # fmt: skip
UNFINISHED_STATES = tuple(state.value for state in JobState if state not in FINAL_STATES)


def mutable_job_values(job: JobRecord) -> list[Any]:
    """Return the values of MUTABLE_JOB_COLUMNS, in that order, without encoding the spec."""
    return [
        job.state.value,
        job.stage.value,
        job.attempts,
        job.progress,
        job.frames_done,
        job.frames_total,
        job.bytes_fetched,
        job.bytes_from_cache,
        json.dumps(asdict(job.error)) if job.error else None,
        json.dumps([asdict(output) for output in job.outputs]),
        json.dumps([asdict(child) for child in job.inputs]),
        job.lease_id,
        job.agent_id,
        job.cancel_reason,
        job.updated_at,
    ]


def job_row(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "parent_id": job.parent_id,
        "root_id": job.root_id,
        "input_index": job.input_index,
        "kind": job.kind,
        "state": job.state.value,
        "stage": job.stage.value,
        "spec_json": job.spec_json,
        "layer_name": job.layer_name,
        "target_composition": job.target_composition,
        "composition": job.composition,
        "priority": job.priority,
        "engine": job.engine,
        "pools_json": json.dumps(list(job.pools)),
        "source": job.source,
        "attempts": job.attempts,
        "progress": job.progress,
        "frames_done": job.frames_done,
        "frames_total": job.frames_total,
        "bytes_fetched": job.bytes_fetched,
        "bytes_from_cache": job.bytes_from_cache,
        "error_json": json.dumps(asdict(job.error)) if job.error else None,
        "outputs_json": json.dumps([asdict(output) for output in job.outputs]),
        "inputs_json": json.dumps([asdict(child) for child in job.inputs]),
        "lease_id": job.lease_id,
        "agent_id": job.agent_id,
        "cancel_reason": job.cancel_reason,
        "sequence": job.sequence,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def job_record(row: sqlite3.Row) -> JobRecord:
    error = json.loads(row["error_json"]) if row["error_json"] else None
    return JobRecord(
        id=row["id"],
        spec=JobSpec.model_validate_json(row["spec_json"]),
        kind=row["kind"],
        parent_id=row["parent_id"],
        root_id=row["root_id"],
        input_index=row["input_index"],
        layer_name=row["layer_name"],
        target_composition=row["target_composition"],
        composition=row["composition"],
        priority=row["priority"],
        engine=row["engine"],
        pools=tuple(json.loads(row["pools_json"])),
        state=JobState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        source=row["source"],
        stage=Stage(row["stage"]),
        attempts=row["attempts"],
        progress=row["progress"],
        frames_done=row["frames_done"],
        frames_total=row["frames_total"],
        bytes_fetched=row["bytes_fetched"],
        bytes_from_cache=row["bytes_from_cache"],
        error=JobErrorInfo(**error) if error else None,
        outputs=[OutputInfo(**output) for output in json.loads(row["outputs_json"])],
        inputs=[ChildInput(**child) for child in json.loads(row["inputs_json"])],
        lease_id=row["lease_id"],
        agent_id=row["agent_id"],
        cancel_reason=row["cancel_reason"],
        sequence=row["sequence"],
    )


def lease_record(row: sqlite3.Row) -> LeaseRecord:
    return LeaseRecord(
        lease_id=row["lease_id"],
        job_id=row["job_id"],
        attempt=row["attempt"],
        agent_id=row["agent_id"],
        state=LeaseState(row["state"]),
        granted_at=row["granted_at"],
        renewed_at=row["renewed_at"],
        ended_at=row["ended_at"],
        result_id=row["result_id"],
    )


def agent_record(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        agent_id=row["agent_id"],
        host=row["host"],
        version=row["version"],
        engines=tuple(EngineInfo(**engine) for engine in json.loads(row["engines_json"])),
        slots=row["slots"],
        pools=frozenset(json.loads(row["pools_json"])),
        fonts=tuple(json.loads(row["fonts_json"])),
        connected=bool(row["connected"]),
        connected_at=row["connected_at"],
        last_seen=row["last_seen"],
    )


def encode_page_token(created_at: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, job_id]).encode()).decode()


def decode_page_token(token: str) -> tuple[float, str]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(created_at), str(job_id)
    except (ValueError, TypeError) as error:
        raise InvalidPageToken(
            f"page_token {token!r} is not a token from ListJobs; "
            "pass next_page_token of the previous page"
        ) from error
