"""Checks of the file names that a job gives to files in the agent's workspace.

Agents run on Linux, macOS and Windows, so a name must be safe on all three: relative, without
"..", and valid as a Windows file name.
"""

from __future__ import annotations

import json
import logging
import re

from controller.jobspec.problems import Problems

logger = logging.getLogger(__name__)

# Device names that Windows reserves in every folder, with or without an extension.
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{digit}" for digit in range(1, 10)]
    + [f"LPT{digit}" for digit in range(1, 10)]
)
_DRIVE = re.compile(r"[A-Za-z]:")
_INVALID_CHARACTERS = frozenset('<>:"|?*') | frozenset(chr(code) for code in range(32))


def check_workspace_name(name: str, path: str, problems: Problems, label: str = "name") -> None:
    """Report the first reason, if any, why name is not a safe relative file name."""
    reason = _unsafe_reason(name)
    if reason is not None:
        shown = json.dumps(name, ensure_ascii=False)
        problems.add(path, f"{label} {shown} {reason}")


def _unsafe_reason(name: str) -> str | None:
    hint = 'give a file name relative to the job\'s workspace, such as "logo.png"'
    if not name.strip():
        return f"is empty; {hint}"
    if _DRIVE.match(name):
        return f"starts with a drive letter; {hint}"
    if name.startswith(("/", "\\")):
        return f"is an absolute path; {hint}"
    components = re.split(r"[\\/]", name)
    if ".." in components:
        return f'leaves the workspace through ".."; {hint}'
    for component in components:
        reason = _component_reason(component)
        if reason is not None:
            return reason
    return None


def _component_reason(component: str) -> str | None:
    if component in ("", "."):
        return None
    bad = sorted(set(component) & _INVALID_CHARACTERS)
    if bad:
        shown = ", ".join(repr(character) for character in bad)
        return f"contains {shown}, which Windows does not allow in file names; rename it"
    if component.endswith((".", " ")):
        return "ends with a dot or a space, which Windows drops from file names; rename it"
    stem = component.split(".", 1)[0].rstrip(" ").upper()
    if stem in _RESERVED:
        return f"uses the Windows device name {stem}, which no Windows file can have; rename it"
    return None
