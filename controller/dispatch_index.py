"""Ordered indexes the scheduler keeps so that dispatch does not walk every job and agent.

JobQueue keeps the queued jobs sorted by (-priority, created_at, id), the dispatch order, and a
heap of the times at which a waiting retry may go out. FreeAgents keeps the agents that take
leases and have a free slot, per available engine, sorted by (-free slots, agent id), the order
in which dispatch prefers them. The scheduler updates both after every change of a job's state
or priority and of an agent's slots or controls; neither does I/O.
"""

from __future__ import annotations

import heapq
import logging
from bisect import bisect_left, insort

from controller.scheduler_types import AgentRecord, JobRecord

logger = logging.getLogger(__name__)

QueueKey = tuple[int, float, str]
AgentKey = tuple[int, str]

# The FreeAgents list of every agent with a free slot, whatever its engines.
ANY_ENGINE = ""


def queue_key(job: JobRecord) -> QueueKey:
    return (-job.priority, job.created_at, job.id)


class JobQueue:
    """Queued job ids in dispatch order, and the times when waiting retries may go out."""

    def __init__(self, retry_delay: float) -> None:
        self._retry_delay = retry_delay
        self._keys: dict[str, QueueKey] = {}
        self.order: list[QueueKey] = []
        self._waits: list[tuple[float, str]] = []

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._keys

    def __bool__(self) -> bool:
        return bool(self._keys)

    def add(self, job: JobRecord) -> None:
        """Queue a job that became queued, and note the times it may wait until."""
        if job.not_before > 0:
            heapq.heappush(self._waits, (job.not_before, job.id))
        if job.avoid_agents:
            heapq.heappush(self._waits, (job.updated_at + self._retry_delay, job.id))
        if job.id in self._keys:
            return
        key = queue_key(job)
        self._keys[job.id] = key
        insort(self.order, key)

    def discard(self, job_id: str) -> None:
        key = self._keys.pop(job_id, None)
        if key is not None:
            del self.order[bisect_left(self.order, key)]

    def reorder(self, job: JobRecord) -> None:
        """Move a queued job to the place of its current priority."""
        key = self._keys.get(job.id)
        if key is not None and key != queue_key(job):
            self.discard(job.id)
            self._keys[job.id] = queue_key(job)
            insort(self.order, self._keys[job.id])

    def next_wakeup(self, jobs: dict[str, JobRecord], now: float) -> float | None:
        """Return the earliest time after now when a queued job stops waiting, or None.

        A queued job waits until its not_before, or, once that has passed and it avoids an
        agent, until retry_delay after its requeue. Noted times that no longer apply, because
        they passed or the job left the queue, are dropped here.
        """
        waits = self._waits
        while waits:
            at, job_id = waits[0]
            job = jobs.get(job_id)
            if at > now and job is not None and job_id in self._keys:
                if at == job.not_before:
                    return at
                after_requeue = job.updated_at + self._retry_delay
                if job.not_before <= now and job.avoid_agents and at == after_requeue:
                    return at
            heapq.heappop(waits)
        return None


class FreeAgents:
    """Agents that take leases and have a free slot, best first, per available engine."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[AgentKey, tuple[str, ...]]] = {}
        self._by_engine: dict[str, list[AgentKey]] = {}

    def __bool__(self) -> bool:
        return bool(self._entries)

    def best_first(self, engine: str) -> list[AgentKey]:
        """Return (-free slots, agent id) of the agents with engine available, best first.

        ANY_ENGINE lists every agent with a free slot. The list is the index itself: read it
        before the next update.
        """
        return self._by_engine.get(engine, [])

    def free_slots(self, agent_id: str) -> int:
        entry = self._entries.get(agent_id)
        return -entry[0][0] if entry is not None else 0

    def update(self, agent: AgentRecord) -> None:
        """File the agent under its current free slots, or drop it when it takes no lease."""
        self.remove(agent.agent_id)
        free = agent.slots - len(agent.lease_ids)
        if free <= 0 or not agent.takes_leases():
            return
        key = (-free, agent.agent_id)
        names = (ANY_ENGINE, *sorted(agent.available_engines()))
        for name in names:
            insort(self._by_engine.setdefault(name, []), key)
        self._entries[agent.agent_id] = (key, names)

    def remove(self, agent_id: str) -> None:
        entry = self._entries.pop(agent_id, None)
        if entry is None:
            return
        key, names = entry
        for name in names:
            keys = self._by_engine[name]
            del keys[bisect_left(keys, key)]
            if not keys:
                del self._by_engine[name]
