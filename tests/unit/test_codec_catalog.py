"""Codec catalog files given with `aefarm-agent --codec-catalog FILE`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent import codecs
from agent.output_plan import plan_output
from protos import common_pb2

WORKSPACE = Path("/w/ab12cd34")


def write_catalog(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "codecs.json"
    path.write_text(json.dumps(document))
    return path


def test_catalog_adds_and_replaces(tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path,
        {
            "video_dnxhr": {"output_module": "DNxHR HQ", "extension": ".mxf"},
            "video_prores_422": {
                "output_module": None,
                "encode": {"format": "h264", "bitrate_kbps": 8000, "rate_control": "cbr"},
            },
        },
    )
    catalog = codecs.load_catalog(path)

    assert catalog["video_dnxhr"] == codecs.Codec("video_dnxhr", "DNxHR HQ", ".mxf")
    replaced = catalog["video_prores_422"]
    assert replaced.output_module is None
    assert replaced.encode == codecs.Encode("h264", 8000, "cbr")
    assert replaced.extension == ".mp4"
    assert catalog["image_png"] == codecs.CODECS["image_png"]


def test_catalog_entry_plans_render(tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path, {"video_dnxhr": {"output_module": "DNxHR HQ", "extension": ".mxf"}}
    )
    settings = common_pb2.RenderSettings(engine="ae2026", codec="video_dnxhr")
    plan = plan_output(settings, "26.0x55", WORKSPACE, catalog=codecs.load_catalog(path))

    assert plan.output_module == "DNxHR HQ"
    assert plan.render_output == WORKSPACE / "out" / "result.mxf"
    assert plan.encode is None


def test_module_and_encode_render_intermediate(tmp_path: Path) -> None:
    entry = {"output_module": "Lossless with Alpha", "encode": {"format": "png"}}
    path = write_catalog(tmp_path, {"image_png": entry})
    settings = common_pb2.RenderSettings(engine="ae2026", codec="image_png")
    plan = plan_output(settings, "26.0x55", WORKSPACE, catalog=codecs.load_catalog(path))

    assert plan.output_module == "Lossless with Alpha"
    assert plan.encode == codecs.Encode("png")
    assert plan.render_output.parent == WORKSPACE / "render"


def test_no_file_returns_builtin() -> None:
    assert codecs.load_catalog(None) == dict(codecs.CODECS)


@pytest.mark.parametrize(
    ("document", "part"),
    [
        ([], "must be a JSON object"),
        ({"x": "H.264"}, "codec 'x': the entry must be an object"),
        ({"x": {"extension": ".mov"}}, "give output_module, encode, or both"),
        ({"x": {"output_module": "M", "extension": "mov"}}, "extension must be"),
        ({"x": {"output_module": "M", "extension": ".mov", "codec": 1}}, "unknown fields"),
        ({"x": {"encode": {"format": "webm"}}}, "encode.format must be one of"),
        ({"x": {"encode": {"format": "h264"}}}, "needs encode.bitrate_kbps above 0"),
        ({"x": {"encode": {"format": "h264", "bitrate_kbps": "5M"}}}, "bitrate_kbps must be"),
        ({"x": {"encode": {"format": "png", "rate_control": "abr"}}}, "vbr or cbr"),
    ],
)
def test_invalid_catalog_rejected(tmp_path: Path, document: object, part: str) -> None:
    path = write_catalog(tmp_path, document)
    with pytest.raises(codecs.CatalogError) as raised:
        codecs.load_catalog(path)
    assert part in str(raised.value)
    assert str(path) in str(raised.value)


def test_unreadable_catalog_rejected(tmp_path: Path) -> None:
    path = tmp_path / "codecs.json"
    path.write_text("{not json")
    with pytest.raises(codecs.CatalogError, match="cannot read codec catalog"):
        codecs.load_catalog(path)


def test_agent_rejects_invalid_catalog(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, {"x": {}})
    result = subprocess.run(
        [sys.executable, "-m", "agent.main", "--controller", "127.0.0.1:1"]
        + ["--work-dir", str(tmp_path / "work"), "--codec-catalog", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "give output_module, encode, or both" in result.stderr
