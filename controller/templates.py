"""Templates known to the controller: a stored .aep, its unique name, and what inspection found.

The catalog keeps its rows in the store's `templates` table (schema version 3) and reads them
through the store's execute and query methods.
"""

from __future__ import annotations

import difflib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from controller.artifacts import artifact_url
from controller.template_inspect import TemplateInfo

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
    def __init__(self, store: TemplateStoreBackend) -> None:
        self.store = store

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
        return _record(rows[0]) if rows else None

    def find_by_sha256(self, sha256: str) -> TemplateRecord | None:
        rows = self.store.query(
            "SELECT * FROM templates WHERE sha256 = ? ORDER BY created_at LIMIT 1", (sha256,)
        )
        return _record(rows[0]) if rows else None

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
