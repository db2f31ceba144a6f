"""Local file sources: Windows, UNC and POSIX paths, file:// URIs, and path mapping rules.

A job written on one platform names shared storage by that platform's mount path
(`\\\\nas\\projects\\intro.aep`, `Z:\\projects\\intro.aep`, `/Volumes/projects/intro.aep`).
Each agent has path mapping rules, `FROM=TO`, that rewrite such a prefix into the path of the
same storage on its own box (`/mnt/projects`). Rules apply in the order given; the first whose
FROM prefix matches wins. Windows prefixes (a drive letter or a UNC share) compare without
regard to case or to the kind of slash.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

logger = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
# file:///C:/x and the old file:///C|/x spelling.
_URI_DRIVE = re.compile(r"^/([A-Za-z])[:|](/|$)")


def is_windows_path(path: str) -> bool:
    """True for C:\\x, C:/x and \\\\server\\share\\x (or //server/share/x)."""
    return bool(_DRIVE.match(path)) or path.startswith(("\\\\", "//"))


def is_local_path(source: str) -> bool:
    """True for a bare path rather than a URI: /x/t.aep, C:\\x\\t.aep, \\\\server\\share\\t.aep."""
    return source.startswith("/") or is_windows_path(source)


def path_of_file_uri(uri: str) -> str:
    """Return the path a file:// URI names, percent-decoded, in the spelling of its platform.

    `file:///C:/x%20y/t.aep` gives `C:/x y/t.aep`, `file://nas/projects/t.aep` gives
    `\\\\nas\\projects\\t.aep`, and `file:///mnt/t.aep` gives `/mnt/t.aep`.
    """
    parts = urllib.parse.urlsplit(uri)
    path = urllib.parse.unquote(parts.path)
    host = parts.netloc
    if host not in ("", "localhost"):
        return "\\\\" + host + path.replace("/", "\\")
    drive = _URI_DRIVE.match(path)
    if drive:
        return f"{drive.group(1)}:/" + path[drive.end() :]
    return path


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


@dataclass(frozen=True)
class PathMapRule:
    source: str
    target: str

    @classmethod
    def parse(cls, text: str) -> PathMapRule:
        """Parse FROM=TO. The split is at the first `=` that is followed by a path."""
        source, separator, target = text.partition("=")
        if not separator or not source.strip() or not target.strip():
            raise ValueError(
                f"invalid path mapping {text!r}: use FROM=TO, for example "
                "'\\\\nas\\projects=/mnt/projects'"
            )
        return cls(source.strip(), target.strip())

    def apply(self, path: str) -> str | None:
        """Return path with this rule's prefix replaced, or None when the prefix differs."""
        prefix = _slashes(self.source).rstrip("/")
        candidate = _slashes(path)
        if is_windows_path(self.source):
            matches = candidate.casefold().startswith(prefix.casefold())
        else:
            matches = candidate.startswith(prefix)
        rest = candidate[len(prefix) :]
        if not matches or (rest and not rest.startswith("/")):
            return None
        target = self.target.rstrip("/\\")
        if is_windows_path(self.target):
            return target + rest.replace("/", "\\")
        return target + rest


class PathMapper:
    """Applies an agent's path mapping rules, then turns the result into a local Path."""

    def __init__(self, rules: Iterable[PathMapRule] = ()) -> None:
        self.rules = tuple(rules)

    def map(self, path: str) -> str:
        for rule in self.rules:
            mapped = rule.apply(path)
            if mapped is not None:
                logger.debug("path mapping %s=%s: %s -> %s", rule.source, rule.target, path, mapped)
                return mapped
        return path

    def local_path(self, path: str) -> Path:
        """Return the mapped path as a Path of this box.

        Raises ValueError for a Windows path on a box that is not Windows (or a POSIX path on
        Windows) that no rule maps, naming the path and the flag that fixes it.
        """
        mapped = self.map(path)
        windows = is_windows_path(mapped)
        if windows and os.name != "nt":
            raise ValueError(
                f"{mapped} is a Windows path and this agent runs on {os.name}; add a "
                f"--path-map rule such as '{_suggested_prefix(mapped)}=/mnt/share'"
            )
        if windows:
            return Path(str(PureWindowsPath(mapped)))
        if os.name == "nt" and mapped.startswith("/"):
            raise ValueError(
                f"{mapped} is a POSIX path and this agent runs on Windows; add a --path-map "
                f"rule such as '{_suggested_prefix(mapped)}=\\\\server\\share'"
            )
        return Path(str(PurePosixPath(mapped)))


def _suggested_prefix(path: str) -> str:
    if _DRIVE.match(path):
        return path[:2] + "\\"
    parts = [part for part in _slashes(path).split("/") if part]
    if is_windows_path(path):
        return "\\\\" + "\\".join(parts[:2])
    return "/" + "/".join(parts[:2])
