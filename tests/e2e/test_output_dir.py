"""An agent's --output-dir on a real farm: outputs land in the folder, and a parent job reads
its children's file:// outputs from it."""

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
from tests.e2e.test_nested_render import nested_job

pytestmark = pytest.mark.e2e

FINISHED = common_pb2.JOB_STATE_FINISHED
# The folder name the agent is given; a path mapping rule turns it into the test's folder.
MAPPED_FOLDER = "/aefarm-renders"


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
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "renders"


@pytest.fixture()
def farm(tmp_path: Path, out_dir: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path / "farm")
    try:
        farm.start_controller()
        # The farm's agents read files under the temporary folder, which holds out_dir.
        flags = ["--output-dir", MAPPED_FOLDER, "--path-map", f"{MAPPED_FOLDER}={out_dir}"]
        farm.start_agent("agent-1", flags)
        farm.wait_for_agents(1)
        yield farm
    finally:
        farm.stop()


def local_path(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(url2pathname(parts.path))


def assert_written(output: common_pb2.Output, folder: Path) -> None:
    path = local_path(output.url)
    assert path.parent == folder
    assert path.stat().st_size == output.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == output.sha256


def test_parent_reads_children_in_output_dir(
    farm: Farm,
    templates: Path,
    out_dir: Path,
) -> None:
    response = farm.submit(nested_job(templates))
    parent = farm.wait_final(response.job.id, timeout=180)
    assert parent.state == FINISHED, f"{parent.error}\n{farm.log('agent-1')}"

    for child in response.children:
        finished = farm.get(child.id)
        assert finished.state == FINISHED
        assert_written(finished.outputs[0], out_dir / child.id)
    assert_written(parent.outputs[0], out_dir / parent.id)
    # Nothing went to the controller's artifact store.
    assert not any(path.is_file() for path in (farm.data_dir / "artifacts").rglob("*"))


def test_job_upload_wins_over_output_dir(
    farm: Farm,
    templates: Path,
    out_dir: Path,
    tmp_path: Path,
) -> None:
    share = tmp_path / "share"
    job = {
        "template": {"src": (templates / "lower-third.aep").as_uri(), "composition": "LowerThird"},
        "settings": {"frames": [0, 4]},
        "upload": {"provider": "fs", "params": {"path": str(share)}},
    }
    job_id = farm.submit(job).job.id
    finished = farm.wait_final(job_id)
    assert finished.state == FINISHED, finished.error
    assert_written(finished.outputs[0], share / job_id)
    assert not (out_dir / job_id).exists()
