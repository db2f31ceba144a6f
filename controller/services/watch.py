"""WatchJob: the current state of a job tree, then each change as it happens.

With after_sequence 0 the stream starts with the current state of every job of the tree. With
the sequence of the last event a client saw, it replays every stored event after it, one by one,
so nothing is missed, across controller restarts too. When the stored events no longer reach
back that far (they are pruned), it sends each job whose last event is newer, as it is now.
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
    """The mean progress of a job and its descendants; a finished job counts as 100.

    A running job that reports -1 (unknown, as during the upload) keeps the last progress it
    reported; one that never reported any counts as 100 in the upload stage, else as 0.
    """

    def __init__(self, jobs: Iterable[jobs_pb2.Job]) -> None:
        self._parts: dict[str, float] = {}
        for job in jobs:
            self.update(job)

    def update(self, job: jobs_pb2.Job) -> None:
        self._parts[job.id] = _part(job, self._parts.get(job.id))

    def value(self) -> float:
        return sum(self._parts.values()) / len(self._parts) if self._parts else 0.0


def _part(job: jobs_pb2.Job, previous: float | None) -> float:
    if job.state == common_pb2.JOB_STATE_FINISHED:
        return 100.0
    if job.state not in _RUNNING:
        return 0.0
    if job.progress >= 0:
        return job.progress
    if previous is not None:
        return previous
    return 100.0 if job.stage == common_pb2.STAGE_UPLOAD else 0.0


async def watch_job(
    coordinator: Coordinator, request: jobs_pb2.WatchJobRequest
) -> AsyncIterator[jobs_pb2.JobEvent]:
    store = coordinator.store
    job_ids = store.tree_ids(request.id)
    if not job_ids:
        raise JobNotFound(request.id)
    # Subscribing and reading the snapshot and stored events run without an await in between,
    # so no event falls between them.
    subscription = coordinator.bus.subscribe(job_ids)
    try:
        snapshot = [
            (job.sequence, messages.job_message(job, store.history(job.id)))
            for job in store.get_jobs(job_ids)
        ]
        progress = TreeProgress(job for _, job in snapshot)
        replay = _replay(coordinator, request, subscription.job_ids, snapshot[0][1])
        if replay is None:
            first = [
                jobs_pb2.JobEvent(sequence=sequence, job=job)
                for sequence, job in snapshot
                if sequence > request.after_sequence
            ]
        else:
            first = replay
        latest = {job.id: sequence for sequence, job in snapshot}
        last_sequence = max([request.after_sequence, *(event.sequence for event in first)])
        done = False
        for event in first:
            progress.update(event.job)
            event.tree_progress = progress.value()
            done = done or (event.job.id == request.id and event.job.state in _FINAL)
            yield event
        if done or snapshot[0][1].state in _FINAL:
            return

        while True:
            live = await subscription.get()
            if live is None:
                resume = f"watch again with after_sequence={last_sequence}"
                if subscription.overflowed:
                    raise WatcherBehind(f"the watcher fell behind the job events; {resume}")
                raise ControllerStopping(f"the controller is stopping; {resume}")
            if live.sequence <= latest.get(live.job.id, 0):
                continue
            latest[live.job.id] = last_sequence = live.sequence
            progress.update(live.job)
            yield jobs_pb2.JobEvent(
                sequence=live.sequence, job=live.job, tree_progress=progress.value()
            )
            if live.job.id == request.id and live.job.state in _FINAL:
                return
    finally:
        coordinator.bus.unsubscribe(subscription)


def _replay(
    coordinator: Coordinator,
    request: jobs_pb2.WatchJobRequest,
    job_ids: frozenset[str],
    watched: jobs_pb2.Job,
) -> list[jobs_pb2.JobEvent] | None:
    """Return the stored events after request.after_sequence, or None if they are gone."""
    log = coordinator.bus.log
    if request.after_sequence <= 0 or log is None:
        return None
    oldest = log.oldest_sequence()
    if oldest == 0 or oldest > request.after_sequence + 1:
        logger.info(
            "job=%s: stored events start at %d, after the watcher's %d; sending the current state",
            request.id,
            oldest,
            request.after_sequence,
        )
        return None
    root = coordinator.store.get_job(request.id)
    root_id = root.root_id if root is not None else watched.id
    return log.since(job_ids, root_id, request.after_sequence)
