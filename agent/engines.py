"""Find the After Effects versions installed on this machine.

An engine is one aerender binary, named after its After Effects year (ae2025, ae2026).
Configured engines override discovery. Discovery looks in the standard install folders and,
on Windows, the registry, and runs `aerender -version` on each binary it finds. Versions are
cached by path, modification time and size, so later starts do not run aerender again.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from agent import proctree

logger = logging.getLogger(__name__)

# Environment variable with the Windows drive letters to search, comma-separated ("C,D").
DRIVES_VARIABLE = "AEFARM_AE_DRIVES"

# Reads HKLM\SOFTWARE\Adobe\After Effects: subkey name ("25.0") -> its InstallPath value.
RegistryReader = Callable[[], Mapping[str, str]]

# `aerender -version` prints "aerender version 25.6x101"; the build suffix is optional.
_VERSION_LINE = re.compile(rb"aerender version\s+(\d+\.\d+(?:\.\d+)*(?:x\d+)?)", re.IGNORECASE)
_VERSION = re.compile(r"^(\d+)\.(\d+)")
_YEAR_IN_FOLDER = re.compile(r"Adobe After Effects (?:CC )?(\d{4})", re.IGNORECASE)

# Major versions before the version number became the year minus 2000 (AE 2022 is 22.x).
_YEARS_BEFORE_2022 = {15: 2018, 16: 2019, 17: 2020, 18: 2021}
# The "CC" folder names ("Adobe After Effects CC 2019") were used up to this year.
_LAST_CC_YEAR = 2019
_FIRST_CC_YEAR = 2014
_CACHE_FORMAT = 1
# Seconds between checks while `aerender -version` runs.
_PROBE_POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class EngineInfo:
    """One aerender binary and whether this agent can render with it."""

    name: str
    version: str
    path: str
    available: bool
    unavailable_reason: str = ""


class EngineProbeError(Exception):
    """Failure of `aerender -version` to report a version, with the reason as message."""


def parse_major(version: str) -> int:
    """Return the major version of an After Effects version such as "25.6x101"."""
    match = _VERSION.match(version.strip())
    if match is None:
        raise ValueError(
            f"invalid After Effects version {version!r}; expected a form such as 25.6x101"
        )
    return int(match.group(1))


def engine_name_for_version(version: str) -> str:
    """Return the engine name of a version: "25.6x101" -> "ae2025"."""
    major = parse_major(version)
    if major >= 22:
        return f"ae{2000 + major}"
    year = _YEARS_BEFORE_2022.get(major)
    if year is None:
        raise ValueError(
            f"After Effects version {version!r} has no known release year; "
            "aefarm knows versions 15 to 18 (2018 to 2021) and 22 and later"
        )
    return f"ae{year}"


def capabilities(version: str) -> dict[str, bool]:
    """Return the aerender features of a version, by major version.

    -mfr exists from AE 2022 (22), native H.264 output from AE 2023 (23), and
    app.fonts.missingOrSubstitutedFonts from AE 2024 (24).
    """
    major = parse_major(version)
    return {
        "mfr": major >= 22,
        "native_h264": major >= 23,
        "missing_fonts_scripting": major >= 24,
    }


def candidate_paths(
    platform: str, env: Mapping[str, str], registry_reader: RegistryReader | None = None
) -> list[Path]:
    """Return the paths where aerender may be installed on platform, without checking them.

    Windows: the standard folders under Program Files on each drive in AEFARM_AE_DRIVES
    (default: the SystemDrive, else C), then the InstallPath of each registry key, with and
    without "Support Files". registry_reader defaults to reading the real registry on
    Windows. macOS: the standard folders in /Applications. Other platforms: none.
    """
    if platform == "win32":
        if registry_reader is None and sys.platform == "win32":
            registry_reader = read_windows_registry
        return _windows_candidates(env, registry_reader)
    if platform == "darwin":
        return [Path("/Applications") / folder / "aerender" for folder in _install_folder_names()]
    return []


def _install_folder_names() -> list[str]:
    """Return install folder names, newest year first."""
    newest = datetime.date.today().year + 1
    names = [f"Adobe After Effects {year}" for year in range(newest, _LAST_CC_YEAR, -1)]
    names += [
        f"Adobe After Effects CC {year}" for year in range(_LAST_CC_YEAR, _FIRST_CC_YEAR - 1, -1)
    ]
    return names


def _windows_candidates(
    env: Mapping[str, str], registry_reader: RegistryReader | None
) -> list[Path]:
    paths: list[PureWindowsPath] = []
    for drive in _windows_drives(env):
        program_files = PureWindowsPath(f"{drive}:\\", "Program Files", "Adobe")
        paths += [
            program_files / folder / "Support Files" / "aerender.exe"
            for folder in _install_folder_names()
        ]

    if registry_reader is not None:
        try:
            install_paths = registry_reader()
        except OSError as error:
            logger.warning("cannot read the After Effects registry keys: %s", error)
            install_paths = {}
        for key in sorted(install_paths, key=_version_sort_key, reverse=True):
            install = PureWindowsPath(install_paths[key])
            paths += [install / "aerender.exe", install / "Support Files" / "aerender.exe"]

    # Path(str(...)) keeps the backslashes when this runs on another platform, in tests.
    unique = dict.fromkeys(str(path) for path in paths)
    return [Path(path) for path in unique]


def _windows_drives(env: Mapping[str, str]) -> list[str]:
    configured = env.get(DRIVES_VARIABLE, "")
    if not configured.strip():
        configured = env.get("SystemDrive", "C")
    drives = []
    for item in configured.split(","):
        letter = item.strip().rstrip(":\\").upper()
        if len(letter) == 1 and letter.isalpha():
            drives.append(letter)
        elif letter:
            logger.warning(
                "ignoring %r in %s: expected drive letters such as C,D", item, DRIVES_VARIABLE
            )
    return list(dict.fromkeys(drives))


def _version_sort_key(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", key))


def read_windows_registry() -> dict[str, str]:
    """Return InstallPath by subkey of HKLM\\SOFTWARE\\Adobe\\After Effects (Windows only)."""
    if sys.platform != "win32":
        return {}
    import winreg

    install_paths: dict[str, str] = {}
    try:
        root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Adobe\After Effects")
    except OSError:
        return install_paths
    with root:
        index = 0
        while True:
            try:
                name = winreg.EnumKey(root, index)
            except OSError:
                break
            index += 1
            try:
                with winreg.OpenKey(root, name) as key:
                    value, _ = winreg.QueryValueEx(key, "InstallPath")
            except OSError:
                continue
            if isinstance(value, str) and value:
                install_paths[name] = value
    return install_paths


async def probe_version(path: Path, timeout: float = 30.0) -> str | None:
    """Run `aerender -version` and return the version it prints, or None on any failure."""
    try:
        return await _probe(path, timeout)
    except EngineProbeError as error:
        logger.warning("%s", error)
        return None


async def _probe(path: Path, timeout: float) -> str:
    """Run `path -version` and return the version; raise EngineProbeError with the reason."""
    token = proctree.new_tree_token()
    try:
        process = await asyncio.create_subprocess_exec(
            str(path),
            "-version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=proctree.spawn_env(os.environ, token),
            **proctree.spawn_options(),
        )
    except OSError as error:
        raise EngineProbeError(f"cannot run {path} -version: {error}") from error
    proctree.contain_tree(process.pid, token)

    assert process.stdout is not None
    output = bytearray()
    reader = asyncio.create_task(_read_all(process.stdout, output))
    try:
        finished = await _wait_for_version(process, reader, output, timeout)
    finally:
        await proctree.terminate_tree(process.pid, token, grace_seconds=1.0)
        reader.cancel()
    if not finished:
        raise EngineProbeError(
            f"{path} -version timed out after {timeout:g} s; check that After Effects "
            "starts on this machine without a dialog"
        )

    match = _VERSION_LINE.search(output)
    if match is None:
        excerpt = bytes(output[:200]).decode("utf-8", errors="replace").strip()
        raise EngineProbeError(
            f"{path} -version exited with code {process.returncode} and printed no "
            f"'aerender version' line (output: {excerpt!r}); check that it is aerender"
        )
    return match.group(1).decode("ascii")


async def _wait_for_version(
    process: asyncio.subprocess.Process,
    reader: asyncio.Task[None],
    output: bytearray,
    timeout: float,
) -> bool:
    """Wait until the probe exited and its output ended; return False on timeout.

    A child that outlives aerender can hold the pipe open, so an exited process whose output
    already has the version line counts as finished too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        exited = process.returncode is not None
        if exited and (reader.done() or _VERSION_LINE.search(output)):
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(remaining, _PROBE_POLL_INTERVAL))


