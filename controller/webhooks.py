"""Job webhooks: the settings, the submit check, and the durable outbox of deliveries.

When a job with a webhook reaches a final state, a delivery row is written into the store in the
same transaction as the state change, so a crash cannot lose it. controller/webhook_delivery.py
sends the pending rows. The body follows Nexrender Cloud: id, status (finished, error or
manually_cancelled), outputUrl, stats, the job's data and its children's states.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from controller.jobspec.models import JobSpec
from controller.jobspec.nesting import nested_sources
from controller.jobspec.parse import Problem
from controller.scheduler_types import (
    Effect,
    JobRecord,
    JobState,
    StoreJob,
    StoreTransition,
    Transition,
)
from protos import jobs_pb2

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_SECONDS = 2.0
DEFAULT_TIMEOUT_SECONDS = 10.0

# The Nexrender Cloud status names of final states; a webhook fires on each of them.
EVENTS = {
    JobState.FINISHED: "finished",
    JobState.FAILED: "error",
    JobState.CANCELLED: "manually_cancelled",
}
STATUS_NAMES = {
    JobState.PENDING: "pending",
    JobState.QUEUED: "queued",
    JobState.LEASED: "picked",
    JobState.RENDERING: "render:dorender",
    **EVENTS,
}


@dataclass(frozen=True)
class WebhookConfig:
    # HMAC-SHA256 key of the X-Aefarm-Signature header; None sends no signature.
    secret: bytes | None = None
    # Hosts a webhook may call; empty allows every host.
    allowed_hosts: frozenset[str] = frozenset()
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # Delay before the second attempt; each later delay doubles.
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the controller's webhook flags."""
    parser.add_argument(
        "--webhook-secret-file",
        type=Path,
        help="file holding the key that signs webhook bodies (X-Aefarm-Signature header)",
    )
    parser.add_argument(
        "--webhook-allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host job webhooks may call; repeat for more; unset allows every host",
    )
    parser.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"calls of a webhook before it counts as failed (default: {DEFAULT_MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--webhook-retry-seconds",
        type=float,
        default=DEFAULT_RETRY_SECONDS,
        help="delay before the first retry, doubled for each later one "
        f"(default: {DEFAULT_RETRY_SECONDS:g})",
    )


def config_from_args(args: argparse.Namespace) -> WebhookConfig:
    secret = None
    if args.webhook_secret_file is not None:
        try:
            secret = args.webhook_secret_file.read_bytes().strip()
        except OSError as error:
            raise SystemExit(
                f"--webhook-secret-file {args.webhook_secret_file}: cannot read it ({error})"
            ) from error
        if not secret:
            raise SystemExit(f"--webhook-secret-file {args.webhook_secret_file} is empty")
    if args.webhook_max_attempts < 1:
        raise SystemExit(f"--webhook-max-attempts {args.webhook_max_attempts}: give 1 or more")
    return WebhookConfig(
        secret=secret,
        allowed_hosts=frozenset(host.lower() for host in args.webhook_allow_host),
        max_attempts=args.webhook_max_attempts,
        retry_seconds=args.webhook_retry_seconds,
    )


def url_problems(
    spec: JobSpec, config: WebhookConfig, raw: Any = None, path: str = "$"
) -> list[Problem]:
    """Reject webhook URLs that are not http(s) or whose host the controller does not allow.

    raw is the submitted JSON object, which gives the JSON paths of nested jobs. Without it, a
    nested job's problem is reported at the path of its parent's assets.
    """
    problems = []
    if spec.webhook is not None:
        parts = urlsplit(spec.webhook.url)
        at = f"{path}.webhook.url"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(Problem(at, "a webhook URL must start with http:// or https://"))
        elif config.allowed_hosts and parts.hostname.lower() not in config.allowed_hosts:
            allowed = ", ".join(sorted(config.allowed_hosts))
            problems.append(
                Problem(
                    at,
                    f"host {parts.hostname!r} is not one this controller calls; allowed: "
                    f"{allowed} (controller flag --webhook-allow-host)",
                )
            )
    nested = [child.job for child in spec.children]
    nested += [join_input.job for join_input in spec.join_inputs if join_input.job is not None]
    sources = nested_sources(raw, path)
    for index, job in enumerate(nested):
        if index < len(sources):
            problems += url_problems(job, config, sources[index].raw, sources[index].path)
        else:
            problems += url_problems(job, config, None, f"{path}.assets")
    return problems


@runtime_checkable
class Tables(Protocol):
    """The part of the store that modules with their own tables use."""

    def transaction(self, durable: bool = False) -> AbstractContextManager[None]: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int: ...

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]: ...

    def history(self, job_id: str) -> list[Transition]: ...

    def get_job(self, job_id: str) -> JobRecord | None: ...

    def get_jobs(self, job_ids: Iterable[str]) -> list[JobRecord]: ...


@dataclass
class Delivery:
    id: int
    job_id: str
    event: str
    idempotency_key: str
    url: str
    method: str
    headers: dict[str, str]
    body: str
    attempts: int
    next_at: float


