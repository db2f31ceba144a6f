"""Changing the priority of a waiting job.

The scheduler keeps the queue sorted by priority (higher first), then by creation time (older
first); Scheduler.set_priority moves the job to its new place, and the dispatch that follows
uses it. The change is stored and noted in the job's history with its old and new value.
"""

from __future__ import annotations

import logging

from controller.coordinator import Coordinator
from controller.errors import InvalidRequest, JobNotFound
from controller.scheduler_types import JobState, Tick, Transition
from controller.webhooks import Tables

logger = logging.getLogger(__name__)

WAITING_STATES = (JobState.PENDING, JobState.QUEUED)


def set_priority(coordinator: Coordinator, job_id: str, priority: int) -> None:
    job = coordinator.scheduler.jobs.get(job_id)
    if job is None:
        if coordinator.store.get_job(job_id) is None:
            raise JobNotFound(job_id)
        raise InvalidRequest("id", f"job {job_id} is finished, so its priority cannot change")
    if job.state not in WAITING_STATES:
        raise InvalidRequest(
            "id",
            f"job {job_id} is {job.state.value}; only a pending or queued job's priority can "
            "change, because a leased job already renders",
        )
    store = coordinator.store
    assert isinstance(store, Tables)
    old = job.priority
    now = coordinator.clock()
    cause = f"priority changed from {old} to {priority}"
    with store.transaction(durable=True):
        store.execute("UPDATE jobs SET priority = ? WHERE id = ?", (priority, job_id))
        coordinator.store.insert_transition(
            job_id, Transition(job.state, job.stage, now, cause, job.attempts, "")
        )
    coordinator.scheduler.set_priority(job_id, priority)
    logger.info("job=%s: %s", job_id, cause)
    # Dispatch now, in the new order.
    coordinator.handle(Tick())