async def _read_all(stream: asyncio.StreamReader, output: bytearray) -> None:
    while chunk := await stream.read(65536):
        output += chunk


async def discover_engines(
    configured: Mapping[str, str],
    cache_file: Path | None,
    platform: str = sys.platform,
    *,
    env: Mapping[str, str] | None = None,
    registry_reader: RegistryReader | None = None,
    candidates: Sequence[Path] | None = None,
    probe_timeout: float = 30.0,
) -> list[EngineInfo]:
    """Return the configured engines, then the discovered ones sorted by name.

    configured maps engine name -> aerender path. A configured engine whose binary is missing
    or fails -version is returned unavailable with the reason, and it still hides a discovered
    engine of the same name. Among discovered binaries of one engine, the first available one
    wins. candidates, when given, replaces candidate_paths(platform, env, registry_reader).
    Versions are cached in cache_file (JSON), and None disables the cache.
    """
    cache = _VersionCache(cache_file)
    engines = [
        await _configured_engine(name, Path(path), cache, probe_timeout)
        for name, path in configured.items()
    ]

    if candidates is None:
        candidates = candidate_paths(platform, os.environ if env is None else env, registry_reader)
    known = {engine.name for engine in engines}
    discovered: dict[str, EngineInfo] = {}
    for path in candidates:
        if not path.is_file():
            continue
        engine = await _discovered_engine(path, cache, probe_timeout)
        if engine is None or engine.name in known:
            continue
        earlier = discovered.get(engine.name)
        if earlier is not None and (earlier.available or not engine.available):
            logger.info("ignoring %s: engine %s is already at %s", path, engine.name, earlier.path)
            continue
        discovered[engine.name] = engine

    cache.save()
    engines += sorted(discovered.values(), key=lambda engine: engine.name)
    for engine in engines:
        _log_engine(engine)
    return engines