@dataclass
class WebhookOutbox:
    """Writes a delivery for every final state of a job with a webhook, and reads them back."""

    store: Tables
    clock: Any
    # Called after a delivery is written, to wake the sender.
    on_new: Any = None
    _new_rows: int = field(default=0, init=False)

    def write_hook(self, effects: list[Effect], published: list[JobRecord]) -> None:
        written = {effect.job.id: effect.job for effect in effects if isinstance(effect, StoreJob)}
        for effect in effects:
            if not isinstance(effect, StoreTransition):
                continue
            event = EVENTS.get(effect.transition.state)
            if event is None:
                continue
            # The job as this transaction wrote it: the scheduler may already have let go of it.
            job = written.get(effect.job_id) or self.store.get_job(effect.job_id)
            if job is None or job.spec.webhook is None:
                continue
            self._insert(job, event)
        if self._new_rows and self.on_new is not None:
            self._new_rows = 0
            self.on_new()

    def _insert(self, job: JobRecord, event: str) -> None:
        webhook = job.spec.webhook
        assert webhook is not None
        body = json.dumps(self.body(job, event), separators=(",", ":"), sort_keys=True)
        key = f"aefarm-{job.id}-{event}"
        self.store.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (job_id, event, idempotency_key, url, "
            "method, headers_json, body, state, attempts, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            (
                job.id,
                event,
                key,
                webhook.url,
                webhook.method.upper(),
                json.dumps(webhook.headers),
                body,
                self.clock(),
                self.clock(),
            ),
        )
        self._new_rows += 1
        logger.info("job=%s: webhook %s queued for %s", job.id, event, webhook.url)

    def body(self, job: JobRecord, event: str) -> dict[str, Any]:
        history = self.store.history(job.id)
        children = self.store.get_jobs(job.child_ids)
        return {
            "id": job.id,
            "uid": job.spec.uid,
            "status": event,
            "outputUrl": job.outputs[0].url if job.outputs else None,
            "outputs": [
                {"url": output.url, "size": output.size, "sha256": output.sha256}
                for output in job.outputs
            ],
            "stats": stats(job, history),
            "data": job.spec.webhook.data if job.spec.webhook else None,
            "children": [
                {
                    "id": child.id,
                    "status": STATUS_NAMES[child.state],
                    "outputUrl": child.outputs[0].url if child.outputs else None,
                }
                for child in children
            ],
        }

    def due(self, now: float) -> list[Delivery]:
        rows = self.store.query(
            "SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_at <= ? "
            "ORDER BY next_at, id",
            (now,),
        )
        return [_delivery(row) for row in rows]

    def next_due(self) -> float | None:
        rows = self.store.query(
            "SELECT MIN(next_at) FROM webhook_deliveries WHERE state = 'pending'"
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def record(
        self, delivery: Delivery, status_code: int, error: str, state: str, next_at: float
    ) -> None:
        """Store one attempt and the delivery's new state (pending, delivered or failed)."""
        attempt = delivery.attempts + 1
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO webhook_attempts (delivery_id, job_id, attempt, at, status_code, "
                "error) VALUES (?, ?, ?, ?, ?, ?)",
                (delivery.id, delivery.job_id, attempt, self.clock(), status_code, error),
            )
            self.store.execute(
                "UPDATE webhook_deliveries SET attempts = ?, state = ?, next_at = ? WHERE id = ?",
                (attempt, state, next_at, delivery.id),
            )


def stored_attempts(store: Tables, job_id: str) -> list[jobs_pb2.WebhookAttempt]:
    """Every webhook call of a job, in order; the last one of a delivery has its final state."""
    rows = store.query(
        "SELECT a.*, d.event, d.state, d.attempts AS total FROM webhook_attempts a "
        "JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE a.job_id = ? ORDER BY a.id",
        (job_id,),
    )
    found = []
    for row in rows:
        attempt = jobs_pb2.WebhookAttempt(
            event=row["event"],
            attempt=row["attempt"],
            status_code=row["status_code"],
            error=row["error"],
            delivery_state=row["state"] if row["attempt"] == row["total"] else "pending",
        )
        attempt.at.FromNanoseconds(round(row["at"] * 1e9))
        found.append(attempt)
    return found


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        job_id=row["job_id"],
        event=row["event"],
        idempotency_key=row["idempotency_key"],
        url=row["url"],
        method=row["method"],
        headers=json.loads(row["headers_json"]),
        body=row["body"],
        attempts=row["attempts"],
        next_at=row["next_at"],
    )


def stats(job: JobRecord, history: list[Transition]) -> dict[str, Any]:
    """The Nexrender Cloud stats of a job: its times as ISO 8601 UTC, and the render seconds."""
    started = next((t.at for t in history if t.state is JobState.RENDERING), None)
    finished = next((t.at for t in history if t.state is JobState.FINISHED), None)
    ended = next((t.at for t in history if t.state in (JobState.FAILED, JobState.CANCELLED)), None)
    end = finished if finished is not None else ended
    return {
        "createdAt": iso_time(job.created_at),
        "startedAt": iso_time(started),
        "finishedAt": iso_time(finished),
        "errorAt": iso_time(ended) if job.state is JobState.FAILED else None,
        "renderDuration": round(end - started, 3) if started is not None and end else None,
        "error": job.error.message if job.error else None,
    }


def iso_time(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
