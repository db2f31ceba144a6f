"""Path mapping and local source parsing: Windows drives, UNC shares, file:// URIs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agent.errors import LeaseFailure
from agent.fetch import Fetcher
from agent.pathmap import PathMapper, PathMapRule, is_windows_path, path_of_file_uri

posix_only = pytest.mark.skipif(os.name == "nt", reason="maps onto POSIX paths")


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///C:/Projects/My%20Job/t.aep", "C:/Projects/My Job/t.aep"),
        ("file:///c|/x/t.aep", "c:/x/t.aep"),
        ("file://nas/projects/a%23b/t.aep", "\\\\nas\\projects\\a#b\\t.aep"),
        ("file://localhost/mnt/t.aep", "/mnt/t.aep"),
        ("file:///mnt/caf%C3%A9/t.aep", "/mnt/café/t.aep"),
    ],
)
def test_paths_of_file_uris(uri: str, path: str) -> None:
    assert path_of_file_uri(uri) == path


def test_windows_path_detection() -> None:
    assert is_windows_path("C:\\x")
    assert is_windows_path("d:/x")
    assert is_windows_path("\\\\nas\\share")
    assert not is_windows_path("/mnt/x")
    assert not is_windows_path("relative/x")


RULES = PathMapper(
    [
        PathMapRule.parse("\\\\nas\\projects=/mnt/projects"),
        PathMapRule.parse("/Volumes/projects=/mnt/projects"),
        PathMapRule.parse("P:\\=/mnt/projects"),
        PathMapRule.parse("/mnt/render=\\\\nas\\render"),
    ]
)


@pytest.mark.parametrize(
    ("source", "mapped"),
    [
        ("\\\\nas\\projects\\job 1\\t.aep", "/mnt/projects/job 1/t.aep"),
        ("\\\\NAS\\Projects\\t.aep", "/mnt/projects/t.aep"),
        ("//nas/projects/t.aep", "/mnt/projects/t.aep"),
        ("/Volumes/projects/t.aep", "/mnt/projects/t.aep"),
        ("p:/clips/a.mov", "/mnt/projects/clips/a.mov"),
        ("/mnt/render/out.mov", "\\\\nas\\render\\out.mov"),
        # Prefixes match whole folder names only, and POSIX prefixes are case-sensitive.
        ("\\\\nas\\projects2\\t.aep", "\\\\nas\\projects2\\t.aep"),
        ("/volumes/projects/t.aep", "/volumes/projects/t.aep"),
    ],
)
def test_mapping(source: str, mapped: str) -> None:
    assert RULES.map(source) == mapped


def test_invalid_rule() -> None:
    with pytest.raises(ValueError, match="FROM=TO"):
        PathMapRule.parse("/only/one/side")


@posix_only
def test_unmapped_windows_path_names_the_flag() -> None:
    with pytest.raises(ValueError) as caught:
        PathMapper().local_path("\\\\other\\share\\t.aep")
    assert "--path-map" in str(caught.value)
    assert "\\\\other\\share" in str(caught.value)


@posix_only
def test_mapping_applies_before_the_roots_check(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    (root / "job").mkdir(parents=True)
    (root / "job" / "t.aep").write_bytes(b"aep")
    mapper = PathMapper([PathMapRule("\\\\nas\\projects", str(root))])
    fetcher = Fetcher([root], path_map=mapper)
    for source in ("\\\\nas\\projects\\job\\t.aep", "file://nas/projects/job/t.aep"):
        fetched = asyncio.run(fetcher.fetch(source, tmp_path / "ws"))
        assert fetched.path.read_bytes() == b"aep"


@posix_only
def test_mapped_path_outside_the_roots_is_refused(tmp_path: Path) -> None:
    mapper = PathMapper([PathMapRule("Z:\\", str(tmp_path / "elsewhere"))])
    fetcher = Fetcher([tmp_path / "projects"], path_map=mapper)
    with pytest.raises(LeaseFailure) as caught:
        asyncio.run(fetcher.fetch("file:///Z:/t.aep", tmp_path / "ws"))
    assert caught.value.code == "fetch_failed"
    assert str(tmp_path / "elsewhere" / "t.aep") in caught.value.message
    assert str(tmp_path / "projects") in caught.value.message
