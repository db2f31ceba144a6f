"""Command-line options of the controller for TLS, tokens, metrics, logs and watch folders."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from controller.access import AccessSettings
from controller.logformat import LOG_FORMATS
from controller.tls import TlsFiles

logger = logging.getLogger(__name__)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number from 0 to 65535")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("security")
    group.add_argument("--tls-cert", type=Path, metavar="FILE", help="PEM server certificate")
    group.add_argument("--tls-key", type=Path, metavar="FILE", help="PEM key of --tls-cert")
    group.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="PEM CA certificate; every client must then present a certificate it issued "
        "(mutual TLS), and an agent's certificate replaces its token",
    )
    group.add_argument(
        "--require-auth",
        action="store_true",
        help="check a token with a role (or an agent's client certificate) on every call",
    )
    group.add_argument(
        "--trusted-network",
        action="store_true",
        help="allow a non-loopback --host without TLS and --require-auth",
    )
    group = parser.add_argument_group("operations")
    group.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics on --metrics-host:PORT; 0 picks a free port "
        "(default: no metrics endpoint)",
    )
    group.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics endpoint (default: 127.0.0.1)",
    )
    group.add_argument(
        "--log-format", choices=LOG_FORMATS, default="text", help="text or json (default: text)"
    )
    group.add_argument(
        "--watch-folder",
        type=Path,
        metavar="DIR",
        help="submit job files dropped into DIR; they move to DIR/submitted or DIR/rejected",
    )


def access_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> AccessSettings:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together: give both or neither")
    if args.tls_client_ca is not None and args.tls_cert is None:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    tls = None
    if args.tls_cert is not None:
        tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca)
    return AccessSettings(tls, args.require_auth, args.trusted_network)
