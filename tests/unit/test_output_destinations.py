"""Output destinations and postrender actions of the agent, on real files."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from agent import actions, destinations
from agent.errors import LeaseFailure


def test_fs_destination_copies_file(
    tmp_path: Path,
) -> None:
    result = tmp_path / "result.mp4"
    result.write_bytes(b"video bytes")
    share = tmp_path / "share folder"
    upload = json.dumps({"provider": "fs", "params": {"path": str(share)}})
    destination = destinations.destination_for(upload)
    assert destination is not None
    output = asyncio.run(destinations.send(destination, result, "job1"))
    assert (share / "job1" / "result.mp4").read_bytes() == b"video bytes"
    assert output.url == (share / "job1" / "result.mp4").as_uri()
    assert "%20" in output.url
    assert output.size == 11
    assert output.sha256 == hashlib.sha256(b"video bytes").hexdigest()


def test_s3_destination_url() -> None:
    upload = json.dumps({"provider": "s3", "params": {"bucket": "renders", "prefix": "daily"}})
    destination = destinations.destination_for(upload)
    assert destination is not None
    assert destination.location("job1", "result.mp4") == "s3://renders/daily/job1/result.mp4"


def test_s3_key_names_the_object() -> None:
    upload = json.dumps({"provider": "s3", "params": {"bucket": "renders", "key": "a/intro.mov"}})
    destination = destinations.destination_for(upload)
    assert destination is not None
    assert destination.location("job1", "result.mov") == "s3://renders/a/intro.mov"
    destinations.check_file_count(destination, 1)
    with pytest.raises(LeaseFailure) as raised:
        destinations.check_file_count(destination, 2)
    assert "upload.params.key" in str(raised.value)


def test_no_upload_uses_artifact_store() -> None:
    assert destinations.destination_for("") is None


@pytest.mark.parametrize(
    ("upload", "field"),
    [
        ({"provider": "ftp", "params": {}}, "upload.provider"),
        ({"provider": "fs", "params": {}}, "upload.params.path"),
        ({"provider": "s3", "params": {"prefix": "x"}}, "upload.params.bucket"),
        (
            {"provider": "s3", "params": {"bucket": "b", "key": "k", "prefix": "p"}},
            "key and prefix",
        ),
        ({"provider": "s3", "params": {"bucket": "b", "region": 5}}, "upload.params.region"),
    ],
)
def test_invalid_upload_names_field(upload: dict[str, object], field: str) -> None:
    with pytest.raises(LeaseFailure) as raised:
        destinations.destination_for(json.dumps(upload))
    assert raised.value.code == "upload_failed"
    assert field in str(raised.value)


def test_copy_action_into_folder(tmp_path: Path) -> None:
    result = tmp_path / "out" / "result.mov"
    result.parent.mkdir()
    result.write_bytes(b"mov")
    listed = json.dumps([{"module": actions.COPY_MODULE, "output": f"{tmp_path}/copies/"}])
    files = asyncio.run(actions.run_postrender(listed, [result], tmp_path))
    assert files == [result]
    assert (tmp_path / "copies" / "result.mov").read_bytes() == b"mov"


def test_encode_action_options() -> None:
    action = {"module": actions.ENCODE_MODULE, "preset": "webm", "params": {"-r": 12}}
    extension, args = actions.encode_args(action, "actions.postrender[0]")
    assert extension == ".webm"
    assert args[-2:] == ["-r", "12"]
    assert "libvpx-vp9" in args


def test_encode_unknown_preset_fails() -> None:
    with pytest.raises(LeaseFailure) as raised:
        actions.encode_args({"preset": "avi"}, "actions.postrender[1]")
    assert "actions.postrender[1]" in str(raised.value)
    assert "mp4" in str(raised.value)
