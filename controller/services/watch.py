"""WatchJob: the current state of a job tree, then each change as it happens.

Resuming with after_sequence sends each job of the tree whose last event has a higher sequence,
as the job is now. The changes in between are not replayed one by one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable

from controller import messages
from controller.coordinator import Coordinator
from controller.errors import ControllerStopping, JobNotFound, WatcherBehind
from protos import common_pb2, jobs_pb2

logger = logging.getLogger(__name__)

_FINAL = {
    common_pb2.JOB_STATE_FINISHED,
    common_pb2.JOB_STATE_FAILED,
    common_pb2.JOB_STATE_CANCELLED,
}
_RUNNING = {common_pb2.JOB_STATE_LEASED, common_pb2.JOB_STATE_RENDERING}


class TreeProgress:
    """The mean progress of a job and its descendants; a finished job counts as 100."""

    def __init__(self, jobs: Iterable[jobs_pb2.Job]) -> None:
        self._parts = {job.id: _part(job) for job in jobs}

    def update(self, job: jobs_pb2.Job) -> None:
        self._parts[job.id] = _part(job)

    def value(self) -> float:
        return sum(self._parts.values()) / len(self._parts) if self._parts else 0.0


def _part(job: jobs_pb2.Job) -> float:
    if job.state == common_pb2.JOB_STATE_FINISHED:
        return 100.0
    if job.state in _RUNNING:
        return max(job.progress, 0.0)
    return 0.0


async def watch_job(
    coordinator: Coordinator, request: jobs_pb2.WatchJobRequest
) -> AsyncIterator[jobs_pb2.JobEvent]:
    store = coordinator.store
    job_ids = store.tree_ids(request.id)
    if not job_ids:
        raise JobNotFound(request.id)
    # Subscribing and reading the snapshot run without an await in between, so no event
    # falls between them.
    subscription = coordinator.bus.subscribe(job_ids)
    try:
        snapshot = [
            (job.sequence, messages.job_message(job, store.history(job.id)))
            for job in store.get_jobs(job_ids)
        ]
        progress = TreeProgress(job for _, job in snapshot)
        latest = {job.id: sequence for sequence, job in snapshot}
        last_sequence = max([request.after_sequence, *latest.values()])
        for sequence, job in snapshot:
            if sequence > request.after_sequence:
                yield jobs_pb2.JobEvent(sequence=sequence, job=job, tree_progress=progress.value())
        if snapshot[0][1].state in _FINAL:
            return

        while True:
            event = await subscription.get()
            if event is None:
                resume = f"watch again with after_sequence={last_sequence}"
                if subscription.overflowed:
                    raise WatcherBehind(f"the watcher fell behind the job events; {resume}")
                raise ControllerStopping(f"the controller is stopping; {resume}")
            if event.sequence <= latest.get(event.job.id, 0):
                continue
            latest[event.job.id] = last_sequence = event.sequence
            progress.update(event.job)
            yield jobs_pb2.JobEvent(
                sequence=event.sequence, job=event.job, tree_progress=progress.value()
            )
            if event.job.id == request.id and event.job.state in _FINAL:
                return
    finally:
        coordinator.bus.unsubscribe(subscription)
