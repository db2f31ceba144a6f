"""`aefarm certs init`: a small certificate authority for one farm.

It writes DIR/ca.crt and DIR/ca.key, DIR/controller.crt and DIR/controller.key (server
certificate for 127.0.0.1, localhost and each --controller-host), and DIR/agents/NAME.crt and
NAME.key (client certificate, common name NAME) for each --agent. Keys are EC P-256 and are
written with mode 0600. An existing CA in DIR is reused, so agents can be added later.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

CA_DAYS = 3650
CERT_DAYS = 825
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

PrivateKey = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aefarm"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def create_ca(common_name: str = "aefarm CA") -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def issue(
    ca: tuple[x509.Certificate, PrivateKey],
    common_name: str,
    *,
    hosts: tuple[str, ...] = (),
    client: bool = False,
    not_before: datetime.datetime | None = None,
    days: int = CERT_DAYS,
) -> tuple[x509.Certificate, PrivateKey]:
    """Issue a server certificate for hosts, or with client=True a client certificate."""
    ca_certificate, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if hosts:
        alt_names = [_alt_name(host) for host in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_pair(pair: tuple[x509.Certificate, PrivateKey], cert_path: Path, key_path: Path) -> None:
    certificate, key = pair
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def load_or_create_ca(folder: Path) -> tuple[x509.Certificate, PrivateKey]:
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC key made by aefarm certs init")
        return certificate, key
    pair = create_ca()
    write_pair(pair, cert_path, key_path)
    return pair


def init_certificates(folder: Path, controller_hosts: list[str], agents: list[str]) -> list[Path]:
    """Write the CA, the controller certificate and one certificate per agent; return paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = load_or_create_ca(folder)
    hosts = tuple(dict.fromkeys([*LOOPBACK_NAMES, *controller_hosts]))
    written = [folder / "ca.crt"]
    server = issue(ca, controller_hosts[0] if controller_hosts else "localhost", hosts=hosts)
    write_pair(server, folder / "controller.crt", folder / "controller.key")
    written.append(folder / "controller.crt")
    for agent in agents:
        pair = issue(ca, agent, client=True)
        write_pair(pair, folder / "agents" / f"{agent}.crt", folder / "agents" / f"{agent}.key")
        written.append(folder / "agents" / f"{agent}.crt")
    return written


def run_certs_init(args: argparse.Namespace) -> int:
    for path in init_certificates(Path(args.dir), args.controller_host, args.agent):
        print(path)
    return 0


def add_certs_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "certs",
        help="create TLS certificates for the controller and the agents",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create a CA and certificates in DIR")
    init.add_argument("dir", metavar="DIR", help="folder for the certificates and keys")
    init.add_argument(
        "--controller-host",
        action="append",
        default=[],
        metavar="NAME",
        help="host name or IP address agents use to reach the controller; repeatable",
    )
    init.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NAME",
        help="agent id to issue a client certificate for; repeatable",
    )
    init.set_defaults(handler=run_certs_init)
