"""TLS and token settings of the CLI's channel, from flags or AEFARM_* variables.

AEFARM_TLS_CA (or --tls-ca) turns on TLS and names the CA that issued the controller's
certificate; AEFARM_TLS_CERT and AEFARM_TLS_KEY add a client certificate for mutual TLS;
AEFARM_TOKEN or AEFARM_TOKEN_FILE give the bearer token sent on every call.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelSecurity:
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ChannelSecurity:
        environ = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = environ.get(name, "").strip()
            return Path(value) if value else None

        token = environ.get("AEFARM_TOKEN", "").strip()
        token_file = path("AEFARM_TOKEN_FILE")
        if not token and token_file is not None:
            token = token_file.read_text().strip()
        return cls(path("AEFARM_TLS_CA"), path("AEFARM_TLS_CERT"), path("AEFARM_TLS_KEY"), token)

    def ssl_credentials(self) -> grpc.ChannelCredentials | None:
        if self.tls_ca is None:
            return None
        chain = self.tls_cert.read_bytes() if self.tls_cert else None
        key = self.tls_key.read_bytes() if self.tls_key else None
        return grpc.ssl_channel_credentials(self.tls_ca.read_bytes(), key, chain)


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready")
    ),
    grpc.ClientCallDetails,
):
    pass


class TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), self.header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
        )

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    intercept_unary_unary = _call
    intercept_unary_stream = _call
    intercept_stream_unary = _call
    intercept_stream_stream = _call


def open_channel(
    address: str, options: list[tuple[str, int]], security: ChannelSecurity
) -> grpc.Channel:
    credentials = security.ssl_credentials()
    if credentials is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, credentials, options=options)
    if security.token:
        return grpc.intercept_channel(channel, TokenInterceptor(security.token))
    return channel
