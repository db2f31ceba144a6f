"""Fonts: families read with fontTools, and fonts installed for one render and removed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.errors import LeaseFailure
from agent.fonts import (
    FONTS_CONF,
    FontInstall,
    font_families,
    installed_font_families,
    resolve_font_names,
)

SYSTEM_FONTS = (
    sorted(Path("/usr/share/fonts").rglob("*.ttf")) if Path("/usr/share/fonts").is_dir() else []
)


@pytest.fixture
def font_file(tmp_path: Path) -> Path:
    if not SYSTEM_FONTS:
        pytest.skip("no .ttf font under /usr/share/fonts to test with")
    source = SYSTEM_FONTS[0]
    copy = tmp_path / "library" / "Brand-Regular.ttf"
    copy.parent.mkdir()
    shutil.copyfile(source, copy)
    return copy


def test_families_of_a_real_font(font_file: Path) -> None:
    families = font_families(font_file)
    assert len(families) == 1
    assert families[0]
    assert installed_font_families([font_file.parent]) == families


def test_font_families_of_a_non_font(tmp_path: Path) -> None:
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all")
    assert font_families(fake) == []
    assert installed_font_families([tmp_path]) == []


def test_fontconfig_sees_the_lease_fonts(font_file: Path, tmp_path: Path) -> None:
    lease_fonts = tmp_path / "ws" / "fonts"
    env = FontInstall([font_file], lease_fonts).fontconfig_env()
    conf = Path(env["FONTCONFIG_FILE"])
    assert conf == lease_fonts / FONTS_CONF
    assert (lease_fonts / font_file.name).read_bytes() == font_file.read_bytes()
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        pytest.skip("fc-list is not installed, so fontconfig cannot be asked")
    listed = subprocess.run(
        [fc_list, ":", "file"],
        env={"FONTCONFIG_FILE": str(conf), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert str((lease_fonts / font_file.name).resolve()) in listed


def test_copies_are_removed_and_existing_fonts_kept(font_file: Path, tmp_path: Path) -> None:
    user_fonts = tmp_path / "user-fonts"
    user_fonts.mkdir()
    other = font_file.with_name("Other-Bold.ttf")
    shutil.copyfile(font_file, other)
    existing = user_fonts / other.name
    existing.write_bytes(b"the user's own copy")
    install = FontInstall([font_file, other], tmp_path / "ws" / "fonts")
    copies = install.copy_into(user_fonts)
    assert copies == [user_fonts / font_file.name]
    assert existing.read_bytes() == b"the user's own copy"
    install.remove()
    assert sorted(user_fonts.iterdir()) == [existing]


def test_cloud_font_names_are_found(font_file: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "fonts").mkdir(parents=True)
    fetched = workspace / "fonts" / "Fetched.otf"
    fetched.write_bytes(b"x")
    found = resolve_font_names(
        ["Fetched.otf", font_file.name], workspace, [tmp_path / "nowhere", font_file.parent]
    )
    assert found == [fetched, font_file]


def test_missing_cloud_font_names_the_folders(tmp_path: Path) -> None:
    with pytest.raises(LeaseFailure) as caught:
        resolve_font_names(["Brand.ttf"], tmp_path / "ws", [tmp_path / "library"])
    assert caught.value.code == "font_missing"
    assert "Brand.ttf" in caught.value.message
    assert str(tmp_path / "library") in caught.value.message
