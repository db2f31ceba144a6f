"""Access control: bearer tokens and client certificates, checked on every RPC against roles.

AuthInterceptor wraps each method handler so that, before the servicer runs, the caller's
role is found (a bearer token in the `authorization` metadata, or for agents a client
certificate that the controller's client CA verified) and compared with METHOD_ROLES. A
method missing from METHOD_ROLES is rejected for everyone, so a new RPC stays closed until it
is given a role.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from controller.ownership import Ownership, OwnershipDenied
from controller.tokens import Token, TokenStore

logger = logging.getLogger(__name__)

PUBLIC = frozenset({"public"})
AGENT = frozenset({"agent"})
SUBMIT = frozenset({"submit", "operator", "admin"})
OPERATOR = frozenset({"operator", "admin"})
ADMIN = frozenset({"admin"})
# Artifacts are read by agents (templates, child outputs) and by users (`aefarm output`).
ARTIFACT_USERS = AGENT | SUBMIT

# Full gRPC method name -> the roles allowed to call it.
METHOD_ROLES: dict[str, frozenset[str]] = {
    "/aefarm.v1.AgentService/Connect": AGENT,
    "/aefarm.v1.ArtifactService/Upload": ARTIFACT_USERS,
    "/aefarm.v1.ArtifactService/Download": ARTIFACT_USERS,
    "/aefarm.v1.ArtifactService/Stat": ARTIFACT_USERS,
    "/aefarm.v1.ArtifactService/Prune": ADMIN,
    "/aefarm.v1.JobService/Submit": SUBMIT,
    "/aefarm.v1.JobService/Validate": SUBMIT,
    "/aefarm.v1.JobService/GetJob": SUBMIT,
    "/aefarm.v1.JobService/ListJobs": SUBMIT,
    "/aefarm.v1.JobService/WatchJob": SUBMIT,
    "/aefarm.v1.JobService/GetJobLogs": SUBMIT,
    "/aefarm.v1.JobService/CancelJob": OPERATOR,
    "/aefarm.v1.JobService/SetPriority": OPERATOR,
    "/aefarm.v1.FarmService/ListAgents": SUBMIT,
    "/aefarm.v1.FarmService/DrainAgent": OPERATOR,
    "/aefarm.v1.FarmService/ResumeAgent": OPERATOR,
    "/aefarm.v1.TemplateService/AddTemplate": ADMIN,
    "/aefarm.v1.TemplateService/ListTemplates": SUBMIT,
    "/aefarm.v1.TemplateService/GetTemplate": SUBMIT,
    "/aefarm.v1.BatchService/SubmitBatch": SUBMIT,
    "/aefarm.v1.BatchService/GetBatch": SUBMIT,
    "/aefarm.v1.BatchService/CancelBatch": OPERATOR,
    "/aefarm.v1.TokenService/CreateToken": ADMIN,
    "/aefarm.v1.TokenService/ListTokens": ADMIN,
    "/aefarm.v1.TokenService/RevokeToken": ADMIN,
    # Probes and API discovery stay open, as standard tools call them without credentials.
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": PUBLIC,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": PUBLIC,
}

# Seconds over which repeated authentication failures from one peer host log one line.
FAILURE_LOG_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a token, or an agent's client certificate."""

    role: str
    token_id: str = ""
    name: str = ""


current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


class AuthRejected(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FailureLog:
    """Logs failed authentications with the peer, one line per peer host and window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # peer host -> (window start, failures not yet logged)
        self._windows: dict[str, tuple[float, int]] = {}

    def record(self, peer: str, method: str, reason: str) -> None:
        host = peer.rsplit(":", 1)[0]
        now = self._clock()
        started, suppressed = self._windows.get(host, (-FAILURE_LOG_WINDOW_SECONDS, 0))
        if now - started < FAILURE_LOG_WINDOW_SECONDS:
            self._windows[host] = (started, suppressed + 1)
            return
        more = f" ({suppressed} more failures from this host before)" if suppressed else ""
        logger.warning("authentication failed from %s on %s: %s%s", peer, method, reason, more)
        self._windows[host] = (now, 0)


class Authenticator:
    """Finds the caller's role from the call's metadata and TLS peer."""

    def __init__(self, tokens: TokenStore, client_certs_are_agents: bool) -> None:
        self.tokens = tokens
        self.ownership = Ownership(tokens)
        self.client_certs_are_agents = client_certs_are_agents
        self.failures = FailureLog()

    def authorize(self, method: str, context: grpc.aio.ServicerContext) -> Principal | None:
        """Return the caller, or raise AuthRejected; None for a public method."""
        allowed = METHOD_ROLES.get(method)
        if allowed is None:
            raise AuthRejected(grpc.StatusCode.PERMISSION_DENIED, f"{method} has no role assigned")
        if allowed is PUBLIC:
            return None
        principal = self._authenticate(context)
        if principal is None:
            reason = "missing or invalid token"
            self.failures.record(context.peer(), method, reason)
            raise AuthRejected(
                grpc.StatusCode.UNAUTHENTICATED,
                f"{reason}: send `authorization: Bearer <token>` with a token from "
                "`aefarm token create`",
            )
        if principal.role not in allowed:
            roles = " or ".join(sorted(allowed))
            raise AuthRejected(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} needs the role {roles}; this caller has the role {principal.role}",
            )
        return principal

    def _authenticate(self, context: grpc.aio.ServicerContext) -> Principal | None:
        bearer = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, bearer = value.partition(" ")
                if scheme.lower() != "bearer":
                    bearer = ""
        if bearer:
            token: Token | None = self.tokens.verify(bearer.strip())
            if token is not None:
                return Principal(token.role, token.id, token.name)
            return None
        if self.client_certs_are_agents:
            # With a client CA set, the TLS handshake already rejected certificates it did not
            # issue, so any peer certificate here names an agent.
            names = context.auth_context().get("x509_common_name")
            if names:
                return Principal("agent", name=names[0].decode("utf-8", "replace"))
        return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _guarded(handler, handler_call_details.method, self.authenticator)


def _guarded(
    handler: grpc.RpcMethodHandler, method: str, authenticator: Authenticator
) -> grpc.RpcMethodHandler:
    """Return a handler that authorizes the call before it runs the original handler."""
    ownership = authenticator.ownership

    async def check(context: grpc.aio.ServicerContext, request: Any) -> Principal | None:
        try:
            principal = authenticator.authorize(method, context)
            if principal is not None and not inspect.isasyncgen(request):
                ownership.check_request(method, request, principal.token_id, principal.role)
        except AuthRejected as rejected:
            await context.abort(rejected.code, rejected.details)
        except OwnershipDenied as denied:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(denied))
        current_principal.set(principal)
        return principal

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary or handler.stream_unary:
        unary_behavior = handler.unary_unary or handler.stream_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal = await check(context, request)
            response = await unary_behavior(request, context)
            if principal is None:
                return response
            return ownership.after_response(method, response, principal.token_id, principal.role)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary, **serializers)
        return grpc.stream_unary_rpc_method_handler(unary, **serializers)

    stream_behavior = handler.unary_stream or handler.stream_stream

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await check(context, request)
        result = stream_behavior(request, context)
        if inspect.isasyncgen(result):
            async for response in result:
                yield response
        else:
            # A servicer that writes with context.write() returns a coroutine instead.
            await result

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream, **serializers)
    return grpc.stream_stream_rpc_method_handler(stream, **serializers)
