"""Tests for agent.engines with fake aerender scripts."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
from pathlib import Path

import pytest

from agent import engines
from agent.engines import EngineInfo

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake aerender is a script")


def fake_aerender(folder: Path, output: str, exit_code: int = 0, sleep: float = 0.0) -> Path:
    """Write a fake aerender that appends a line to runs.log in its folder on every run."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "aerender"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys, time\n"
        "runs = pathlib.Path(__file__).with_name('runs.log')\n"
        "with runs.open('a') as log:\n"
        "    log.write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"print({output!r}, flush=True)\n"
        f"time.sleep({sleep})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return script


def run_count(script: Path) -> int:
    runs = script.with_name("runs.log")
    return len(runs.read_text().splitlines()) if runs.exists() else 0


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("25.6x101", "ae2025"),
        ("26.0x55", "ae2026"),
        ("22.0x61", "ae2022"),
        ("23.6", "ae2023"),
        ("24.1.0x15", "ae2024"),
        ("18.4x1", "ae2021"),
        ("16.1x3", "ae2019"),
        ("27.0", "ae2027"),
    ],
)
def test_engine_name_for_version(version: str, name: str) -> None:
    assert engines.engine_name_for_version(version) == name


@pytest.mark.parametrize("version", ["", "abc", "x25", "20.0", "13.8"])
def test_engine_name_rejects_unknown_version(version: str) -> None:
    with pytest.raises(ValueError, match="version"):
        engines.engine_name_for_version(version)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("18.4x1", {"mfr": False, "native_h264": False, "missing_fonts_scripting": False}),
        ("22.0x61", {"mfr": True, "native_h264": False, "missing_fonts_scripting": False}),
        ("23.0", {"mfr": True, "native_h264": True, "missing_fonts_scripting": False}),
        ("24.0", {"mfr": True, "native_h264": True, "missing_fonts_scripting": True}),
        ("26.0x55", {"mfr": True, "native_h264": True, "missing_fonts_scripting": True}),
    ],
)
def test_capabilities(version: str, expected: dict[str, bool]) -> None:
    assert engines.capabilities(version) == expected


def test_candidate_paths_windows_drives_and_registry() -> None:
    registry = {
        "24.0": r"F:\Apps\Adobe After Effects 2024\Support Files",
        "25.0": "E:\\AE\\2025\\",
    }
    env = {"AEFARM_AE_DRIVES": "C, d:"}

    paths = [str(path) for path in engines.candidate_paths("win32", env, lambda: registry)]

    assert r"C:\Program Files\Adobe\Adobe After Effects 2025\Support Files\aerender.exe" in paths
    assert r"D:\Program Files\Adobe\Adobe After Effects 2026\Support Files\aerender.exe" in paths
    assert r"C:\Program Files\Adobe\Adobe After Effects CC 2019\Support Files\aerender.exe" in paths
    assert r"D:\Program Files\Adobe\Adobe After Effects CC 2015\Support Files\aerender.exe" in paths
    assert not any("Adobe After Effects CC 2020" in path for path in paths)
    assert not any("Adobe After Effects 2019" in path for path in paths)
    assert r"F:\Apps\Adobe After Effects 2024\Support Files\aerender.exe" in paths
    assert r"F:\Apps\Adobe After Effects 2024\Support Files\Support Files\aerender.exe" in paths
    assert r"E:\AE\2025\aerender.exe" in paths
    assert r"E:\AE\2025\Support Files\aerender.exe" in paths
    assert len(paths) == len(set(paths))


def test_candidate_paths_windows_newest_year_first() -> None:
    paths = [str(path) for path in engines.candidate_paths("win32", {}, None)]
    next_year = datetime.date.today().year + 1

    assert paths[0] == (
        rf"C:\Program Files\Adobe\Adobe After Effects {next_year}\Support Files\aerender.exe"
    )
    assert all(path.startswith("C:\\") for path in paths)


def test_candidate_paths_windows_system_drive() -> None:
    paths = [str(path) for path in engines.candidate_paths("win32", {"SystemDrive": "D:"})]

    assert r"D:\Program Files\Adobe\Adobe After Effects 2025\Support Files\aerender.exe" in paths
    assert not any(path.startswith("C:") for path in paths)


def test_candidate_paths_registry_error_is_ignored() -> None:
    def broken_registry() -> dict[str, str]:
        raise OSError("access denied")

    paths = engines.candidate_paths("win32", {}, broken_registry)

    assert paths


def test_candidate_paths_macos() -> None:
    paths = engines.candidate_paths("darwin", {}, None)

    assert Path("/Applications/Adobe After Effects 2025/aerender") in paths
    assert Path("/Applications/Adobe After Effects CC 2019/aerender") in paths


def test_candidate_paths_linux_is_empty() -> None:
    assert engines.candidate_paths("linux", {}, None) == []


@posix_only
def test_probe_version_parses_output(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path, "aerender version 25.6x101")

    version = asyncio.run(engines.probe_version(script))

    assert version == "25.6x101"
    assert script.with_name("runs.log").read_text() == "-version\n"


@posix_only
def test_probe_version_without_version_line(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path, "Unable to obtain a license", exit_code=1)

    assert asyncio.run(engines.probe_version(script)) is None


