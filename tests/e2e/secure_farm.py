"""A Farm whose controller uses TLS and tokens, with certificates from `aefarm certs init`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import py_aep

from controller.cli.credentials import TokenInterceptor
from tests.e2e.farm import TOP, Farm

CLIENT_CERT = "cli"


def certs_init(folder: Path, *agents: str) -> Path:
    argv = [sys.executable, "-m", "controller.cli.main", "certs", "init", str(folder)]
    for agent in (*agents, CLIENT_CERT):
        argv += ["--agent", agent]
    subprocess.run(argv, check=True, capture_output=True, cwd=TOP)
    return folder


def offline_token(data_dir: Path, role: str, name: str = "") -> str:
    """Create a token with `aefarm-controller token create` and return its bearer value."""
    argv = [sys.executable, "-m", "controller.main", "token", "create", "--role", role]
    argv += ["--name", name, "--data-dir", str(data_dir)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=TOP)
    return done.stdout.strip().splitlines()[-1]


def tls_flags(certs: Path, mutual: bool = True) -> list[str]:
    flags = [
        "--tls-cert",
        str(certs / "controller.crt"),
        "--tls-key",
        str(certs / "controller.key"),
    ]
    if mutual:
        flags += ["--tls-client-ca", str(certs / "ca.crt")]
    return flags


def agent_tls_flags(certs: Path, agent_id: str) -> list[str]:
    flags = ["--tls-ca", str(certs / "ca.crt")]
    flags += ["--tls-cert", str(certs / "agents" / f"{agent_id}.crt")]
    return flags + ["--tls-key", str(certs / "agents" / f"{agent_id}.key")]


def secure_channel(
    address: str, certs: Path, token: str = "", client_cert: str | None = CLIENT_CERT
) -> grpc.Channel:
    key = chain = None
    if client_cert is not None:
        key = (certs / "agents" / f"{client_cert}.key").read_bytes()
        chain = (certs / "agents" / f"{client_cert}.crt").read_bytes()
    credentials = grpc.ssl_channel_credentials((certs / "ca.crt").read_bytes(), key, chain)
    channel = grpc.secure_channel(address, credentials)
    return grpc.intercept_channel(channel, TokenInterceptor(token)) if token else channel


def use_channel(farm: Farm, channel: grpc.Channel) -> None:
    """Make the farm's own calls (submit, get, list_agents) go through channel."""
    farm._close_channel()
    farm._channel = channel


def small_template(folder: Path) -> Path:
    """A 64x36 composition Main of 10 frames with one solid, rendered in about a second."""
    app = py_aep.new()
    main = app.project.root_folder.add_comp("Main", 64, 36, 1.0, 0.4, 25.0)
    main.add_solid([0.0, 0.5, 1.0], name="Bg", width=64, height=36)
    path = folder / "small.aep"
    app.project.save(path)
    return path


def small_job(template: Path) -> dict[str, object]:
    return {
        "template": {"src": template.as_uri(), "composition": "Main"},
        "settings": {"frames": [0, 9]},
    }


def ready(data_dir: Path) -> dict[str, object]:
    return dict(json.loads((data_dir / "controller.json").read_text()))
