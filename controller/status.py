"""The one table from the controller's errors to gRPC status codes, and the abort helpers.

Servicer methods are wrapped in unary_errors or stream_errors. An error in STATUS_CODES aborts
the call with its code and message. A rejected job aborts with INVALID_ARGUMENT and a
google.rpc.BadRequest detail. Anything else is logged with its traceback and aborts INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controller import errors
from controller.jobspec.parse import JobRejected
from controller.store import InvalidPageToken

logger = logging.getLogger(__name__)

STATUS_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (errors.JobNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AgentNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AttemptNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.ArtifactNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.JobAlreadyFinal, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidPageToken, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.ChecksumMismatch, grpc.StatusCode.DATA_LOSS),
    (errors.OffsetOutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (errors.WatcherBehind, grpc.StatusCode.ABORTED),
    (errors.ControllerStopping, grpc.StatusCode.UNAVAILABLE),
    (errors.StoreFailure, grpc.StatusCode.UNAVAILABLE),
)

Response = TypeVar("Response")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


def status_code(error: BaseException) -> grpc.StatusCode:
    for error_type, code in STATUS_CODES:
        if isinstance(error, error_type):
            return code
    else:
        return grpc.StatusCode.INTERNAL


async def abort(context: Context, error: Exception) -> NoReturn:
    if isinstance(error, JobRejected):
        await context.abort_with_status(rejected_status(error))
    code = status_code(error)
    if code is grpc.StatusCode.INTERNAL:
        logger.error("internal error in a request", exc_info=error)
        await context.abort(code, f"internal controller error: {error}; see the controller log")
    await context.abort(code, str(error))
    # grpc has no type hints, so mypy cannot see that abort() always raises.
    raise AssertionError("context.abort() returned")


def rejected_status(error: JobRejected) -> grpc.Status:
    """Return INVALID_ARGUMENT with one BadRequest field violation per problem of the job."""
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=problem.path, description=problem.reason
            )
            for problem in error.problems
        ]
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error))
    status.details.add().Pack(bad_request)
    return rpc_status.to_status(status)


def unary_errors(
    method: Callable[[Any, Any, Any], Awaitable[Response]],
) -> Callable[[Any, Any, Any], Awaitable[Response]]:
    """Turn the errors of a unary servicer method into gRPC statuses."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Response:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort(context, error)

    return wrapper


def stream_errors(
    method: Callable[[Any, Any, Any], AsyncIterator[Response]],
) -> Callable[[Any, Any, Any], AsyncIterator[Response]]:
    """Turn the errors of a server-streaming servicer method into gRPC statuses."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Response]:
        try:
            async for response in method(self, request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort(context, error)

    return wrapper
