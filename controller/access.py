"""The controller's transport security and access control, as one object the server uses.

Without TLS and tokens the controller may only listen on loopback, where only local users
reach it. The `trusted_network` setting lifts that rule for a network the operator trusts.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc

from controller.security import Authenticator, AuthInterceptor
from controller.services.token_service import TokenService
from controller.tls import ReloadingCredentials, TlsFiles
from controller.tokens import TokenStore
from protos import security_pb2_grpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessSettings:
    tls: TlsFiles | None = None
    # Check a bearer token (or an agent's client certificate) on every call.
    require_auth: bool = False
    # Allow a non-loopback address without TLS and tokens.
    trusted_network: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, settings: AccessSettings) -> None:
    """Raise RuntimeError when host is reachable from other machines without protection."""
    if is_loopback(host):
        return
    missing = []
    if settings.tls is None:
        missing.append("TLS (--tls-cert and --tls-key)")
    if not settings.require_auth:
        missing.append("tokens (--require-auth)")
    if not missing:
        return
    if settings.trusted_network:
        logger.warning(
            "listening on %s without %s because of --trusted-network: anyone who reaches this "
            "address can submit and cancel jobs",
            host,
            " and ".join(missing),
        )
        return
    raise RuntimeError(
        f"refusing to listen on {host} without {' and '.join(missing)}: set them up "
        "(see `aefarm certs init` and `aefarm-controller token create`), listen on 127.0.0.1, "
        "or pass --trusted-network on a network you trust"
    )


class ServerAccess:
    """Credentials, interceptors and the token service of one controller run."""

    def __init__(self, settings: AccessSettings, data_dir: Path) -> None:
        self.settings = settings
        self.tokens = TokenStore(data_dir)
        self._credentials = ReloadingCredentials(settings.tls) if settings.tls else None

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        if not self.settings.require_auth:
            return []
        tls = self.settings.tls
        authenticator = Authenticator(self.tokens, tls is not None and tls.client_ca is not None)
        return [AuthInterceptor(authenticator)]

    def add_services(self, server: grpc.aio.Server) -> None:
        security_pb2_grpc.add_TokenServiceServicer_to_server(TokenService(self.tokens), server)

    def add_port(self, server: grpc.aio.Server, address: str) -> int:
        if self._credentials is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, self._credentials.credentials)

    def close(self) -> None:
        if self._credentials is not None:
            self._credentials.close()
        self.tokens.close()
