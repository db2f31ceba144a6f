"""Webhook outbox rows, bodies, signatures and the submit check, on a real SQLite store."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
from pathlib import Path

from controller.jobspec.models import JobSpec, RenderSettings, TemplateRef, Webhook
from controller.jobtree import build_job_tree
from controller.scheduler_types import (
    JobErrorInfo,
    JobRecord,
    JobState,
    OutputInfo,
    Stage,
    StoreTransition,
    Transition,
)
from controller.sqlite_store import SqliteStore
from controller.webhook_delivery import request_headers, signature
from controller.webhooks import WebhookConfig, WebhookOutbox, stored_attempts, url_problems

HOOK = Webhook(url="http://127.0.0.1:9/hook", headers={"X-Shop": "north"}, data={"order": 7})


def spec(**fields: object) -> JobSpec:
    return JobSpec(
        template=TemplateRef(src="file:///t/intro.aep", composition="main"),
        settings=RenderSettings(),
        **fields,  # type: ignore[arg-type]
    )


def stored_job(
    store: SqliteStore, job_spec: JobSpec, state: JobState, at: float
) -> tuple[JobRecord, Transition]:
    ids = (f"job{n}" for n in itertools.count(1))
    tree = build_job_tree(job_spec, 100.0, lambda: next(ids))
    job = tree.jobs[0]
    with store.transaction():
        store.insert_job(job)
        store.insert_transition(
            job.id, Transition(JobState.RENDERING, Stage.RENDER, 110.0, "", 1, "a")
        )
    return dataclasses.replace(job, state=state), Transition(state, Stage.NONE, at, "done", 1, "a")


def finish(
    store: SqliteStore, outbox: WebhookOutbox, job: JobRecord, transition: Transition
) -> None:
    with store.transaction():
        store.update_job(job)
        store.insert_transition(job.id, transition)
        outbox.write_hook([StoreTransition(job.id, "", transition)], [])


def test_outbox_finished_job_body(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    woken = []
    outbox = WebhookOutbox(store, lambda: 200.0, on_new=lambda: woken.append(True))
    job, transition = stored_job(store, spec(webhook=HOOK), JobState.FINISHED, 150.0)
    job = dataclasses.replace(job, outputs=[OutputInfo("artifact://ab/r.mp4", 5, "ab", "r.mp4")])
    finish(store, outbox, job, transition)
    finish(store, outbox, job, transition)

    [delivery] = outbox.due(200.0)
    body = json.loads(delivery.body)
    assert woken
    assert delivery.idempotency_key == f"aefarm-{job.id}-finished"
    assert body["status"] == "finished"
    assert body["outputUrl"] == "artifact://ab/r.mp4"
    assert body["data"] == {"order": 7}
    assert body["stats"]["startedAt"] == "1970-01-01T00:01:50Z"
    assert body["stats"]["renderDuration"] == 40.0
    assert body["stats"]["errorAt"] is None


def test_outbox_failed_job_body(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    outbox = WebhookOutbox(store, lambda: 200.0)
    job, transition = stored_job(store, spec(webhook=HOOK), JobState.FAILED, 130.0)
    job = dataclasses.replace(job, error=JobErrorInfo("comp_not_found", "no comp main"))
    finish(store, outbox, job, transition)
    body = json.loads(outbox.due(200.0)[0].body)
    assert body["status"] == "error"
    assert body["stats"]["errorAt"] == "1970-01-01T00:02:10Z"
    assert body["stats"]["error"] == "no comp main"


def test_outbox_skips_job_without_webhook(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    outbox = WebhookOutbox(store, lambda: 200.0)
    job, transition = stored_job(store, spec(), JobState.FINISHED, 150.0)
    finish(store, outbox, job, transition)
    assert outbox.due(200.0) == []


def test_outbox_attempts_and_states(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    outbox = WebhookOutbox(store, lambda: 200.0)
    job, transition = stored_job(store, spec(webhook=HOOK), JobState.CANCELLED, 150.0)
    finish(store, outbox, job, transition)
    [delivery] = outbox.due(200.0)
    outbox.record(delivery, 503, "the receiver answered 503", "pending", 201.0)
    assert outbox.due(200.5) == []
    [retry] = outbox.due(201.0)
    outbox.record(retry, 204, "", "delivered", 0.0)
    attempts = stored_attempts(store, job.id)
    assert [(a.event, a.attempt, a.status_code) for a in attempts] == [
        ("manually_cancelled", 1, 503),
        ("manually_cancelled", 2, 204),
    ]
    assert [a.delivery_state for a in attempts] == ["pending", "delivered"]
    assert outbox.next_due() is None


def test_request_headers(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aefarm.db")
    outbox = WebhookOutbox(store, lambda: 200.0)
    job, transition = stored_job(store, spec(webhook=HOOK), JobState.FINISHED, 150.0)
    finish(store, outbox, job, transition)
    [delivery] = outbox.due(200.0)
    headers = request_headers(delivery, WebhookConfig(secret=b"key"))
    expected = hmac.new(b"key", delivery.body.encode(), hashlib.sha256).hexdigest()
    assert (
        headers["X-Aefarm-Signature"]
        == f"sha256={expected}"
        == signature(b"key", delivery.body.encode())
    )
    assert headers["Idempotency-Key"] == delivery.idempotency_key
    assert headers["X-Shop"] == "north"
    assert "X-Aefarm-Signature" not in request_headers(delivery, WebhookConfig())


def test_url_problems_allowed_hosts() -> None:
    config = WebhookConfig(allowed_hosts=frozenset({"hooks.internal"}))
    allowed = spec(webhook=Webhook(url="https://hooks.internal/done"))
    other = spec(webhook=Webhook(url="https://elsewhere.example/done"))
    not_http = spec(webhook=Webhook(url="ftp://hooks.internal/done"))
    assert url_problems(allowed, config) == []
    assert [p.path for p in url_problems(other, config)] == ["$.webhook.url"]
    assert "--webhook-allow-host" in url_problems(other, config)[0].reason
    assert [p.path for p in url_problems(not_http, WebhookConfig())] == ["$.webhook.url"]
