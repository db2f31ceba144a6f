"""The role table covers every RPC, and the authenticator's pieces behave."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import protos
from controller.security import METHOD_ROLES, FailureLog
from controller.tokens import TokenStore


def all_methods() -> list[tuple[str, bool, bool]]:
    """Return (full method name, client streaming, server streaming) of every aefarm RPC."""
    methods = []
    names = [info.name for info in pkgutil.iter_modules(protos.__path__)]
    modules = [importlib.import_module(f"protos.{name}") for name in names if name.endswith("_pb2")]
    for module in modules:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                name = f"/{service.full_name}/{method.name}"
                methods.append((name, method.client_streaming, method.server_streaming))
    return methods


def test_every_rpc_has_a_role() -> None:
    missing = [name for name, _, _ in all_methods() if name not in METHOD_ROLES]

    assert missing == []


def test_role_table_names_only_real_rpcs() -> None:
    real = {name for name, _, _ in all_methods()}
    stale = [name for name in METHOD_ROLES if name not in real and not name.startswith("/grpc.")]

    assert stale == []


def test_token_verifies_until_revoked(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    token, bearer = tokens.create("submit", "ci")

    assert tokens.verify(bearer) == token
    tokens.revoke(token.id)
    assert tokens.verify(bearer) is None


def test_token_secret_not_stored(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    _, bearer = tokens.create("admin")
    tokens.close()

    assert bearer.split(".")[1].encode() not in (tmp_path / "tokens.db").read_bytes()


def test_token_with_wrong_secret_fails(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    token, _ = tokens.create("admin")

    assert tokens.verify(f"{token.id}.{'a' * 64}") is None
    assert tokens.verify("no-separator") is None
    assert tokens.verify(f"unknown.{'a' * 64}") is None


def test_failure_log_counts_repeats(caplog: object) -> None:
    now = [0.0]
    log = FailureLog(clock=lambda: now[0])
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("controller.security").addHandler(handler)
    try:
        for _ in range(4):
            log.record("ipv4:10.0.0.5:1234", "/m", "bad token")
        now[0] = 61.0
        log.record("ipv4:10.0.0.5:999", "/m", "bad token")
    finally:
        logging.getLogger("controller.security").removeHandler(handler)

    assert len(records) == 2
    assert "3 more failures" in records[1].getMessage()
