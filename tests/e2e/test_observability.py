"""Metrics, health, reflection and JSON logs of a real controller and agent."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protos import common_pb2
from tests.e2e.farm import Farm
from tests.e2e.secure_farm import ready, small_job, small_template

pytestmark = pytest.mark.e2e


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def agent_metrics_port(farm: Farm, agent_id: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in farm.log(agent_id).splitlines():
            if "metrics on http://127.0.0.1:" in line:
                return int(line.rsplit(":", 1)[1].split("/")[0])
        time.sleep(0.1)
    raise AssertionError(f"agent logged no metrics address: {farm.log(agent_id)}")


def test_metrics_scraped_during_render(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    try:
        farm.start_controller(["--metrics-port", "0"])
        controller_port = int(ready(farm.data_dir)["metrics_port"])  # type: ignore[call-overload]
        farm.start_agent(
            "agent-1", ["--metrics-port", "0", "--file-root", str(tmp_path), "--log-format", "json"]
        )
        farm.wait_for_agents(1)
        agent_port = agent_metrics_port(farm, "agent-1")

        job = farm.submit(small_job(small_template(tmp_path)))
        during = scrape(controller_port)
        final = farm.wait_final(job.job.id)
        after = scrape(controller_port)
        agent_after = scrape(agent_port)
    finally:
        farm.stop()

    assert final.state == common_pb2.JOB_STATE_FINISHED, final
    assert 'aefarm_agents{state="connected"} 1.0' in during
    assert "aefarm_queue_depth" in during
    assert "aefarm_oldest_queued_job_age_seconds" in during
    assert "aefarm_lease_grants_total 1.0" in after
    assert "aefarm_dispatch_latency_seconds_count 1.0" in after
    assert 'outcome="finished"' in after
    assert 'engine="ae2026"' in after
    assert "aefarm_agent_leases_total 1.0" in agent_after
    labels = 'engine="ae2026",error_code="",outcome="success"'
    assert f"aefarm_agent_render_duration_seconds_count{{{labels}}} 1.0" in agent_after
    assert 'aefarm_agent_fetch_bytes_total{source="network"}' in agent_after


def test_agent_json_log_lines_name_the_render(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    try:
        farm.start_controller(["--log-format", "json"])
        farm.start_agent("agent-1", ["--file-root", str(tmp_path), "--log-format", "json"])
        farm.wait_for_agents(1)
        job = farm.submit(small_job(small_template(tmp_path)))
        farm.wait_final(job.job.id)
    finally:
        farm.stop()
    lines = [json.loads(line) for line in farm.log("agent-1").splitlines() if line.startswith("{")]
    controller_lines = [
        json.loads(line) for line in farm.log("controller").splitlines() if line.startswith("{")
    ]

    about_job = [line for line in lines if line.get("job_id") == job.job.id]
    assert about_job
    for line in about_job:
        assert line["lease_id"]
        assert line["attempt"] == 1
        assert line["agent_id"] == "agent-1"
        assert {"time", "level", "logger", "message"} <= set(line)
    assert controller_lines
    assert all("message" in line for line in controller_lines)


def test_health_and_reflection_answer(tmp_path: Path) -> None:
    farm = Farm(tmp_path)
    try:
        farm.start_controller()
        channel = grpc.insecure_channel(farm.address)
        health = health_pb2_grpc.HealthStub(channel)
        overall = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        jobs = health.Check(
            health_pb2.HealthCheckRequest(service="aefarm.v1.JobService"), timeout=5
        )
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = list(reflection.ServerReflectionInfo(iter([request]), timeout=5))
        channel.close()
    finally:
        farm.stop()

    services = {service.name for service in responses[0].list_services_response.service}
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert jobs.status == health_pb2.HealthCheckResponse.SERVING
    assert "aefarm.v1.JobService" in services
    assert "aefarm.v1.AgentService" in services
    assert "aefarm.v1.TokenService" in services
    assert "grpc.health.v1.Health" in services
