"""ListJobs with filters the plain listing lacks: tags and a creation time window.

Pages run newest first, as the plain listing does, and use the same page tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from controller.scheduler_types import JobState
from controller.sqlite_schema import decode_page_token, encode_page_token
from controller.store import JobPage
from controller.webhooks import Tables

logger = logging.getLogger(__name__)


def list_filtered(
    store: Tables,
    states: Sequence[JobState],
    roots_only: bool,
    tags: Sequence[str],
    since: float | None,
    until: float | None,
    limit: int,
    page_token: str,
) -> JobPage:
    conditions: list[str] = []
    parameters: list[Any] = []
    if states:
        conditions.append(f"state IN ({', '.join('?' for _ in states)})")
        parameters.extend(state.value for state in states)
    if roots_only:
        conditions.append("parent_id IS NULL")
    for tag in tags:
        conditions.append(
            "EXISTS (SELECT 1 FROM json_each(json_extract(spec_json, '$.tags')) WHERE value = ?)"
        )
        parameters.append(tag)
    if since is not None:
        conditions.append("created_at >= ?")
        parameters.append(since)
    if until is not None:
        conditions.append("created_at < ?")
        parameters.append(until)
    if page_token:
        created_at, job_id = decode_page_token(page_token)
        conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
        parameters.extend((created_at, created_at, job_id))
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = store.query(
        f"SELECT id, created_at FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        [*parameters, limit + 1],
    )
    jobs = store.get_jobs([row["id"] for row in rows[:limit]])
    token = ""
    if len(rows) > limit:
        token = encode_page_token(jobs[-1].created_at, jobs[-1].id)
    return JobPage(jobs, token)