@posix_only
def test_probe_version_times_out(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path, "Launching After Effects...", sleep=120)

    assert asyncio.run(engines.probe_version(script, timeout=0.3)) is None


@posix_only
def test_discover_configured_engine(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path / "ae25", "aerender version 25.6x101")

    found = asyncio.run(engines.discover_engines({"ae2025": str(script)}, None, "linux"))

    assert found == [EngineInfo("ae2025", "25.6x101", str(script), available=True)]


@posix_only
def test_discover_uses_cache(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path / "ae25", "aerender version 25.6x101")
    cache_file = tmp_path / "state" / "engines.json"
    configured = {"ae2025": str(script)}

    first = asyncio.run(engines.discover_engines(configured, cache_file, "linux"))
    second = asyncio.run(engines.discover_engines(configured, cache_file, "linux"))

    assert first == second
    assert second[0].version == "25.6x101"
    assert run_count(script) == 1
    assert json.loads(cache_file.read_text())["entries"][str(script)]["version"] == "25.6x101"


@posix_only
def test_discover_probes_again_after_change(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path / "ae", "aerender version 25.6x101")
    cache_file = tmp_path / "engines.json"
    configured = {"ae2026": str(script)}
    asyncio.run(engines.discover_engines(configured, cache_file, "linux"))

    fake_aerender(tmp_path / "ae", "aerender version 26.0x55 (updated)")
    found = asyncio.run(engines.discover_engines(configured, cache_file, "linux"))

    assert found[0].version == "26.0x55"
    assert run_count(script) == 2


@posix_only
def test_discover_ignores_corrupt_cache(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path / "ae", "aerender version 25.6x101")
    cache_file = tmp_path / "engines.json"
    cache_file.write_text("{not json")

    found = asyncio.run(engines.discover_engines({"ae2025": str(script)}, cache_file, "linux"))

    assert found[0].available is True
    assert json.loads(cache_file.read_text())["format"] == 1


def test_discover_configured_missing_binary(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "aerender"

    found = asyncio.run(engines.discover_engines({"ae2025": str(missing)}, None, "linux"))

    assert len(found) == 1
    assert found[0].name == "ae2025"
    assert found[0].available is False
    assert str(missing) in found[0].unavailable_reason
    assert "not found" in found[0].unavailable_reason


@posix_only
def test_discover_configured_failing_binary(tmp_path: Path) -> None:
    script = fake_aerender(tmp_path, "Unable to obtain a license", exit_code=1)
    cache_file = tmp_path / "engines.json"

    found = asyncio.run(engines.discover_engines({"ae2025": str(script)}, cache_file, "linux"))
    asyncio.run(engines.discover_engines({"ae2025": str(script)}, cache_file, "linux"))

    assert found[0].available is False
    assert "exited with code 1" in found[0].unavailable_reason
    assert "Unable to obtain a license" in found[0].unavailable_reason
    # A failure is not cached, so the second discovery ran the binary again.
    assert run_count(script) == 2


@posix_only
def test_discover_candidates_named_by_version(tmp_path: Path) -> None:
    ae25 = fake_aerender(tmp_path / "Adobe After Effects 2025", "aerender version 25.6x101")
    ae26 = fake_aerender(tmp_path / "Adobe After Effects 2026", "aerender version 26.0x55")
    broken = fake_aerender(tmp_path / "Adobe After Effects 2024", "crash", exit_code=1)
    duplicate = fake_aerender(tmp_path / "copy", "aerender version 26.1x2")
    absent = tmp_path / "Adobe After Effects 2023" / "aerender"
    broken_23 = fake_aerender(tmp_path / "C" / "Adobe After Effects 2023", "crash", exit_code=1)
    working_23 = fake_aerender(tmp_path / "D" / "AE", "aerender version 23.6x1")
    candidates = [ae26, ae25, broken, duplicate, absent, broken_23, working_23]

    found = asyncio.run(engines.discover_engines({}, None, "linux", candidates=candidates))

    assert [engine.name for engine in found] == ["ae2023", "ae2024", "ae2025", "ae2026"]
    assert found[0] == EngineInfo("ae2023", "23.6x1", str(working_23), available=True)
    assert found[1].available is False
    assert found[1].path == str(broken)
    assert found[2] == EngineInfo("ae2025", "25.6x101", str(ae25), available=True)
    assert found[3] == EngineInfo("ae2026", "26.0x55", str(ae26), available=True)


@posix_only
def test_discover_configuration_overrides_candidates(tmp_path: Path) -> None:
    configured = fake_aerender(tmp_path / "sim", "aerender version 26.0x55")
    installed = fake_aerender(tmp_path / "Adobe After Effects 2026", "aerender version 26.0x55")

    found = asyncio.run(
        engines.discover_engines(
            {"ae2026": str(configured), "ae2025": str(configured)},
            None,
            "linux",
            candidates=[installed],
        )
    )

    assert [(engine.name, engine.path) for engine in found] == [
        ("ae2026", str(configured)),
        ("ae2025", str(configured)),
    ]
    assert all(engine.available for engine in found)
    assert run_count(configured) == 1
    assert run_count(installed) == 1
