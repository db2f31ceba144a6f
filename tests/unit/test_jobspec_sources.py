"""resolve_local_sources: local paths in a raw job become file URIs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from controller.jobspec.models import FootageAsset
from controller.jobspec.parse import parse_job_object, resolve_local_sources

DIGEST = "9c" * 32


def job_with_src(src: str) -> dict[str, Any]:
    return {"template": {"src": src, "composition": "Main"}}


@pytest.mark.parametrize(
    "uri",
    [
        "file:///mnt/share/t.aep",
        "https://cdn.example.com/t.aep",
        "http://127.0.0.1:9000/t.aep",
        "data:application/json;base64,e30=",
        f"artifact://{DIGEST}/t.aep",
        "s3://bucket/templates/t.aep",
        "gs://bucket/t.aep",
    ],
)
def test_uris_left_alone(tmp_path: Path, uri: str) -> None:
    resolved = resolve_local_sources(job_with_src(uri), tmp_path)

    assert resolved["template"]["src"] == uri


def test_relative_path_resolved_against_base_dir(tmp_path: Path) -> None:
    resolved = resolve_local_sources(job_with_src("templates/t.aep"), tmp_path)

    assert resolved["template"]["src"] == (tmp_path / "templates" / "t.aep").as_uri()


def test_dot_dot_path_normalized(tmp_path: Path) -> None:
    base = tmp_path / "jobs"

    resolved = resolve_local_sources(job_with_src("../footage/./a b.png"), base)

    assert resolved["template"]["src"] == (tmp_path / "footage" / "a b.png").as_uri()
    assert "%20" in resolved["template"]["src"]


def test_absolute_posix_path(tmp_path: Path) -> None:
    resolved = resolve_local_sources(job_with_src("/mnt/share/t.aep"), tmp_path)

    assert resolved["template"]["src"] == "file:///mnt/share/t.aep"


def test_home_path_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    resolved = resolve_local_sources(job_with_src("~/t.aep"), tmp_path)

    assert resolved["template"]["src"] == (tmp_path / "home" / "t.aep").as_uri()


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("C:\\x\\t.aep", "file:///C:/x/t.aep"),
        ("c:/projects/t.aep", "file:///c:/projects/t.aep"),
        ("D:\\My Projects\\t.aep", "file:///D:/My%20Projects/t.aep"),
        ("\\\\nas\\share\\t.aep", "file://nas/share/t.aep"),
    ],
)
def test_windows_path_becomes_file_uri(tmp_path: Path, path: str, uri: str) -> None:
    resolved = resolve_local_sources(job_with_src(path), tmp_path)

    assert resolved["template"]["src"] == uri


def test_drive_relative_windows_path_left_alone(tmp_path: Path) -> None:
    resolved = resolve_local_sources(job_with_src("C:t.aep"), tmp_path)

    assert resolved["template"]["src"] == "C:t.aep"


def test_every_src_resolved(tmp_path: Path) -> None:
    job = {
        "template": {"src": "main.aep", "composition": "Main"},
        "assets": [
            {"type": "image", "src": "footage/logo.png", "layerName": "Logo"},
            {"type": "text", "layerName": "Title", "value": "footage/not-a-path"},
            {"type": "script", "src": "scripts/setup.jsx"},
            {
                "type": "job",
                "layerName": "Intro",
                "template": {"src": "intro/intro.aep", "composition": "Intro"},
                "assets": [
                    {"type": "static", "src": "intro/data.json", "name": "data.json"},
                    {
                        "type": "job",
                        "layerName": "Logo",
                        "template": {"src": "logo/logo.aep", "composition": "Logo"},
                        "assets": [{"type": "video", "src": "logo/spin.mov", "layerIndex": 1}],
                    },
                ],
            },
        ],
    }

    resolved = resolve_local_sources(job, tmp_path)

    def uri(relative: str) -> str:
        return (tmp_path / relative).as_uri()

    assert resolved["template"]["src"] == uri("main.aep")
    assets = resolved["assets"]
    assert assets[0]["src"] == uri("footage/logo.png")
    assert assets[1]["value"] == "footage/not-a-path"
    assert assets[2]["src"] == uri("scripts/setup.jsx")
    assert assets[3]["template"]["src"] == uri("intro/intro.aep")
    assert assets[3]["assets"][0]["src"] == uri("intro/data.json")
    grandchild = assets[3]["assets"][1]
    assert grandchild["template"]["src"] == uri("logo/logo.aep")
    assert grandchild["assets"][0]["src"] == uri("logo/spin.mov")


def test_join_inputs_resolved(tmp_path: Path) -> None:
    job = {
        "type": "join",
        "assets": [
            {"type": "video", "src": "clips/a.mp4"},
            {"type": "job", "template": {"src": "b.aep", "composition": "B"}},
            {"type": "video", "src": "https://cdn.example.com/c.mp4"},
        ],
    }

    resolved = resolve_local_sources(job, tmp_path)

    assert resolved["assets"][0]["src"] == (tmp_path / "clips" / "a.mp4").as_uri()
    assert resolved["assets"][1]["template"]["src"] == (tmp_path / "b.aep").as_uri()
    assert resolved["assets"][2]["src"] == "https://cdn.example.com/c.mp4"


def test_input_not_modified(tmp_path: Path) -> None:
    job = {
        "template": {"src": "main.aep", "composition": "Main"},
        "assets": [{"type": "image", "src": "a.png", "layerName": "A"}],
    }
    before = copy.deepcopy(job)

    resolve_local_sources(job, tmp_path)

    assert job == before


def test_wrong_types_left_for_parser(tmp_path: Path) -> None:
    job = {"template": "main.aep", "assets": [{"type": "image", "src": 5}, "x.png"]}

    resolved = resolve_local_sources(job, tmp_path)

    assert resolved == job


def test_resolved_job_parses(tmp_path: Path) -> None:
    job = {
        "template": {"src": "main.aep", "composition": "Main"},
        "assets": [{"type": "image", "src": "logo.png", "layerName": "Logo"}],
    }

    spec = parse_job_object(resolve_local_sources(job, tmp_path))

    assert spec.template is not None
    assert spec.template.src == (tmp_path / "main.aep").as_uri()
    assert spec.assets == [
        FootageAsset(type="image", src=(tmp_path / "logo.png").as_uri(), layer_name="Logo")
    ]
