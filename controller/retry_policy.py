"""Retry judgement of the scheduler, without state of its own.

How long a retry waits, which agent a retry may go to, and when an agent that keeps failing
is quarantined. The scheduler calls these with its records; nothing here does I/O.
"""

from __future__ import annotations

import logging

from controller.scheduler_types import (
    NOT_AGENT_FAULT_CODES,
    AgentRecord,
    JobErrorInfo,
    JobRecord,
    SchedulerConfig,
)

logger = logging.getLogger(__name__)


def retry_delay(config: SchedulerConfig, attempt: int) -> float:
    """Seconds to wait before the retry after attempt (1-based): doubling, capped."""
    if config.retry_delay <= 0:
        return 0.0
    delay = config.retry_delay * 2 ** min(max(attempt - 1, 0), 30)
    return min(delay, config.retry_delay_max)


def choose_agent(
    job: JobRecord,
    candidates: list[AgentRecord],
    others_match: bool,
    free: dict[str, int],
    retry_delay_seconds: float,
    now: float,
) -> AgentRecord | None:
    """Return the candidate with the most free slots, ties broken by agent id.

    An agent the job failed on is taken only when no other agent that takes leases matches
    the job (others_match is False), busy or not, and the job has waited retry_delay_seconds
    since its requeue.
    """
    fresh = [agent for agent in candidates if agent.agent_id not in job.avoid_agents]
    if not fresh and candidates:
        if others_match or now < job.updated_at + retry_delay_seconds:
            return None
        fresh = candidates
    if not fresh:
        return None
    return min(fresh, key=lambda agent: (-free[agent.agent_id], agent.agent_id))


def note_outcome(
    agent: AgentRecord, job: JobRecord, error: JobErrorInfo | None, limit: int
) -> bool:
    """Count the different jobs an agent failed in a row; True when it is quarantined now."""
    if error is None:
        agent.failed_jobs = []
        return False
    if error.code in NOT_AGENT_FAULT_CODES or job.id in agent.failed_jobs:
        return False
    agent.failed_jobs.append(job.id)
    if limit < 1 or len(agent.failed_jobs) < limit or agent.quarantine_reason:
        return False
    agent.quarantine_reason = (
        f"failed {len(agent.failed_jobs)} different jobs in a row, the last {job.id} with "
        f"{error.code}; run `aefarm resume {agent.agent_id}` after fixing the agent"
    )
    logger.warning("agent=%s quarantined: %s", agent.agent_id, agent.quarantine_reason)
    return True
