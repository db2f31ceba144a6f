"""Exit codes of the admin CLI and the one table that maps gRPC status codes to them.

Every command raises CliError for a failure it can explain. main() prints the message on one
line and exits with the error's code, so no failure reaches the user as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

logger = logging.getLogger(__name__)

EXIT_OK = 0
# The job failed or was cancelled, or the controller refused the request.
EXIT_FAILED = 1
# The job or the command line is invalid. argparse also exits with 2 on a usage error.
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3
# The user stopped the command with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

HOW_TO_SET_ADDRESS = (
    "Start a farm with `aefarm up`, or point the CLI at a running controller with "
    "--controller HOST:PORT or the AEFARM_CONTROLLER environment variable."
)


class CliError(Exception):
    """A failure that the CLI reports on stderr before it exits with exit_code.

    The message is one line. detail_lines, such as one line per problem of an invalid job,
    follow it.
    """

    def __init__(
        self, message: str, exit_code: int = EXIT_FAILED, detail_lines: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.detail_lines = list(detail_lines)


class ControllerUnreachable(CliError):
    """No connection to the controller, or the connection broke and did not come back."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the controller at {address}: {reason}. {HOW_TO_SET_ADDRESS}",
            EXIT_UNREACHABLE,
        )
        self.address = address
        self.reason = reason


# Codes after which a stream is worth opening again: the connection broke or the controller
# went away, but the request itself was fine.
TRANSPORT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


def error_from_rpc(error: grpc.RpcError, address: str, action: str) -> CliError:
    """Return the CliError for a failed call; action names the call, as in "get job 4f2c".

    The transport error stays attached as __cause__ when the caller raises with `from`.
    """
    code = status_code(error)
    details = status_details(error)
    logger.debug("%s failed at %s: %s %s", action, address, code, details)

    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return ControllerUnreachable(address, details or "the connection failed")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return ControllerUnreachable(address, f"{action} timed out")
    if code is grpc.StatusCode.NOT_FOUND:
        return CliError(f"cannot {action}: {details or 'not found'}", EXIT_FAILED)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return CliError(f"cannot {action}: {details or 'invalid request'}", EXIT_INVALID)
    if code in (
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
    ):
        return CliError(f"cannot {action}: {details}", EXIT_FAILED)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return CliError(f"the controller at {address} rejected {action}: {details}", EXIT_FAILED)
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return CliError(
            f"the controller at {address} does not implement {action}; "
            "update the controller to the version of this CLI",
            EXIT_FAILED,
        )
    if code is grpc.StatusCode.DATA_LOSS:
        return CliError(f"{action} failed, data was lost: {details}", EXIT_FAILED)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return CliError(f"the controller at {address} is overloaded: {details}", EXIT_FAILED)
    # INTERNAL, UNKNOWN and any code added later are controller bugs, reported with the code.
    name = code.name if code is not None else "no status"
    return CliError(f"{action} failed on the controller at {address}: {name}: {details}")


def status_code(error: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(error, "code", None)
    return code() if callable(code) else None


def status_details(error: grpc.RpcError) -> str:
    details = getattr(error, "details", None)
    text = details() if callable(details) else None
    return text or ""
