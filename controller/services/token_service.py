"""TokenService: create, list and revoke API tokens over gRPC (admin role only)."""

from __future__ import annotations

import logging

import grpc

from controller.tokens import Token, TokenError, TokenStore
from protos import security_pb2, security_pb2_grpc

logger = logging.getLogger(__name__)


def token_message(token: Token) -> security_pb2.TokenInfo:
    return security_pb2.TokenInfo(
        id=token.id,
        role=token.role,
        name=token.name,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


class TokenService(security_pb2_grpc.TokenServiceServicer):
    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    async def CreateToken(
        self, request: security_pb2.CreateTokenRequest, context: grpc.aio.ServicerContext
    ) -> security_pb2.CreateTokenResponse:
        try:
            token, secret = self.tokens.create(request.role, request.name)
        except TokenError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            raise  # abort always raises, and this raise lets type checkers see it
        return security_pb2.CreateTokenResponse(token=token_message(token), secret=secret)

    async def ListTokens(
        self, request: security_pb2.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> security_pb2.ListTokensResponse:
        return security_pb2.ListTokensResponse(
            tokens=[token_message(token) for token in self.tokens.list_tokens()]
        )

    async def RevokeToken(
        self, request: security_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> security_pb2.TokenInfo:
        try:
            return token_message(self.tokens.revoke(request.id))
        except TokenError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
            raise  # abort always raises, and this raise lets type checkers see it
