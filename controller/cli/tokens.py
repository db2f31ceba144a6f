"""`aefarm token create|list|revoke` over the TokenService, and the offline form of
`aefarm-controller token ... --data-dir D` that makes the first admin token."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from controller.cli.client import Controller, resolve_address
from controller.tokens import ROLES, Token, TokenError, TokenStore
from protos import security_pb2, security_pb2_grpc

logger = logging.getLogger(__name__)


def _add_actions(parser: argparse.ArgumentParser, parents: list[argparse.ArgumentParser]) -> None:
    actions = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a token and print its secret once", parents=parents
    )
    create.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    create.add_argument("--name", default="", help="who or what uses it, for `token list`")
    actions.add_parser("list", help="list tokens without their secrets", parents=parents)
    revoke = actions.add_parser(
        "revoke", help="revoke a token; later calls with it fail", parents=parents
    )
    revoke.add_argument("id", metavar="ID", help="token id, as `token list` prints it")


def _print_token(token: Token | security_pb2.TokenInfo, as_json: bool) -> None:
    if as_json:
        fields = ("id", "role", "name", "created_at", "revoked_at")
        print(json.dumps({name: getattr(token, name) for name in fields}))
        return
    created = datetime.datetime.fromtimestamp(token.created_at, datetime.UTC)
    state = "revoked" if token.revoked_at else "valid"
    print(f"{token.id}  {token.role:<8}  {state:<7}  {created:%Y-%m-%d %H:%M}  {token.name}")


def add_token_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    address: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    parser = commands.add_parser(
        "token",
        help="create, list or revoke API tokens (admin role)",
        parents=[address, as_json],
    )
    _add_actions(parser, [address, as_json])
    parser.set_defaults(handler=run_token)


def run_token(args: argparse.Namespace) -> int:
    with Controller(resolve_address(args.controller)) as controller:
        stub = security_pb2_grpc.TokenServiceStub(controller.channel)
        if args.token_command == "create":
            request = security_pb2.CreateTokenRequest(role=args.role, name=args.name)
            created = controller.unary(stub.CreateToken, request, "create a token")
            _print_token(created.token, args.json)
            print(created.secret)
        elif args.token_command == "list":
            listed = controller.unary(stub.ListTokens, security_pb2.ListTokensRequest(), "list")
            for info in listed.tokens:
                _print_token(info, args.json)
        else:
            request_id = security_pb2.RevokeTokenRequest(id=args.id)
            _print_token(controller.unary(stub.RevokeToken, request_id, "revoke"), args.json)
    return 0


def run_offline(argv: Sequence[str]) -> int:
    """Run `aefarm-controller token ...` on the token file of a data dir."""
    parser = argparse.ArgumentParser(
        prog="aefarm-controller token",
        description="Manage the API tokens in a controller's data dir without the controller, "
        "for example to create the first admin token.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, required=True, help="the controller's data dir")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_actions(parser, [common])
    args = parser.parse_args(argv)
    tokens = TokenStore(args.data_dir)
    try:
        if args.token_command == "create":
            token, secret = tokens.create(args.role, args.name)
            _print_token(token, args.json)
            print(secret)
        elif args.token_command == "list":
            for token in tokens.list_tokens():
                _print_token(token, args.json)
        else:
            _print_token(tokens.revoke(args.id), args.json)
    except TokenError as error:
        print(f"aefarm-controller token: {error}", file=sys.stderr)
        return 1
    finally:
        tokens.close()
    return 0
