"""The generated protobuf modules checked in beside protos/*.proto match the .proto files."""

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]


def test_generated_protos_are_current(tmp_path: Path) -> None:
    if shutil.which("protoc-gen-mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy-protobuf is not installed in this environment; install '.[dev]'")
    subprocess.run(
        [str(TOP / "scripts" / "gen-protos"), str(tmp_path)],
        check=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    generated = sorted(p.name for p in (tmp_path / "protos").iterdir())
    checked_in = sorted(
        p.name
        for p in (TOP / "protos").iterdir()
        if p.name.endswith((".py", ".pyi")) and "_pb2" in p.name
    )
    assert generated == checked_in, "run scripts/gen-protos and commit the result"
    stale = [
        name
        for name in generated
        if not filecmp.cmp(tmp_path / "protos" / name, TOP / "protos" / name, shallow=False)
    ]
    assert stale == [], (
        f"stale generated files {stale}: run scripts/gen-protos and commit the result"
    )
