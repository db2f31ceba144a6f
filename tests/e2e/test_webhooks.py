"""Job webhooks called by a real controller: retries, idempotency key, signature, restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from protos import common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm
from tests.e2e.receivers import Call, Receiver, running_receiver

pytestmark = pytest.mark.e2e

SECRET = b"webhook signing key for tests"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@contextmanager
def stopping(farm: Farm) -> Iterator[Farm]:
    try:
        yield farm
    finally:
        farm.stop()


def webhook_flags(root: Path) -> list[str]:
    secret_file = root / "webhook.key"
    secret_file.write_bytes(SECRET + b"\n")
    return [
        "--webhook-secret-file",
        str(secret_file),
        "--webhook-retry-seconds",
        "0.1",
        "--webhook-allow-host",
        "127.0.0.1",
    ]


def lower_third(templates: Path, webhook: dict[str, object]) -> dict[str, object]:
    return {
        "template": {
            "src": (templates / "lower-third.aep").as_uri(),
            "composition": "LowerThird",
        },
        "settings": {"frames": [0, 9]},
        "webhook": webhook,
    }


def test_webhook_retries_signed_call_until_accepted(tmp_path: Path, templates: Path) -> None:
    farm = Farm(tmp_path)
    with running_receiver(answers=[500, 503]) as receiver, stopping(farm):
        farm.start_controller(webhook_flags(tmp_path))
        farm.start_agent("agent-1", ["--file-root", str(templates)])
        farm.wait_for_agents(1)
        webhook = {"url": receiver.url, "headers": {"X-Shop": "north"}, "data": {"order": 7}}
        job_id = farm.submit(lower_third(templates, webhook)).job.id
        job = farm.wait_final(job_id)
        assert job.state == common_pb2.JOB_STATE_FINISHED

        calls = receiver.wait_for(3)
        assert [call.answered for call in calls] == [500, 503, 200]
        assert {call.headers["Idempotency-Key"] for call in calls} == {f"aefarm-{job_id}-finished"}
        for call in calls:
            expected = "sha256=" + hmac.new(SECRET, call.body, hashlib.sha256).hexdigest()
            assert call.headers["X-Aefarm-Signature"] == expected
            assert call.headers["X-Shop"] == "north"
            assert call.method == "POST"
        body = calls[-1].json()
        assert body["id"] == job_id
        assert body["status"] == "finished"
        assert body["data"] == {"order": 7}
        assert body["outputUrl"] == job.outputs[0].url
        assert body["stats"]["renderDuration"] > 0
        assert body["stats"]["errorAt"] is None

        attempts = wait_for_attempts(farm, job_id, 3)
        assert [a.status_code for a in attempts] == [500, 503, 200]
        assert [a.delivery_state for a in attempts] == ["pending", "pending", "delivered"]

        shown = subprocess.run(
            [sys.executable, "-m", "controller.cli.main", "--controller", farm.address]
            + ["job", "--json", job_id],
            cwd=TOP,
            capture_output=True,
            text=True,
            check=True,
        )
        timeline = json.loads(shown.stdout)["timeline"]
        assert timeline["end"] == "finished"
        assert timeline["render_seconds"] > 0
        assert [a["status_code"] for a in timeline["webhook_attempts"]] == [500, 503, 200]


def test_webhook_pending_across_restart(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    with running_receiver(then=503) as receiver:
        try:
            farm.start_controller(webhook_flags(tmp_path))
            job = {
                "template": {"src": "file:///srv/templates/main.aep", "composition": "Main"},
                "webhook": {"url": receiver.url},
            }
            job_id = farm.submit(job).job.id
            farm.jobs.CancelJob(jobs_pb2.CancelJobRequest(id=job_id), timeout=10)
            receiver.wait_for(1)
            farm.kill_controller()
            receiver.then = 200
            farm.start_controller(webhook_flags(tmp_path))
            calls = wait_for_answer(receiver, 200)
        finally:
            farm.stop()
    assert {call.headers["Idempotency-Key"] for call in calls} == {
        f"aefarm-{job_id}-manually_cancelled"
    }
    assert calls[-1].json()["status"] == "manually_cancelled"
    assert sum(1 for call in calls if call.answered == 200) == 1


def test_webhook_host_not_allowed_rejected(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    try:
        farm.start_controller(webhook_flags(tmp_path))
        job = {
            "template": {"src": "file:///srv/templates/main.aep", "composition": "Main"},
            "webhook": {"url": "http://hooks.example.invalid/render"},
        }
        with pytest.raises(grpc.RpcError) as raised:
            farm.submit(job)
        listed = farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10)
    finally:
        farm.stop()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    assert [violation.field for violation in detail.field_violations] == ["$.webhook.url"]
    assert not listed.jobs


def wait_for_attempts(farm: Farm, job_id: str, count: int) -> list[jobs_pb2.WebhookAttempt]:
    deadline = time.monotonic() + 30
    while len(attempts := list(farm.get(job_id).webhook_attempts)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} lists {len(attempts)} of {count} webhook calls")
        time.sleep(0.05)
    return attempts


def wait_for_answer(receiver: Receiver, status: int) -> list[Call]:
    """Return the calls so far once one of them was answered with status."""
    count = 1
    while (calls := receiver.wait_for(count))[-1].answered != status:
        count = len(calls) + 1
    return calls
