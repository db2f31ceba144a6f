"""Fonts: the families installed on this box (for Hello), and fonts installed for one render.

Families are read from the font files themselves with fontTools: the typographic family name
(name ID 16) when a font has one, else the family name (name ID 1). Every face of a .ttc or
.otc collection counts.

A lease's fonts (font assets, and the Nexrender Cloud `fonts` list) are installed for its
render only, and removed afterwards:
- Linux and other fontconfig systems: the fonts stay in the workspace's `fonts/` folder; a
  fonts.conf there includes the system configuration and adds that folder, and the render
  runs with FONTCONFIG_FILE pointing at it. Nothing outside the workspace changes.
- macOS: the files are copied into ~/Library/Fonts and deleted after the render.
- Windows: the files are copied into %LOCALAPPDATA%\\Microsoft\\Windows\\Fonts, registered under
  HKCU\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Fonts, and unregistered and deleted after
  the render.
A file that is already in the user's fonts folder under the same name is left alone, neither
overwritten nor deleted.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from agent.errors import LeaseFailure

logger = logging.getLogger(__name__)

FONT_SUFFIXES = frozenset({".ttf", ".otf", ".ttc", ".otc"})
FONTS_CONF = "fonts.conf"
SYSTEM_FONTS_CONF = Path("/etc/fonts/fonts.conf")
_WINDOWS_FONTS_KEY = r"Software\Microsoft\Windows NT\CurrentVersion\Fonts"


def font_families(path: Path) -> list[str]:
    """Return the family names of the font file at path; an empty list when it is no font."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    try:
        if path.suffix.lower() in (".ttc", ".otc"):
            with TTCollection(str(path), lazy=True) as collection:
                fonts = list(collection.fonts)
                return sorted({name for font in fonts if (name := _family(font))})
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            name = _family(font)
    except (OSError, TTLibError, AssertionError, KeyError, ValueError) as error:
        logger.debug("cannot read the font %s: %s", path, error)
        return []
    return [name] if name else []


def _family(font: object) -> str:
    table = font["name"]  # type: ignore[index]
    for name_id in (16, 1):
        record = table.getDebugName(name_id)
        if record:
            return str(record).strip()
    return ""


def system_font_dirs() -> list[Path]:
    home = Path.home()
    if sys.platform == "darwin":
        return [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts"]
    if sys.platform == "win32":
        windows = Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"
        local = os.environ.get("LOCALAPPDATA")
        user = [Path(local) / "Microsoft/Windows/Fonts"] if local else []
        return [windows, *user]
    return [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        home / ".fonts",
        home / ".local/share/fonts",
    ]


def font_files(folders: Iterable[Path]) -> list[Path]:
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                found.append(path)
    return sorted(found)


def installed_font_families(folders: Sequence[Path] | None = None) -> list[str]:
    """Return the sorted font families of every font file in folders (default: the box's)."""
    families: set[str] = set()
    for path in font_files(system_font_dirs() if folders is None else folders):
        families.update(font_families(path))
    return sorted(families)


def resolve_font_names(
    names: Iterable[str], workspace: Path, library: Sequence[Path]
) -> list[Path]:
    """Find the font files the Nexrender Cloud `fonts` list names.

    A name is looked up in the workspace (a font or static asset fetched it there), then in
    each --font-dir folder of the agent, in order.
    """
    found = []
    for name in names:
        candidates = [workspace / "fonts" / name, workspace / name]
        candidates += [folder / name for folder in library]
        path = next((path for path in candidates if path.is_file()), None)
        if path is None:
            searched = ", ".join(str(folder) for folder in [workspace, *library])
            raise LeaseFailure(
                "font_missing",
                f"font {name!r} from the job's fonts list is in none of {searched}; add it as "
                "a font asset with a src, or put it into a --font-dir folder of the agent",
            )
        found.append(path)
    return found


class FontInstall:
    """Installs one lease's fonts for its render; remove() undoes it."""

    def __init__(self, fonts: Sequence[Path], lease_fonts_dir: Path) -> None:
        self.fonts = list(fonts)
        self.lease_fonts_dir = lease_fonts_dir
        self._copied: list[Path] = []

    def install(self) -> dict[str, str]:
        """Install the fonts; return the variables to add to the render's environment."""
        if not self.fonts:
            return {}
        if sys.platform == "darwin":
            self.copy_into(Path.home() / "Library/Fonts")
            return {}
        if sys.platform == "win32":
            self._install_windows()
            return {}
        return self.fontconfig_env()

    def fontconfig_env(self) -> dict[str, str]:
        """Write a fonts.conf that adds the lease's fonts folder; return FONTCONFIG_FILE."""
        folder = self.lease_fonts_dir
        folder.mkdir(parents=True, exist_ok=True)
        for font in self.fonts:
            if font.parent.resolve() != folder.resolve():
                shutil.copyfile(font, folder / font.name)
        base = os.environ.get("FONTCONFIG_FILE") or str(SYSTEM_FONTS_CONF)
        conf = folder / FONTS_CONF
        conf.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
            f'  <include ignore_missing="yes">{escape(base)}</include>\n'
            f"  <dir>{escape(str(folder.resolve()))}</dir>\n"
            f"  <cachedir>{escape(str((folder / '.cache').resolve()))}</cachedir>\n"
            "</fontconfig>\n",
            encoding="utf-8",
        )
        logger.info("installed %d fonts for this render in %s", len(self.fonts), folder)
        return {"FONTCONFIG_FILE": str(conf)}

    def copy_into(self, user_fonts: Path) -> list[Path]:
        """Copy the fonts into user_fonts, skipping names already there; return the copies."""
        user_fonts.mkdir(parents=True, exist_ok=True)
        for font in self.fonts:
            target = user_fonts / font.name
            if target.exists():
                logger.info("font %s is already in %s: leaving it", font.name, user_fonts)
                continue
            shutil.copyfile(font, target)
            self._copied.append(target)
        logger.info("installed %d fonts for this render in %s", len(self._copied), user_fonts)
        return list(self._copied)

    def _install_windows(self) -> None:
        local = os.environ.get("LOCALAPPDATA", "")
        if not local:
            raise LeaseFailure("font_install_failed", "LOCALAPPDATA is not set on this agent")
        copies = self.copy_into(Path(local) / "Microsoft" / "Windows" / "Fonts")
        winreg: Any = importlib.import_module("winreg")
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _WINDOWS_FONTS_KEY) as key:
            for copy in copies:
                winreg.SetValueEx(key, copy.stem, 0, winreg.REG_SZ, str(copy))

    def remove(self) -> None:
        """Delete the copies install() made (the workspace's own folder goes with it)."""
        if sys.platform == "win32" and self._copied:
            winreg: Any = importlib.import_module("winreg")
            with (
                contextlib.suppress(OSError),
                winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, _WINDOWS_FONTS_KEY, 0, winreg.KEY_SET_VALUE
                ) as key,
            ):
                for copy in self._copied:
                    with contextlib.suppress(OSError):
                        winreg.DeleteValue(key, copy.stem)
        for copy in self._copied:
            with contextlib.suppress(FileNotFoundError):
                copy.unlink()
        self._copied.clear()