async def _configured_engine(
    name: str, path: Path, cache: _VersionCache, timeout: float
) -> EngineInfo:
    if not path.is_file():
        reason = (
            f"aerender binary {path} for engine {name} not found; fix the path in the agent's "
            "engine configuration or remove the engine"
        )
        return EngineInfo(name, "", str(path), available=False, unavailable_reason=reason)
    try:
        version = await cache.version(path, timeout)
    except EngineProbeError as error:
        return EngineInfo(name, "", str(path), available=False, unavailable_reason=str(error))

    try:
        version_name = engine_name_for_version(version)
    except ValueError:
        version_name = None
    if version_name != name:
        # Allowed on purpose, because with --simulate every engine runs the simulator.
        logger.warning(
            "engine %s is configured with %s, which reports version %s", name, path, version
        )
    return EngineInfo(name, version, str(path), available=True)


async def _discovered_engine(path: Path, cache: _VersionCache, timeout: float) -> EngineInfo | None:
    try:
        version = await cache.version(path, timeout)
    except EngineProbeError as error:
        name = _engine_name_from_folder(path)
        if name is None:
            logger.warning("ignoring %s: %s", path, error)
            return None
        return EngineInfo(name, "", str(path), available=False, unavailable_reason=str(error))

    try:
        name = engine_name_for_version(version)
    except ValueError as error:
        logger.warning("ignoring %s: %s", path, error)
        return None
    return EngineInfo(name, version, str(path), available=True)


def _engine_name_from_folder(path: Path) -> str | None:
    match = _YEAR_IN_FOLDER.search(str(path))
    return f"ae{match.group(1)}" if match else None


def _log_engine(engine: EngineInfo) -> None:
    if engine.available:
        logger.info("engine %s: version %s at %s", engine.name, engine.version, engine.path)
    else:
        logger.warning(
            "engine %s at %s is unavailable: %s",
            engine.name,
            engine.path,
            engine.unavailable_reason,
        )


class _VersionCache:
    """Versions by aerender path, valid while the file's modification time and size match.

    Only successful probes are stored, so a failure (for example a licence dialog) is retried
    on the next start.
    """

    def __init__(self, cache_file: Path | None) -> None:
        self._file = cache_file
        self._stored = self._load()
        self._current: dict[str, dict[str, object]] = {}

    async def version(self, path: Path, timeout: float) -> str:
        stat = path.stat()
        key = str(path)
        entry = self._current.get(key) or self._stored.get(key)
        if (
            isinstance(entry, dict)
            and entry.get("mtime_ns") == stat.st_mtime_ns
            and entry.get("size") == stat.st_size
            and isinstance(entry.get("version"), str)
        ):
            version = str(entry["version"])
        else:
            version = await _probe(path, timeout)
        self._current[key] = {
            "mtime_ns": stat.st_mtime_ns,
            "size": stat.st_size,
            "version": version,
        }
        return version

    def _load(self) -> dict[str, object]:
        if self._file is None or not self._file.exists():
            return {}
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("ignoring engine cache %s: %s", self._file, error)
            return {}
        if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
            logger.warning("ignoring engine cache %s: unknown format", self._file)
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def save(self) -> None:
        """Write the versions seen in this discovery, dropping paths no longer probed."""
        if self._file is None:
            return
        data = {"format": _CACHE_FORMAT, "entries": self._current}
        temporary = self._file.with_name(self._file.name + ".tmp")
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self._file)
        except OSError as error:
            logger.warning("cannot write engine cache %s: %s", self._file, error)
