"""The agent's channel credentials: TLS (optionally with a client certificate) and a token.

With a client certificate that the controller's client CA issued (mutual TLS), the agent
needs no token. A token is sent as `authorization: Bearer <token>` on every call of the
channel, the agent stream and the artifact downloads and uploads alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelSecurity:
    # CA certificate that issued the controller's certificate; None connects without TLS.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    token: str = ""

    def credentials(self) -> grpc.ChannelCredentials | None:
        if self.tls_ca is None:
            return None
        chain = self.tls_cert.read_bytes() if self.tls_cert else None
        key = self.tls_key.read_bytes() if self.tls_key else None
        return grpc.ssl_channel_credentials(self.tls_ca.read_bytes(), key, chain)


def read_token(token_file: Path | None, token: str = "") -> str:
    if token:
        return token.strip()
    if token_file is None:
        return ""
    return token_file.read_text(encoding="utf-8").strip()


class _TokenInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self.header)
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
        )

    async def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    intercept_unary_unary = _call
    intercept_unary_stream = _call
    intercept_stream_unary = _call
    intercept_stream_stream = _call


def open_channel(
    target: str, options: list[tuple[str, int]], security: ChannelSecurity | None
) -> grpc.aio.Channel:
    security = security or ChannelSecurity()
    interceptors = [_TokenInterceptor(security.token)] if security.token else None
    credentials = security.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
