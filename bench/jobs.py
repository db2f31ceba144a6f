"""Job JSON for benchmarks, and parallel submission over one gRPC channel."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import grpc

from protos import jobs_pb2, jobs_pb2_grpc

logger = logging.getLogger(__name__)

# The simulated agents never fetch sources, so the template needs no file behind it.
TEMPLATE_SRC = "file:///bench/templates/main.aep"


def flat_job(index: int = 0) -> dict[str, Any]:
    """Build a job without children, in the Nexrender Cloud shape."""
    return {
        "template": {"src": TEMPLATE_SRC, "composition": "Main"},
        "assets": [
            {
                "type": "data",
                "layerName": "Headline",
                "property": "Source Text",
                "value": str(index),
            }
        ],
        "settings": {"engine": "ae2026"},
    }


def nested_job(index: int = 0, children: int = 3) -> dict[str, Any]:
    """Build a parent with `children` nested jobs, each on its own layer."""
    job = flat_job(index)
    job["assets"] += [
        {
            "type": "job",
            "layerName": f"Clip{number}",
            "template": {"src": TEMPLATE_SRC, "composition": "Clip"},
        }
        for number in range(children)
    ]
    return job


def job_service(channel: grpc.aio.Channel) -> jobs_pb2_grpc.JobServiceStub:
    return jobs_pb2_grpc.JobServiceStub(channel)


async def submit(
    stub: jobs_pb2_grpc.JobServiceStub, job: dict[str, Any]
) -> jobs_pb2.SubmitResponse:
    request = jobs_pb2.SubmitRequest(job_json=json.dumps(job), source="bench")
    response: jobs_pb2.SubmitResponse = await stub.Submit(request, timeout=60)
    return response


async def submit_many(
    stub: jobs_pb2_grpc.JobServiceStub, jobs: list[dict[str, Any]], concurrency: int = 32
) -> tuple[float, list[str]]:
    """Submit jobs with `concurrency` calls in flight; return the seconds taken and root ids."""
    texts = [json.dumps(job) for job in jobs]
    ids: list[str] = [""] * len(texts)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(texts):
            index = next_index
            next_index += 1
            request = jobs_pb2.SubmitRequest(job_json=texts[index], source="bench")
            response = await stub.Submit(request, timeout=120)
            ids[index] = response.job.id

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started, ids
