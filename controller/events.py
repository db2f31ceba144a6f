"""The job event bus: WatchJob streams subscribe to the jobs of one tree."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from controller import messages
from controller.scheduler_types import JobRecord
from protos import jobs_pb2

logger = logging.getLogger(__name__)

# Events a watcher may have unread before it is dropped; it can resume with after_sequence.
MAX_PENDING_EVENTS = 1000


class Subscription:
    """Events of a set of jobs, in publish order, for one watcher."""

    def __init__(self, job_ids: frozenset[str], max_pending: int) -> None:
        self.job_ids = job_ids
        self.max_pending = max_pending
        self.overflowed = False
        self.closed = False
        self._queue: asyncio.Queue[jobs_pb2.JobEvent | None] = asyncio.Queue()

    async def get(self) -> jobs_pb2.JobEvent | None:
        """Return the next event, or None once the subscription is closed or overflowed."""
        return await self._queue.get()

    def _put(self, event: jobs_pb2.JobEvent) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self.max_pending:
            self.overflowed = True
            self._close()
            return
        self._queue.put_nowait(event)

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class JobEventBus:
    def __init__(self, max_pending: int = MAX_PENDING_EVENTS) -> None:
        self.max_pending = max_pending
        self._by_job: dict[str, set[Subscription]] = {}
        self.stopped = False
        # Set by the server: the stored events watchers resume from.
        self.log: EventLog | None = None

    def subscribe(self, job_ids: Iterable[str]) -> Subscription:
        subscription = Subscription(frozenset(job_ids), self.max_pending)
        if self.stopped:
            subscription._close()
            return subscription
        for job_id in subscription.job_ids:
            self._by_job.setdefault(job_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for job_id in subscription.job_ids:
            watchers = self._by_job.get(job_id)
            if watchers is None:
                continue
            watchers.discard(subscription)
            if not watchers:
                del self._by_job[job_id]

    def has_watchers(self, job_id: str) -> bool:
        return job_id in self._by_job

    def publish(self, event: jobs_pb2.JobEvent) -> None:
        for subscription in list(self._by_job.get(event.job.id, ())):
            subscription._put(event)
            if subscription.overflowed:
                logger.warning(
                    "dropped a watcher of job %s: it left %d events unread",
                    event.job.id,
                    self.max_pending,
                )
                self.unsubscribe(subscription)

    def stop(self) -> None:
        """Close every subscription, for shutdown; later subscriptions start closed."""
        self.stopped = True
        for watchers in list(self._by_job.values()):
            for subscription in list(watchers):
                subscription._close()
        self._by_job.clear()


# Stored job events kept for resuming watchers; older ones are deleted.
MAX_STORED_EVENTS = 100_000
# Inserts between two prunes of the stored events.
PRUNE_EVERY = 1000


class EventLog:
    """Stores every published job event, so a watcher can resume after a controller restart.

    write_hook runs inside the store transaction of the change, so a stored event and the change
    it describes commit together. Only the newest MAX_STORED_EVENTS events are kept.
    """

    def __init__(
        self, store: Any, clock: Callable[[], float], max_events: int = MAX_STORED_EVENTS
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_events = max_events
        self._inserts = 0

    def write_hook(self, effects: list[Any], published: list[JobRecord]) -> None:
        for job in published:
            message = messages.job_message(job, self.store.history(job.id))
            self.store.execute(
                "INSERT OR REPLACE INTO job_events (sequence, job_id, root_id, at, snapshot) "
                "VALUES (?, ?, ?, ?, ?)",
                (job.sequence, job.id, job.root_id, self.clock(), message.SerializeToString()),
            )
            self._inserts += 1
        if self._inserts >= PRUNE_EVERY:
            self._inserts = 0
            self.store.execute(
                "DELETE FROM job_events WHERE sequence <= "
                "(SELECT MAX(sequence) FROM job_events) - ?",
                (self.max_events,),
            )

    def oldest_sequence(self) -> int:
        rows = self.store.query("SELECT MIN(sequence) FROM job_events")
        return int(rows[0][0] or 0)

    def since(self, job_ids: frozenset[str], root_id: str, after: int) -> list[jobs_pb2.JobEvent]:
        """The stored events of the given jobs after sequence `after`, oldest first."""
        rows = self.store.query(
            "SELECT sequence, job_id, snapshot FROM job_events WHERE root_id = ? AND sequence > ? "
            "ORDER BY sequence",
            (root_id, after),
        )
        found = []
        for row in rows:
            if row["job_id"] not in job_ids:
                continue
            job = jobs_pb2.Job()
            job.ParseFromString(row["snapshot"])
            found.append(jobs_pb2.JobEvent(sequence=row["sequence"], job=job))
        return found
