"""Build the example After Effects templates with py-aep.

Writes into examples/templates/ (or the folder given with --out):

- main.aep, comp `Main` (1280x720, 25 fps, 4 s): a `Background` solid, a `Headline` text
  layer, and three placeholder solids that jobs replace: `LowerThird` (640x120, lower third),
  `LowerThird2` (640x120, upper third) and `Logo` (160x160, top right).
- lower-third.aep, comp `LowerThird` (640x120, 25 fps, 4 s): a `Background` solid and a
  `Title` text layer.
- logo.png, a 160x160 image for the example's image asset.

Every layer a job addresses gets its name set explicitly: py-aep renames a layer whose name
comes from its source when that source is replaced. Placeholders have the size of what
replaces them, so the replaced layer keeps its anchor point at the centre.

Run: `.venv/bin/python examples/make_templates.py [--out DIR]`.
"""

from __future__ import annotations

import argparse
import logging
import struct
import sys
import zlib
from pathlib import Path

import py_aep

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent / "templates"

MAIN_SIZE = (1280, 720)
LOWER_THIRD_SIZE = (640, 120)
LOGO_SIZE = (160, 160)
FRAME_RATE = 25.0
DURATION_SECONDS = 4.0


def build_main(path: Path) -> Path:
    """Write main.aep with comp Main and its replaceable layers."""
    project = py_aep.new().project
    comp = project.root_folder.add_comp("Main", *MAIN_SIZE, 1.0, DURATION_SECONDS, FRAME_RATE)
    width, height = MAIN_SIZE

    # Layers are added bottom first; each new layer goes on top.
    background = comp.add_solid([0.08, 0.1, 0.16], name="Background", width=width, height=height)
    background.name = "Background"

    headline = comp.add_text("aefarm example")
    headline.name = "Headline"
    document = _text_document(headline)
    document.font_size = 64.0
    document.fill_color = [1.0, 1.0, 1.0]
    headline.transform.position.value = [80.0, 380.0, 0.0]

    _placeholder(comp, "LowerThird", LOWER_THIRD_SIZE, (width / 2, height * 5 / 6))
    _placeholder(comp, "LowerThird2", LOWER_THIRD_SIZE, (width / 2, height / 6))
    _placeholder(comp, "Logo", LOGO_SIZE, (width - 120.0, 120.0))
    return _save(project, path)


def build_lower_third(path: Path) -> Path:
    """Write lower-third.aep with comp LowerThird: a coloured bar and a Title text layer."""
    project = py_aep.new().project
    width, height = LOWER_THIRD_SIZE
    comp = project.root_folder.add_comp(
        "LowerThird", width, height, 1.0, DURATION_SECONDS, FRAME_RATE
    )
    background = comp.add_solid([0.86, 0.36, 0.1], name="Background", width=width, height=height)
    background.name = "Background"

    title = comp.add_text("Lower third title")
    title.name = "Title"
    document = _text_document(title)
    document.font_size = 40.0
    document.fill_color = [1.0, 1.0, 1.0]
    title.transform.position.value = [24.0, 74.0, 0.0]
    return _save(project, path)


def write_logo_png(path: Path, size: tuple[int, int] = LOGO_SIZE) -> Path:
    """Write an RGB PNG: a white square with a blue centre, without an imaging library."""
    width, height = size
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type 0 for each scanline
        for x in range(width):
            inside = width // 4 <= x < width * 3 // 4 and height // 4 <= y < height * 3 // 4
            row += bytes((30, 90, 220) if inside else (245, 245, 245))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)
    return path


def build_templates(out_dir: Path) -> dict[str, Path]:
    """Build every example template into `out_dir`, replacing earlier builds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "main": build_main(out_dir / "main.aep"),
        "lower_third": build_lower_third(out_dir / "lower-third.aep"),
        "logo": write_logo_png(out_dir / "logo.png"),
    }


def _text_document(layer: py_aep.TextLayer) -> py_aep.TextDocument:
    """Return the layer's TextDocument, which py-aep changes in place when it is edited."""
    assert layer.text is not None
    document = layer.text.source_text.value
    assert isinstance(document, py_aep.TextDocument)
    return document


def _placeholder(
    comp: py_aep.CompItem, name: str, size: tuple[int, int], position: tuple[float, float]
) -> None:
    layer = comp.add_solid([0.5, 0.5, 0.5], name=name, width=size[0], height=size[1])
    layer.name = name
    layer.transform.position.value = [position[0], position[1], 0.0]


def _save(project: py_aep.Project, path: Path) -> Path:
    # py-aep refuses to overwrite a file.
    path.unlink(missing_ok=True)
    project.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the example .aep templates.")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    for path in build_templates(args.out).values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
