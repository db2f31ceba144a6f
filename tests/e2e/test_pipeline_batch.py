"""A pipeline's whole round trip: one batch of nested and join jobs, followed live, one signed
webhook per job, and every output at the URL its job gives."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from protos import batches_pb2, batches_pb2_grpc, common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm
from tests.e2e.receivers import running_receiver
from tests.e2e.test_webhooks import SECRET, webhook_flags

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
FINAL = {common_pb2.JOB_STATE_FINISHED, common_pb2.JOB_STATE_FAILED}


def lower_third(templates: Path, title: str) -> dict[str, Any]:
    return {
        "type": "job",
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "assets": [
            {"type": "data", "layerName": "Title", "property": "Source Text", "value": title}
        ],
        "settings": {"frames": [0, 9]},
    }


def batch_jobs(templates: Path, share: Path, url: str) -> list[dict[str, Any]]:
    main = {"src": (templates / "main.aep").as_uri(), "composition": "Main"}
    nested = {
        "template": main,
        "settings": {"frames": [0, 9]},
        "assets": [{**lower_third(templates, "Ada"), "layerName": "LowerThird"}],
        "webhook": {"url": url, "data": {"name": "nested"}},
    }
    join = {
        "type": "join",
        "assets": [lower_third(templates, "Grace"), lower_third(templates, "Edsger")],
        "webhook": {"url": url, "data": {"name": "join"}},
        "upload": {"provider": "fs", "params": {"path": str(share)}},
    }
    parent_of_join = {
        "template": main,
        "settings": {"frames": [0, 9]},
        "assets": [
            {
                "type": "job",
                "layerName": "LowerThird",
                "job": {
                    "type": "join",
                    "assets": [lower_third(templates, "Alan"), lower_third(templates, "Ken")],
                },
            }
        ],
        "webhook": {"url": url, "data": {"name": "parent of a join"}},
    }
    return [nested, join, parent_of_join]


def follow(farm: Farm, job_id: str, seen: dict[str, list[jobs_pb2.JobEvent]]) -> None:
    """Record the job's events until its root reaches a final state."""
    events: list[jobs_pb2.JobEvent] = []
    seen[job_id] = events
    for event in farm.jobs.WatchJob(jobs_pb2.WatchJobRequest(id=job_id), timeout=180):
        events.append(event)
        if event.job.id == job_id and event.job.state in FINAL:
            return


def test_batch_round_trip(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(templates)],
        check=True,
        capture_output=True,
    )
    share = tmp_path / "share"
    farm = Farm(tmp_path / "farm")
    with running_receiver() as receiver:
        try:
            farm.start_controller(webhook_flags(tmp_path))
            for name in ("agent-1", "agent-2"):
                farm.start_agent(name, ["--file-root", str(templates)])
            farm.wait_for_agents(2)
            jobs = batch_jobs(templates, share, receiver.url)
            request = batches_pb2.SubmitBatchRequest(
                job_json=[json.dumps(job) for job in jobs], source="pipeline"
            )
            batch = batches_pb2_grpc.BatchServiceStub(farm.channel).SubmitBatch(request, timeout=30)
            assert len(batch.job_ids) == 3

            seen: dict[str, list[jobs_pb2.JobEvent]] = {}
            watchers = [
                threading.Thread(target=follow, args=(farm, job_id, seen))
                for job_id in batch.job_ids
            ]
            for watcher in watchers:
                watcher.start()
            finished = [farm.wait_final(job_id, timeout=180) for job_id in batch.job_ids]
            for watcher in watchers:
                watcher.join(60)
            for job in finished:
                assert job.state == FINISHED, f"{job.id}: {job.error}\n{farm.log('agent-1')}"

            # Followed live: each root's stream saw it render and then finish, with its children.
            for job_id in batch.job_ids:
                events = seen[job_id]
                root_states = [event.job.state for event in events if event.job.id == job_id]
                assert root_states[-1] == FINISHED
                assert common_pb2.JOB_STATE_RENDERING in root_states
                assert {event.job.id for event in events} > {job_id}, "no child events"
                assert events[-1].tree_progress == pytest.approx(100.0)

            # One signed webhook per job, with the job's own data and output URL.
            calls = receiver.wait_for(3)
            assert len(calls) == 3
            by_id = {call.json()["id"]: call for call in calls}
            assert set(by_id) == set(batch.job_ids)
            for job, sent in zip(finished, jobs, strict=True):
                call = by_id[job.id]
                expected = "sha256=" + hmac.new(SECRET, call.body, hashlib.sha256).hexdigest()
                assert call.headers["X-Aefarm-Signature"] == expected
                body = call.json()
                assert body["status"] == "finished"
                assert body["data"] == sent["webhook"]["data"]
                assert body["outputUrl"] == job.outputs[0].url
                assert call.headers["Idempotency-Key"] == f"aefarm-{job.id}-finished"

            # Every output is at the URL the job gives, with its stated size and sha256: the join's
            # in the shared folder of its upload, the others in the controller's artifact store.
            assert [job.outputs[0].url.split(":")[0] for job in finished] == [
                "artifact",
                "file",
                "artifact",
            ]
            for job in finished:
                output = job.outputs[0]
                if output.url.startswith("file:"):
                    path = Path(url2pathname(urlsplit(output.url).path))
                    assert path.is_relative_to(share)
                else:
                    path = farm.download(output, tmp_path / f"{job.id}-{output.name}")
                assert path.stat().st_size == output.size
                assert hashlib.sha256(path.read_bytes()).hexdigest() == output.sha256
        finally:
            farm.stop()
