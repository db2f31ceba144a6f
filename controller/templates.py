"""Templates known to the controller: a stored .aep, its unique name, and what inspection found.

The catalog keeps its rows in the store's `templates` table (schema version 3) and reads them
through the store's execute and query methods. A template inspected by an older version of
controller/template_inspect.py is inspected again from its stored file the first time a job or
`aefarm template show` looks it up, and its row is updated; the table's schema stays the same.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from controller.artifacts import ArtifactStore, artifact_url
from controller.template_inspect import (
    INSPECTION_VERSION,
    TemplateInfo,
    TemplateUnreadable,
    inspect_project,
)

logger = logging.getLogger(__name__)

# Closest names given in a "not found" message, and how similar they must be (difflib ratio).
MAX_SUGGESTIONS = 3
SUGGESTION_CUTOFF = 0.5


class TemplateStoreBackend(Protocol):
    def transaction(self, durable: bool = False) -> Any: ...

    def execute(self, sql: str, parameters: Any = ()) -> int: ...

    def query(self, sql: str, parameters: Any = ()) -> list[Any]: ...


@dataclass(frozen=True)
class TemplateRecord:
    id: str
    name: str
    sha256: str
    file_name: str
    size: int
    created_at: float
    info: TemplateInfo

    @property
    def url(self) -> str:
        return artifact_url(self.sha256, self.file_name)


class TemplateNotFound(LookupError):
    """No template has that id or name; the message lists the known names and the closest."""


class TemplateNameTaken(ValueError):
    pass


def closest(name: str, candidates: list[str]) -> list[str]:
    return difflib.get_close_matches(name, candidates, MAX_SUGGESTIONS, SUGGESTION_CUTOFF)


def suggestion_text(name: str, candidates: list[str], what: str) -> str:
    """Say which names exist and which look like name: "did you mean 'Main'?"."""
    near = closest(name, candidates)
    listed = ", ".join(repr(candidate) for candidate in candidates[:20]) or "none"
    if len(candidates) > 20:
        listed += f" and {len(candidates) - 20} more"
    text = f"the {what} are {listed}"
    if near:
        text = f"did you mean {' or '.join(repr(n) for n in near)}? " + text
    return text


def default_name(file_name: str) -> str:
    return PurePosixPath(file_name).stem or file_name


class TemplateCatalog:
    def __init__(self, store: TemplateStoreBackend, artifacts: ArtifactStore | None = None) -> None:
        self.store = store
        # The stored .aep files, for inspecting old templates again; None keeps them as stored.
        self.artifacts = artifacts

    def add(
        self, name: str, sha256: str, file_name: str, size: int, info: TemplateInfo, now: float
    ) -> TemplateRecord:
        """Store a template; raise TemplateNameTaken when another template has the name."""
        existing = self.find(name)
        if existing is not None:
            raise TemplateNameTaken(
                f"a template named {name!r} already exists (id {existing.id}); pick another --name"
            )
        record = TemplateRecord(uuid.uuid4().hex, name, sha256, file_name, size, now, info)
        with self.store.transaction(durable=True):
            self.store.execute(
                "INSERT INTO templates (id, name, sha256, file_name, size, created_at, info_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    name,
                    sha256,
                    file_name,
                    size,
                    now,
                    json.dumps(info.to_json()),
                ),
            )
        logger.info("added template %s %r (%s, sha256 %s)", record.id, name, file_name, sha256)
        return record

    def list(self) -> list[TemplateRecord]:
        return [_record(row) for row in self.store.query("SELECT * FROM templates ORDER BY name")]

    def find(self, id_or_name: str) -> TemplateRecord | None:
        rows = self.store.query(
            "SELECT * FROM templates WHERE id = ? OR name = ? ORDER BY id = ? DESC",
            (id_or_name, id_or_name, id_or_name),
        )
        return self._current(_record(rows[0])) if rows else None

    def find_by_sha256(self, sha256: str) -> TemplateRecord | None:
        rows = self.store.query(
            "SELECT * FROM templates WHERE sha256 = ? ORDER BY created_at LIMIT 1", (sha256,)
        )
        return self._current(_record(rows[0])) if rows else None

    def _current(self, record: TemplateRecord) -> TemplateRecord:
        """Inspect a template stored by an older inspection again, and store the result.

        Keeps the stored result when the file is gone or py-aep cannot read it now. The checks
        that need the newer fields then skip this template.
        """
        if record.info.version >= INSPECTION_VERSION or self.artifacts is None:
            return record
        if not self.artifacts.exists(record.sha256):
            logger.warning(
                "template %s %r has no stored file %s to inspect again",
                record.id,
                record.name,
                record.sha256,
            )
            return record
        try:
            info = inspect_project(self.artifacts.path(record.sha256))
        except TemplateUnreadable as error:
            logger.warning("cannot inspect template %s %r again: %s", record.id, record.name, error)
            return record
        with self.store.transaction(durable=True):
            self.store.execute(
                "UPDATE templates SET info_json = ? WHERE id = ?",
                (json.dumps(info.to_json()), record.id),
            )
        logger.info(
            "inspected template %s %r again (inspection version %d to %d)",
            record.id,
            record.name,
            record.info.version,
            info.version,
        )
        return dataclasses.replace(record, info=info)

    def get(self, id_or_name: str) -> TemplateRecord:
        """Return the template with that id or name, or raise TemplateNotFound."""
        record = self.find(id_or_name)
        if record is not None:
            return record
        names = [template.name for template in self.list()]
        raise TemplateNotFound(
            f"no template has the id or name {id_or_name!r}; "
            f"{suggestion_text(id_or_name, names, 'known templates')}; add one with "
            "`aefarm template add FILE.aep`"
        )


def _record(row: Any) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        name=row["name"],
        sha256=row["sha256"],
        file_name=row["file_name"],
        size=row["size"],
        created_at=row["created_at"],
        info=TemplateInfo.from_json(json.loads(row["info_json"])),
    )
