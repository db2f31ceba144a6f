"""BatchService: many jobs submitted in one call, stored in one transaction, tracked together.

A batch is all or nothing: when any job is invalid, the call fails with every problem of every
job, each path prefixed with the job's index ($[3].assets[0].layerName), and nothing is stored.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable

from controller import messages
from controller.coordinator import Coordinator
from controller.errors import InvalidRequest, JobAlreadyFinal, JobNotFound
from controller.jobspec.models import JobSpec
from controller.jobspec.parse import JobRejected, Problem
from controller.scheduler_types import JobRecord, JobState
from controller.status import Context, unary_errors
from controller.webhooks import Tables
from protos import batches_pb2, batches_pb2_grpc

logger = logging.getLogger(__name__)

# Jobs one SubmitBatch call may carry.
MAX_BATCH_JOBS = 10_000
DEFAULT_CANCEL_REASON = "the batch was cancelled"


class BatchNotFound(JobNotFound):
    """Raised for an unknown batch id, which returns NOT_FOUND as a missing job does."""

    def __init__(self, batch_id: str) -> None:
        super().__init__(batch_id)
        self.args = (f"batch {batch_id!r} not found; the id is in the SubmitBatch answer",)


def batch_problems(texts: list[str], validate: Callable[[str], JobSpec]) -> list[JobSpec]:
    """Validate every job; raise JobRejected with indexed paths if any is invalid."""
    specs = []
    problems: list[Problem] = []
    for index, text in enumerate(texts):
        try:
            specs.append(validate(text))
        except JobRejected as error:
            for problem in error.problems:
                problems.append(Problem(f"$[{index}]{problem.path[1:]}", problem.reason))
    if problems:
        raise JobRejected(problems)
    return specs


class BatchService(batches_pb2_grpc.BatchServiceServicer):
    def __init__(self, coordinator: Coordinator, validate: Callable[[str], JobSpec]) -> None:
        self.coordinator = coordinator
        self.validate = validate

    @property
    def tables(self) -> Tables:
        store = self.coordinator.store
        assert isinstance(store, Tables)
        return store

    @unary_errors
    async def SubmitBatch(
        self, request: batches_pb2.SubmitBatchRequest, context: Context
    ) -> batches_pb2.Batch:
        if not request.job_json:
            raise InvalidRequest("job_json", "the batch is empty; give at least one job")
        if len(request.job_json) > MAX_BATCH_JOBS:
            raise InvalidRequest(
                "job_json",
                f"{len(request.job_json)} jobs is more than {MAX_BATCH_JOBS}; split the batch",
            )
        specs = batch_problems(list(request.job_json), self.validate)
        batch_id = uuid.uuid4().hex
        now = self.coordinator.clock()

        def store_batch(trees: list[list[JobRecord]]) -> None:
            self.tables.execute(
                "INSERT INTO batches (id, source, created_at) VALUES (?, ?, ?)",
                (batch_id, request.source, now),
            )
            for position, tree in enumerate(trees):
                self.tables.execute(
                    "INSERT INTO batch_jobs (batch_id, position, job_id) VALUES (?, ?, ?)",
                    (batch_id, position, tree[0].id),
                )

        self.coordinator.submit_many(specs, request.source, store_batch)
        logger.info("batch=%s: stored %d jobs from %r", batch_id, len(specs), request.source)
        return self._batch(batch_id)

    @unary_errors
    async def GetBatch(
        self, request: batches_pb2.GetBatchRequest, context: Context
    ) -> batches_pb2.Batch:
        return self._batch(request.id)

    @unary_errors
    async def CancelBatch(
        self, request: batches_pb2.CancelBatchRequest, context: Context
    ) -> batches_pb2.Batch:
        reason = request.reason.strip() or DEFAULT_CANCEL_REASON
        job_ids = self._job_ids(request.id)
        cancelled = 0
        for job_id in job_ids:
            try:
                self.coordinator.cancel(job_id, reason)
                cancelled += 1
            except JobAlreadyFinal:
                continue
        logger.info(
            "batch=%s: cancelled %d of %d jobs: %s", request.id, cancelled, len(job_ids), reason
        )
        return self._batch(request.id)

    def _job_ids(self, batch_id: str) -> list[str]:
        rows = self.tables.query(
            "SELECT job_id FROM batch_jobs WHERE batch_id = ? ORDER BY position", (batch_id,)
        )
        if not rows:
            raise BatchNotFound(batch_id)
        return [row["job_id"] for row in rows]

    def _batch(self, batch_id: str) -> batches_pb2.Batch:
        job_ids = self._job_ids(batch_id)
        row = self.tables.query("SELECT created_at FROM batches WHERE id = ?", (batch_id,))[0]
        store = self.coordinator.store
        jobs = store.get_jobs(job_ids)
        counts = Counter(job.state for job in jobs)
        batch = batches_pb2.Batch(
            id=batch_id,
            job_ids=job_ids,
            counts=[
                batches_pb2.BatchStateCount(state=state.value, count=counts[state])
                for state in JobState
                if counts[state]
            ],
            jobs=[messages.job_message(job, store.history(job.id)) for job in jobs],
        )
        batch.created_at.FromNanoseconds(round(row["created_at"] * 1e9))
        return batch
