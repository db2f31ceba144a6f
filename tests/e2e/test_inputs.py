"""Inputs end to end: footage fetched over HTTP by a real agent, through retries and failures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos import common_pb2
from tests.asset_server import AssetServer, Route, asset_server
from tests.e2e.farm import TOP, running_farm

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("templates")
    subprocess.run(
        [sys.executable, str(TOP / "examples" / "make_templates.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AssetServer]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with asset_server() as running:
        yield running


def logo_job(templates: Path, url: str) -> dict[str, object]:
    return {
        "template": {"src": (templates / "main.aep").as_uri(), "composition": "Main"},
        "assets": [{"type": "image", "src": url, "layerName": "Logo"}],
        "settings": {"engine": "ae2026", "frames": [0, 9]},
    }


def test_footage_over_http_survives_a_503(
    templates: Path, server: AssetServer, tmp_path: Path
) -> None:
    logo = (templates / "logo.png").read_bytes()
    server.routes["/media/logo.png"] = Route(logo, etag='"logo-1"', fail_first=[503])
    url = server.url("/media/logo.png?token=abc")
    with running_farm(tmp_path / "farm", agents=1) as farm:
        final = farm.wait_final(farm.submit(logo_job(templates, url)).job.id, timeout=120)
        log = farm.log("agent-1")

    assert final.state == common_pb2.JOB_STATE_FINISHED, f"{final.error}\n{log}"
    assert final.outputs
    requests = server.requests_for("/media/logo.png")
    assert len(requests) == 2
    assert "HTTP 503" in log


def test_footage_404_fails_the_job_naming_the_url(
    templates: Path, server: AssetServer, tmp_path: Path
) -> None:
    url = server.url("/media/missing.png")
    with running_farm(tmp_path / "farm", agents=1) as farm:
        final = farm.wait_final(farm.submit(logo_job(templates, url)).job.id, timeout=120)

    assert final.state == common_pb2.JOB_STATE_FAILED
    assert final.error.code == "fetch_failed"
    assert url in final.error.message
    assert "HTTP 404" in final.error.message
    assert len(server.requests_for("/media/missing.png")) == 1


def test_local_file_outside_the_roots_is_refused(templates: Path, tmp_path: Path) -> None:
    job = logo_job(templates, "file:///etc/hostname")
    with running_farm(tmp_path / "farm", agents=1) as farm:
        final = farm.wait_final(farm.submit(job).job.id, timeout=120)

    assert final.state == common_pb2.JOB_STATE_FAILED
    assert final.error.code == "fetch_failed"
    assert "/etc/hostname" in final.error.message
    assert "file roots" in final.error.message


def test_job_stats_count_cached_bytes(templates: Path, server: AssetServer, tmp_path: Path) -> None:
    logo = (templates / "logo.png").read_bytes()
    server.routes["/media/logo.png"] = Route(logo, etag='"logo-1"')
    url = server.url("/media/logo.png")
    with running_farm(tmp_path / "farm", agents=1) as farm:
        first = farm.wait_final(farm.submit(logo_job(templates, url)).job.id, timeout=120)
        second = farm.wait_final(farm.submit(logo_job(templates, url)).job.id, timeout=120)

    assert first.state == common_pb2.JOB_STATE_FINISHED, first.error
    assert second.state == common_pb2.JOB_STATE_FINISHED, second.error
    # The first job downloads the logo; the second revalidates it and takes it from the cache.
    # Both copy the template from its file:// source, which counts as fetched.
    assert first.bytes_fetched >= len(logo)
    assert first.bytes_from_cache == 0
    assert second.bytes_from_cache == len(logo)
    assert second.bytes_fetched == first.bytes_fetched - len(logo)
