"""The agent's action after a failed gRPC call, by status code, in one table.

The connection to the controller and the artifact calls both decide through this table, so
a status code means the same thing everywhere in the agent.
"""

from __future__ import annotations

import enum
import logging

import grpc

logger = logging.getLogger(__name__)


class Action(enum.Enum):
    # A passing fault (controller restarting, network down): back off and try again.
    RETRY = "retry"
    # Only an operator can fix it (credentials, permissions): log it and keep trying at the
    # maximum backoff, so the agent comes back by itself once it is fixed.
    RETRY_SLOWLY = "retry_slowly"
    # The request itself is wrong: sending it again fails again. The connection still
    # reconnects after this, with backoff, because a controller upgrade may fix it.
    FAIL = "fail"


STATUS_ACTIONS: dict[grpc.StatusCode, Action] = {
    grpc.StatusCode.OK: Action.RETRY,
    grpc.StatusCode.CANCELLED: Action.RETRY,
    grpc.StatusCode.UNKNOWN: Action.RETRY,
    grpc.StatusCode.INVALID_ARGUMENT: Action.FAIL,
    grpc.StatusCode.DEADLINE_EXCEEDED: Action.RETRY,
    grpc.StatusCode.NOT_FOUND: Action.FAIL,
    grpc.StatusCode.ALREADY_EXISTS: Action.FAIL,
    grpc.StatusCode.PERMISSION_DENIED: Action.RETRY_SLOWLY,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Action.RETRY,
    grpc.StatusCode.FAILED_PRECONDITION: Action.FAIL,
    grpc.StatusCode.ABORTED: Action.RETRY,
    grpc.StatusCode.OUT_OF_RANGE: Action.FAIL,
    grpc.StatusCode.UNIMPLEMENTED: Action.FAIL,
    grpc.StatusCode.INTERNAL: Action.RETRY,
    grpc.StatusCode.UNAVAILABLE: Action.RETRY,
    # The artifact store rejects an upload whose bytes differ from its header: send it again.
    grpc.StatusCode.DATA_LOSS: Action.RETRY,
    grpc.StatusCode.UNAUTHENTICATED: Action.RETRY_SLOWLY,
}


def action_for(code: grpc.StatusCode | None) -> Action:
    """Return the action for code; a code missing from the table (a newer grpcio) retries."""
    if code is None:
        return Action.RETRY
    action = STATUS_ACTIONS.get(code)
    if action is None:
        logger.warning("gRPC status %s is not in the status table: retrying", code)
        return Action.RETRY
    return action


def is_retryable(code: grpc.StatusCode | None) -> bool:
    return action_for(code) is not Action.FAIL
