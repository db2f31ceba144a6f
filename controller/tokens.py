"""API tokens: random secrets stored only as their sha256, each with one role.

A token's bearer value is `<id>.<secret>`: the id finds the row, and the secret's sha256 is
compared with the stored one in constant time. Tokens live in their own SQLite file in the
data dir, so `aefarm-controller token create --data-dir D` can make the first admin token
while no controller runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

TOKENS_FILE = "tokens.db"
# Role names. controller/security.py lists the RPCs each role may call: agent covers the agent
# stream and the artifact calls, and submit, operator and admin each add rights to the one before.
ROLES = ("agent", "submit", "operator", "admin")
SECRET_BYTES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS owners (
    -- A job id or a batch id, and the id of the token that submitted it.
    object_id TEXT PRIMARY KEY,
    token_id TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Token:
    id: str
    role: str
    name: str
    created_at: float
    revoked_at: float = 0.0


class TokenError(ValueError):
    """An invalid role, or a token id that does not exist."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / TOKENS_FILE
        self._clock = clock
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(self, role: str, name: str = "") -> tuple[Token, str]:
        """Store a new token and return it with its bearer value, which is shown only once."""
        if role not in ROLES:
            raise TokenError(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
        token = Token(secrets.token_hex(8), role, name, self._clock())
        secret = secrets.token_hex(SECRET_BYTES)
        self._db.execute(
            "INSERT INTO tokens (id, role, name, secret_sha256, created_at) VALUES (?,?,?,?,?)",
            (token.id, token.role, token.name, _digest(secret), token.created_at),
        )
        logger.info("created token %s with role %s (%s)", token.id, role, name or "no name")
        return token, f"{token.id}.{secret}"

    def list_tokens(self) -> list[Token]:
        rows = self._db.execute(
            "SELECT id, role, name, created_at, revoked_at FROM tokens ORDER BY created_at"
        ).fetchall()
        return [Token(*row) for row in rows]

    def revoke(self, token_id: str) -> Token:
        cursor = self._db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0",
            (self._clock(), token_id),
        )
        found = [token for token in self.list_tokens() if token.id == token_id]
        if not found:
            raise TokenError(f"token {token_id!r} not found: `aefarm token list` shows the ids")
        if cursor.rowcount:
            logger.info("revoked token %s", token_id)
        return found[0]

    def set_owner(self, object_ids: list[str], token_id: str) -> None:
        """Record the token that submitted these jobs or batches."""
        self._db.executemany(
            "INSERT OR IGNORE INTO owners (object_id, token_id) VALUES (?, ?)",
            [(object_id, token_id) for object_id in object_ids],
        )

    def owner(self, object_id: str) -> str | None:
        row = self._db.execute(
            "SELECT token_id FROM owners WHERE object_id = ?", (object_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def verify(self, bearer: str) -> Token | None:
        """Return the valid token whose bearer value this is, or None."""
        token_id, separator, secret = bearer.partition(".")
        if not separator:
            return None
        row = self._db.execute(
            "SELECT id, role, name, created_at, revoked_at, secret_sha256 FROM tokens WHERE id = ?",
            (token_id,),
        ).fetchone()
        # Hash even when the id is unknown, so the time taken does not tell which ids exist.
        expected = row[5] if row is not None else _digest("")
        matches = hmac.compare_digest(_digest(secret), expected)
        if row is None or not matches or row[4]:
            return None
        return Token(*row[:5])
