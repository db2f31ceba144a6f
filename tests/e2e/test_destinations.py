"""Outputs sent to a shared folder, and nexrender postrender actions, on a real farm."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from protos import common_pb2
from tests.e2e.farm import TOP, Farm

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


@pytest.fixture()
def farm(tmp_path: Path, templates: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        farm.start_agent("agent-1", ["--file-root", str(templates)])
        farm.wait_for_agents(1)
        yield farm
    finally:
        farm.stop()


def local_path(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file"
    return Path(url2pathname(parts.path))


def test_fs_upload_writes_shared_folder(farm: Farm, templates: Path, tmp_path: Path) -> None:
    share = tmp_path / "share"
    job = {
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "settings": {"frames": [0, 4]},
        "upload": {"provider": "fs", "params": {"path": str(share)}},
    }
    job_id = farm.submit(job).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == common_pb2.JOB_STATE_FINISHED, finished.error
    output = finished.outputs[0]
    path = local_path(output.url)
    assert path.parent == share / job_id
    assert path.stat().st_size == output.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == output.sha256


def test_postrender_copy_and_encode(farm: Farm, templates: Path, tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    job = {
        "uid": "postrender-actions",
        "template": {
            "src": (templates / "lower-third.aep").as_uri(),
            "composition": "LowerThird",
            "frameStart": 0,
            "frameEnd": 4,
            "outputExt": "mov",
        },
        "assets": [],
        "actions": {
            "postrender": [
                {"module": "@nexrender/action-copy", "output": f"{copies}/"},
                {"module": "@nexrender/action-encode", "preset": "gif"},
            ]
        },
    }
    job_id = farm.submit(job).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == common_pb2.JOB_STATE_FINISHED, finished.error
    assert [output.name for output in finished.outputs] == ["encoded.gif"]
    gif = farm.download(finished.outputs[0], tmp_path / "encoded.gif")
    assert gif.read_bytes()[:6] == b"GIF89a"
    assert [path.suffix for path in copies.iterdir()] == [".mov"]
