"""Tokens and roles on a real controller: every RPC, every role, bad and revoked tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controller.cli.credentials import TokenInterceptor
from controller.security import METHOD_ROLES, PUBLIC
from controller.tokens import ROLES
from protos import jobs_pb2, jobs_pb2_grpc, security_pb2, security_pb2_grpc
from tests.e2e.farm import TOP, Farm
from tests.e2e.secure_farm import offline_token
from tests.unit.test_security import all_methods

pytestmark = pytest.mark.e2e

# The text of a rejection for the caller's role, as opposed to one for a job it does not own.
ROLE_DENIAL = "needs the role"


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    farm = Farm(tmp_path_factory.mktemp("auth"))
    farm.tokens = {role: offline_token(farm.data_dir, role, role) for role in ROLES}  # type: ignore[attr-defined]
    try:
        farm.start_controller(["--require-auth"])
        yield farm
    finally:
        farm.stop()


def with_token(address: str, token: str) -> grpc.Channel:
    channel = grpc.insecure_channel(address)
    return grpc.intercept_channel(channel, TokenInterceptor(token)) if token else channel


def call_status(
    channel: grpc.Channel, method: str, client_streaming: bool, server_streaming: bool
) -> tuple[grpc.StatusCode, str]:
    """Call method with an empty request and return the status code and details."""
    identity = {"request_serializer": None, "response_deserializer": None}
    try:
        if client_streaming and server_streaming:
            responses = channel.stream_stream(method, **identity)(iter([]), timeout=2)
            list(responses)
        elif client_streaming:
            channel.stream_unary(method, **identity)(iter([]), timeout=2)
        elif server_streaming:
            list(channel.unary_stream(method, **identity)(b"", timeout=2))
        else:
            channel.unary_unary(method, **identity)(b"", timeout=2)
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("role", ROLES)
def test_every_method_checks_role(farm: Farm, role: str) -> None:
    channel = with_token(farm.address, farm.tokens[role])  # type: ignore[attr-defined]
    wrong = []
    for method, client_streaming, server_streaming in all_methods():
        code, details = call_status(channel, method, client_streaming, server_streaming)
        allowed = METHOD_ROLES[method] is PUBLIC or role in METHOD_ROLES[method]
        denied = code == grpc.StatusCode.PERMISSION_DENIED and ROLE_DENIAL in details
        if allowed and (denied or code == grpc.StatusCode.UNAUTHENTICATED):
            wrong.append(f"{method}: allowed for {role} but got {code.name}: {details}")
        if not allowed and not denied:
            wrong.append(f"{method}: denied for {role} but got {code.name}: {details}")
    channel.close()

    assert wrong == []


def test_missing_token_is_unauthenticated(farm: Farm) -> None:
    stub = jobs_pb2_grpc.JobServiceStub(grpc.insecure_channel(farm.address))

    with pytest.raises(grpc.RpcError) as raised:
        stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_wrong_secret_is_unauthenticated(farm: Farm) -> None:
    token_id = farm.tokens["admin"].split(".")[0]  # type: ignore[attr-defined]
    stub = jobs_pb2_grpc.JobServiceStub(with_token(farm.address, f"{token_id}.{'0' * 64}"))

    with pytest.raises(grpc.RpcError) as raised:
        stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_revoked_token_is_unauthenticated(farm: Farm) -> None:
    admin = security_pb2_grpc.TokenServiceStub(with_token(farm.address, farm.tokens["admin"]))  # type: ignore[attr-defined]
    created = admin.CreateToken(security_pb2.CreateTokenRequest(role="submit", name="t"), timeout=5)
    user = jobs_pb2_grpc.JobServiceStub(with_token(farm.address, created.secret))
    user.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)

    admin.RevokeToken(security_pb2.RevokeTokenRequest(id=created.token.id), timeout=5)
    with pytest.raises(grpc.RpcError) as raised:
        user.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)

    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_failed_authentication_is_logged_once(farm: Farm) -> None:
    stub = jobs_pb2_grpc.JobServiceStub(with_token(farm.address, "nope.nope"))
    for _ in range(5):
        with pytest.raises(grpc.RpcError):
            stub.GetJob(jobs_pb2.GetJobRequest(id="x"), timeout=5)

    log = farm.log("controller")
    assert "authentication failed from ipv4:127.0.0.1" in log
    assert log.count("on /aefarm.v1.JobService/GetJob") <= 1


def test_cli_creates_and_lists_tokens(farm: Farm) -> None:
    env = {"AEFARM_TOKEN": farm.tokens["admin"], "PATH": ""}  # type: ignore[attr-defined]
    base = [sys.executable, "-m", "controller.cli.main", "--controller", farm.address, "token"]
    created = subprocess.run(
        [*base, "create", "--role", "operator", "--name", "ops"],
        capture_output=True,
        text=True,
        env=env,
        cwd=TOP,
        timeout=30,
    )
    listed = subprocess.run(
        [*base, "list"], capture_output=True, text=True, env=env, cwd=TOP, timeout=30
    )

    assert created.returncode == 0, created.stderr
    assert listed.returncode == 0, listed.stderr
    assert "operator" in listed.stdout
    assert "ops" in listed.stdout


def test_public_address_without_protection_exits(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "controller.main", "--data-dir", str(tmp_path)]
    # Nothing connects to this address: the controller exits before it binds the port.
    done = subprocess.run(
        [*argv, "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=TOP,
        timeout=30,
    )

    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0 without TLS" in done.stderr
    assert "--trusted-network" in done.stderr


def test_submit_role_reads_only_own_jobs(farm: Farm) -> None:
    admin = security_pb2_grpc.TokenServiceStub(with_token(farm.address, farm.tokens["admin"]))  # type: ignore[attr-defined]
    secrets = [
        admin.CreateToken(
            security_pb2.CreateTokenRequest(role="submit", name=name), timeout=5
        ).secret
        for name in ("alice", "bob")
    ]
    alice, bob = (jobs_pb2_grpc.JobServiceStub(with_token(farm.address, s)) for s in secrets)
    operator = jobs_pb2_grpc.JobServiceStub(with_token(farm.address, farm.tokens["operator"]))  # type: ignore[attr-defined]
    job = {
        "template": {"src": "https://example.invalid/main.aep", "composition": "Main"},
        "settings": {"frames": [0, 9]},
    }
    request = jobs_pb2.SubmitRequest(job_json=json.dumps(job), source="auth test")

    submitted = alice.Submit(request, timeout=10).job
    own = alice.GetJob(jobs_pb2.GetJobRequest(id=submitted.id), timeout=5)
    with pytest.raises(grpc.RpcError) as raised:
        bob.GetJob(jobs_pb2.GetJobRequest(id=submitted.id), timeout=5)
    listed_by_bob = bob.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5).jobs
    listed_by_alice = alice.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5).jobs
    seen_by_operator = operator.GetJob(jobs_pb2.GetJobRequest(id=submitted.id), timeout=5)

    assert own.id == submitted.id
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert submitted.id not in [listed.id for listed in listed_by_bob]
    assert submitted.id in [listed.id for listed in listed_by_alice]
    assert seen_by_operator.id == submitted.id
