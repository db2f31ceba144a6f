"""Batches, priorities and pools on a real farm."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from protos import batches_pb2, batches_pb2_grpc, common_pb2, jobs_pb2
from tests.e2e.farm import TOP, Farm

pytestmark = pytest.mark.e2e

RENDERING = common_pb2.JOB_STATE_RENDERING


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture()
def farm(tmp_path: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        yield farm
    finally:
        farm.stop()


def short_job(templates: Path, **fields: object) -> dict[str, object]:
    return {
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "settings": {"frames": [0, 4]},
        **fields,
    }


def batches(farm: Farm) -> batches_pb2_grpc.BatchServiceStub:
    return batches_pb2_grpc.BatchServiceStub(farm.channel)


def cli(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "controller.cli.main", "--controller", farm.address, *args]
    return subprocess.run(argv, cwd=TOP, capture_output=True, text=True, timeout=60)


def test_batch_submit_show_cancel(farm: Farm, templates: Path, tmp_path: Path) -> None:
    batch_file = tmp_path / "batch.json"
    batch_file.write_text(json.dumps([short_job(templates, tags="north") for _ in range(3)]))
    submitted = cli(farm, "submit", "--json", str(batch_file))
    assert submitted.returncode == 0, submitted.stderr
    batch_id = json.loads(submitted.stdout)["id"]

    shown = batches(farm).GetBatch(batches_pb2.GetBatchRequest(id=batch_id), timeout=10)
    assert len(shown.job_ids) == 3
    assert {count.state: count.count for count in shown.counts} == {"queued": 3}

    cancelled = cli(farm, "batch", "cancel", "--json", batch_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["counts"] == {"cancelled": 3}

    listed = cli(farm, "jobs", "--json", "--tag", "north", "--since", "1h")
    assert sorted(job["id"] for job in json.loads(listed.stdout)) == sorted(shown.job_ids)
    assert json.loads(cli(farm, "jobs", "--json", "--tag", "south").stdout) == []


def test_batch_invalid_job_stores_nothing(farm: Farm, templates: Path) -> None:
    jobs = [short_job(templates), short_job(templates, settings={"engine": "ae1999"})]
    request = batches_pb2.SubmitBatchRequest(job_json=[json.dumps(job) for job in jobs])
    with pytest.raises(grpc.RpcError) as raised:
        batches(farm).SubmitBatch(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    assert [violation.field for violation in detail.field_violations] == ["$[1].settings.engine"]
    assert not farm.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10).jobs


def test_priority_orders_dispatch(farm: Farm, templates: Path) -> None:
    first = farm.submit(short_job(templates)).job.id
    second = farm.submit(short_job(templates)).job.id
    urgent = farm.submit(short_job(templates, priority=5)).job.id
    farm.jobs.SetPriority(jobs_pb2.SetPriorityRequest(id=second, priority=10), timeout=10)

    farm.start_agent("agent-1", ["--file-root", str(templates), "--slots", "1"])
    jobs = {job_id: farm.wait_final(job_id) for job_id in (first, second, urgent)}
    started = {
        job_id: min(t.at.ToNanoseconds() for t in job.history if t.state == RENDERING)
        for job_id, job in jobs.items()
    }
    assert sorted(started, key=started.__getitem__) == [second, urgent, first]
    assert any("priority changed from 0 to 10" in t.cause for t in jobs[second].history)


def test_tagged_job_goes_to_pool_agent(farm: Farm, templates: Path) -> None:
    farm.start_agent("agent-plain", ["--file-root", str(templates), "--slots", "2"])
    farm.start_agent("agent-gpu", ["--file-root", str(templates), "--pool", "gpu"])
    farm.wait_for_agents(2)
    tagged = [farm.submit(short_job(templates, tags="gpu")).job.id for _ in range(2)]
    for job_id in tagged:
        job = farm.wait_final(job_id)
        assert job.state == common_pb2.JOB_STATE_FINISHED
        agents = {t.agent_id for t in job.history if t.agent_id}
        assert agents == {"agent-gpu"}
