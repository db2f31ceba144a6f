"""TLS and mutual TLS between real agents, the CLI and a real controller."""

from __future__ import annotations

import datetime
import shutil
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controller.cli import certs
from protos import common_pb2
from tests.e2e.farm import Farm
from tests.e2e.secure_farm import (
    agent_tls_flags,
    certs_init,
    offline_token,
    secure_channel,
    small_job,
    small_template,
    tls_flags,
    use_channel,
)

pytestmark = pytest.mark.e2e


def health_status(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_agent_renders_over_mutual_tls(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs", "agent-1")
    farm = Farm(tmp_path)
    token = offline_token(farm.data_dir, "admin", "test admin")
    try:
        farm.start_controller([*tls_flags(folder), "--require-auth"])
        use_channel(farm, secure_channel(farm.address, folder, token))
        farm.start_agent("agent-1", agent_tls_flags(folder, "agent-1"))
        farm.wait_for_agents(1)

        job = farm.submit(small_job(small_template(tmp_path)))
        final = farm.wait_final(job.job.id)
    finally:
        farm.stop()

    assert final.state == common_pb2.JOB_STATE_FINISHED, final
    assert final.outputs


def test_missing_client_certificate_is_unavailable(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs")
    farm = Farm(tmp_path)
    try:
        farm.start_controller(tls_flags(folder))
        with pytest.raises(grpc.RpcError) as raised:
            health_status(secure_channel(farm.address, folder, client_cert=None))
    finally:
        farm.stop()

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_of_other_ca_is_unavailable(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs")
    stranger = certs_init(tmp_path / "other")
    # The stranger's client certificate, trusted for the server side, but issued by another CA.
    shutil.copy(folder / "ca.crt", stranger / "ca.crt")
    farm = Farm(tmp_path)
    try:
        farm.start_controller(tls_flags(folder))
        with pytest.raises(grpc.RpcError) as raised:
            health_status(secure_channel(farm.address, stranger))
        assert health_status(secure_channel(farm.address, folder)) == 1
    finally:
        farm.stop()

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_client_certificate_is_unavailable(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs")
    ca = certs.load_or_create_ca(folder)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    expired = certs.issue(ca, "old-agent", client=True, not_before=long_ago, days=1)
    certs.write_pair(expired, folder / "agents" / "old.crt", folder / "agents" / "old.key")
    farm = Farm(tmp_path)
    try:
        farm.start_controller(tls_flags(folder))
        with pytest.raises(grpc.RpcError) as raised:
            health_status(secure_channel(farm.address, folder, client_cert="old"))
    finally:
        farm.stop()

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_tls_serves_clients_without_certificate(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs")
    farm = Farm(tmp_path)
    try:
        farm.start_controller(tls_flags(folder, mutual=False))
        status = health_status(secure_channel(farm.address, folder, client_cert=None))
        with pytest.raises(grpc.RpcError) as raised:
            health_status(grpc.insecure_channel(farm.address))
    finally:
        farm.stop()

    assert status == health_pb2.HealthCheckResponse.SERVING
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def served_serial(address: str, ca: Path) -> int:
    """Return the serial number of the certificate the server presents to a new connection."""
    import socket
    import ssl

    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_replaced_certificate_is_served(tmp_path: Path) -> None:
    folder = certs_init(tmp_path / "certs")
    farm = Farm(tmp_path)
    try:
        farm.start_controller(tls_flags(folder, mutual=False))
        before = served_serial(farm.address, folder / "ca.crt")
        certs.init_certificates(folder, [], [])
        after = x509.load_pem_x509_certificate((folder / "controller.crt").read_bytes())

        deadline = time.monotonic() + 10
        served = before
        while served != after.serial_number and time.monotonic() < deadline:
            time.sleep(0.1)
            served = served_serial(farm.address, folder / "ca.crt")
    finally:
        farm.stop()

    assert before != after.serial_number
    assert served == after.serial_number
