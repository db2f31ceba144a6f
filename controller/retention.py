"""Artifact retention: remove stored outputs by age or by the store's total size.

With --artifact-max-age-days, a file stored longer ago is removed. With --artifact-max-size-gb,
the oldest files are removed until the rest fit. A file that a job of an unfinished tree lists
as an output or an input is never removed, whatever its age, because a parent still needs it.
The controller prunes at start and then every PRUNE_INTERVAL_SECONDS, and logs each removed
file with its job, size and age.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from controller.artifacts import ArtifactStore, parse_artifact_url
from controller.sqlite_schema import UNFINISHED_STATES
from controller.webhooks import Tables

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86400.0
GIGABYTE = 1024**3
# An artifact URL anywhere in a job's spec: a template, an asset or a nested job's source.
_SPEC_ARTIFACT = re.compile(r"artifact://([0-9a-f]{64})")


@dataclass(frozen=True)
class RetentionConfig:
    max_age_days: float | None = None
    max_size_gb: float | None = None

    @property
    def enabled(self) -> bool:
        return self.max_age_days is not None or self.max_size_gb is not None


@dataclass(frozen=True)
class Removed:
    sha256: str
    size: int
    job_id: str
    created_at: float
    reason: str
    # Every name the file was stored under, comma separated.
    names: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifact-max-age-days",
        type=float,
        metavar="DAYS",
        help="remove stored outputs older than this, unless an unfinished job needs them",
    )
    parser.add_argument(
        "--artifact-max-size-gb",
        type=float,
        metavar="GB",
        help="remove the oldest stored outputs until the rest take at most this much",
    )


def config_from_args(args: argparse.Namespace) -> RetentionConfig:
    for flag, value in (
        ("--artifact-max-age-days", args.artifact_max_age_days),
        ("--artifact-max-size-gb", args.artifact_max_size_gb),
    ):
        if value is not None and value < 0:
            raise SystemExit(f"{flag} {value:g}: give 0 or more")
    return RetentionConfig(args.artifact_max_age_days, args.artifact_max_size_gb)


def protected_hashes(store: Tables) -> set[str]:
    """Collect the sha256 of every artifact that a job of an unfinished tree lists: as an
    output, as a child's output it reads, or as a source in its spec (a template or asset)."""
    placeholders = ", ".join("?" for _ in UNFINISHED_STATES)
    rows = store.query(
        "SELECT outputs_json, inputs_json, spec_json FROM jobs WHERE root_id IN "
        f"(SELECT root_id FROM jobs WHERE state IN ({placeholders}))",
        UNFINISHED_STATES,
    )
    found = set()
    for row in rows:
        for entry in [*json.loads(row["outputs_json"]), *json.loads(row["inputs_json"])]:
            sha256 = parse_artifact_url(entry.get("url") or entry.get("src") or "")
            if sha256:
                found.add(sha256)
        found.update(_SPEC_ARTIFACT.findall(row["spec_json"] or ""))
    return found


def prune(
    store: Tables,
    artifacts: ArtifactStore,
    config: RetentionConfig,
    now: float,
    *,
    dry_run: bool = False,
) -> list[Removed]:
    """Remove the artifacts that the config selects, and return them, oldest first.

    With dry_run, return them and remove nothing.
    """
    rows = store.query(
        "SELECT sha256, MAX(size) AS size, MIN(created_at) AS created_at, MIN(job_id) AS job_id, "
        "GROUP_CONCAT(name) AS names FROM artifacts GROUP BY sha256 ORDER BY created_at, sha256"
    )
    keep = protected_hashes(store)
    candidates = [row for row in rows if row["sha256"] not in keep]
    removed: list[Removed] = []
    if config.max_age_days is not None:
        cutoff = now - config.max_age_days * DAY_SECONDS
        for row in candidates:
            if row["created_at"] < cutoff:
                removed.append(_removed(row, f"older than {config.max_age_days:g} days"))
    if config.max_size_gb is not None:
        gone = {entry.sha256 for entry in removed}
        total = sum(row["size"] for row in rows if row["sha256"] not in gone)
        limit = config.max_size_gb * GIGABYTE
        for row in candidates:
            if total <= limit:
                break
            if row["sha256"] in gone:
                continue
            removed.append(_removed(row, f"the store exceeded {config.max_size_gb:g} GB"))
            total -= row["size"]
    if dry_run:
        return removed
    with store.transaction():
        for entry in removed:
            store.execute("DELETE FROM artifacts WHERE sha256 = ?", (entry.sha256,))
    for entry in removed:
        artifacts.path(entry.sha256).unlink(missing_ok=True)
        logger.info(
            "removed artifact %s of job=%s (%d bytes, %.1f days old): %s",
            entry.sha256,
            entry.job_id,
            entry.size,
            (now - entry.created_at) / DAY_SECONDS,
            entry.reason,
        )
    return removed


def _removed(row: sqlite3.Row, reason: str) -> Removed:
    return Removed(
        row["sha256"], row["size"], row["job_id"], row["created_at"], reason, row["names"] or ""
    )


async def run_retention(
    store: Tables, artifacts: ArtifactStore, config: RetentionConfig, clock: Callable[[], float]
) -> None:
    """Prune now and then every PRUNE_INTERVAL_SECONDS, until cancelled."""
    while True:
        removed = prune(store, artifacts, config, clock())
        if removed:
            logger.info(
                "artifact retention removed %d files, %d bytes",
                len(removed),
                sum(entry.size for entry in removed),
            )
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
