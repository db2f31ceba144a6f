"""The controller address, the gRPC channel and the calls the commands make through it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import grpc

from controller.cli.credentials import ChannelSecurity, open_channel
from controller.cli.errors import EXIT_INVALID, CliError, error_from_rpc
from protos import artifacts_pb2_grpc, jobs_pb2_grpc

logger = logging.getLogger(__name__)

ADDRESS_ENV = "AEFARM_CONTROLLER"
DEFAULT_ADDRESS = "127.0.0.1:8470"

# Seconds one connection attempt (TCP and the HTTP/2 handshake) may take before the controller
# counts as unreachable. A refused connection fails at once, without waiting.
CONNECT_TIMEOUT_SECONDS = 5.0
# Seconds one unary call may take, connecting included.
CALL_TIMEOUT_SECONDS = 30.0
# Seconds between the channel's reconnection attempts after a failure: the first delay and the
# maximum. gRPC's default maximum of 120 s (doc/connection-backoff.md in the gRPC repository)
# would outlast the watch command's reconnect window.
INITIAL_RECONNECT_DELAY_SECONDS = 0.5
MAX_RECONNECT_DELAY_SECONDS = 5.0

MAX_RECEIVE_BYTES = 16 * 1024 * 1024

Response = TypeVar("Response")


@dataclass(frozen=True)
class ControllerAddress:
    """A HOST:PORT address and where the CLI got it from, for error messages."""

    address: str
    origin: str


def resolve_address(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Return the controller address: the --controller option, then AEFARM_CONTROLLER.

    Raises CliError (exit 2) when the address is not HOST:PORT.
    """
    environ = os.environ if environ is None else environ
    if option:
        chosen = ControllerAddress(option.strip(), "--controller")
    elif environ.get(ADDRESS_ENV, "").strip():
        chosen = ControllerAddress(environ[ADDRESS_ENV].strip(), ADDRESS_ENV)
    else:
        chosen = ControllerAddress(DEFAULT_ADDRESS, "the default")
    validate_address(chosen)
    return chosen.address


def validate_address(chosen: ControllerAddress) -> None:
    host, separator, port_text = chosen.address.rpartition(":")
    problem = None
    if not separator or not host:
        problem = "expected HOST:PORT"
    elif not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        problem = f"port {port_text!r} is not a number from 1 to 65535"
    elif ":" in host and not (host.startswith("[") and host.endswith("]")):
        problem = "an IPv6 host must be in brackets, as in [::1]:8470"
    if problem:
        raise CliError(
            f"invalid controller address {chosen.address!r} from {chosen.origin}: {problem}",
            EXIT_INVALID,
        )


def channel_options(connect_timeout: float) -> list[tuple[str, int]]:
    return [
        # gRPC gives each connection attempt at least MIN_CONNECT_TIMEOUT (default 20 s, set
        # by this option). Measured with grpcio 1.85: against a server that accepts TCP and
        # never sends HTTP/2 SETTINGS, a call fails after this time instead of after 20 s.
        ("grpc.min_reconnect_backoff_ms", int(connect_timeout * 1000)),
        ("grpc.initial_reconnect_backoff_ms", int(INITIAL_RECONNECT_DELAY_SECONDS * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(MAX_RECONNECT_DELAY_SECONDS * 1000)),
        # As large as the controller sends (MAX_MESSAGE_BYTES in controller/server.py), so a
        # reply with a big job spec is read instead of failing after the call succeeded.
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ]


class Controller:
    """A channel to one controller with the stubs of its services.

    Calls fail fast: without a connection, a call fails as soon as the connection attempt
    fails, which takes at most connect_timeout seconds.
    """

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        self.address = address
        security = ChannelSecurity.from_environment()
        self.channel = open_channel(address, channel_options(connect_timeout), security)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.farm = jobs_pb2_grpc.FarmServiceStub(self.channel)
        self.artifacts = artifacts_pb2_grpc.ArtifactServiceStub(self.channel)

    def __enter__(self) -> Controller:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def unary(
        self,
        method: Callable[..., Response],
        request: Any,
        action: str,
        timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> Response:
        """Call a unary method and turn a failure into a CliError; action names the call."""
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise error_from_rpc(error, self.address, action) from error
