"""docs/configuration.md names every setting of the controller and the agent."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.farm import TOP

DOC = (TOP / "docs" / "configuration.md").read_text()
# Options that are not settings: help, and the file of the settings itself.
NOT_KEYS = {"help", "config"}


def long_options(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=TOP
    )
    # Only the option list: lines that start with two spaces and the option.
    found = re.findall(r"^  (?:-\w, )?--([a-z][a-z0-9-]*)", done.stdout, re.MULTILINE)
    return set(found) - NOT_KEYS


@pytest.mark.parametrize("module", ["controller.main", "agent.main"])
def test_every_key_documented(module: str) -> None:
    keys = {option.replace("-", "_") for option in long_options(module)}
    missing = sorted(key for key in keys if f"| `{key}` |" not in DOC)

    assert keys
    assert missing == []
