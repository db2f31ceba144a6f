"""Output-module and render-settings templates, and where a render writes its output.

The output module, not the `-output` extension, decides the file type: like After Effects,
the simulator writes the requested stem with the module's extension when they differ.
Template names are matched case-sensitively after collapsing runs of whitespace, because the
stock `5 Mbps` H.264 template is spaced differently between AE versions.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_MODULE = "H.264 - Match Render Settings - 15 Mbps"
DEFAULT_RENDER_SETTINGS = "Best Settings"


@dataclass(frozen=True)
class OutputModule:
    """An output-module template: container, codec and how ffmpeg writes it."""

    name: str
    extension: str
    codec_args: tuple[str, ...]
    pixel_format: str
    sequence: bool = False
    alpha: bool = False
    # yuv420p needs even width and height, so such modules pad by one pixel when needed.
    even_size: bool = False
    # ffmpeg arguments of the audio stream, written when the comp has audio layers. Image
    # sequences have none: After Effects never writes audio into them.
    audio_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderSettings:
    """A render-settings template. Draft renders at half resolution and scales back up."""

    name: str
    draft: bool = False


# The stock movie templates write 48 kHz stereo: AAC in H.264 MP4s, 16-bit PCM in QuickTime.
AAC_AUDIO = ("-c:a", "aac", "-b:a", "192k")
PCM_AUDIO = ("-c:a", "pcm_s16le")


def _h264(megabits: int) -> OutputModule:
    return OutputModule(
        name=f"H.264 - Match Render Settings - {megabits} Mbps",
        extension="mp4",
        codec_args=(
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-b:v", f"{megabits}M", "-maxrate", f"{megabits}M", "-bufsize", f"{2 * megabits}M",
        ),
        pixel_format="yuv420p",
        even_size=True,
        audio_args=AAC_AUDIO,
    )  # fmt: skip


_MODULES = [
    _h264(15),
    _h264(40),
    _h264(5),
    OutputModule(
        name="High Quality",
        extension="mov",
        codec_args=("-c:v", "prores_ks", "-profile:v", "2"),
        pixel_format="yuv422p10le",
        audio_args=PCM_AUDIO,
    ),
    OutputModule(
        name="High Quality with Alpha",
        extension="mov",
        codec_args=("-c:v", "prores_ks", "-profile:v", "4"),
        pixel_format="yuva444p10le",
        alpha=True,
        audio_args=PCM_AUDIO,
    ),
    OutputModule(
        name="Lossless", extension="mov", codec_args=("-c:v", "qtrle"), pixel_format="rgb24",
        audio_args=PCM_AUDIO,
    ),
    OutputModule(
        name="Lossless with Alpha",
        extension="mov",
        codec_args=("-c:v", "qtrle"),
        pixel_format="argb",
        alpha=True,
        audio_args=PCM_AUDIO,
    ),
    OutputModule(
        name="PNG Sequence", extension="png", codec_args=("-c:v", "png"),
        pixel_format="rgb24", sequence=True,
    ),
    OutputModule(
        name="PNG Sequence with Alpha", extension="png", codec_args=("-c:v", "png"),
        pixel_format="rgba", sequence=True, alpha=True,
    ),
    OutputModule(
        name="JPEG Sequence", extension="jpg", codec_args=("-c:v", "mjpeg", "-q:v", "3"),
        pixel_format="yuvj444p", sequence=True,
    ),
    OutputModule(
        name="TIFF Sequence", extension="tif", codec_args=("-c:v", "tiff"),
        pixel_format="rgb24", sequence=True,
    ),
]  # fmt: skip

_RENDER_SETTINGS = [
    RenderSettings("Best Settings"),
    RenderSettings("Draft Settings", draft=True),
    RenderSettings("Current Settings"),
    RenderSettings("Multi-Machine Settings"),
]

# Extensions that name the same file type as a module's own extension.
_EXTENSION_ALIASES = {"jpg": {"jpeg"}, "tif": {"tiff"}}


def normalise_template_name(name: str) -> str:
    return " ".join(name.split())


_MODULES_BY_NAME = {normalise_template_name(module.name): module for module in _MODULES}
_SETTINGS_BY_NAME = {normalise_template_name(s.name): s for s in _RENDER_SETTINGS}


def find_output_module(name: str | None) -> OutputModule | None:
    """Return the output module of that name (the H.264 15 Mbps one for None), or None."""
    return _MODULES_BY_NAME.get(normalise_template_name(name or DEFAULT_OUTPUT_MODULE))


def find_render_settings(name: str | None) -> RenderSettings | None:
    """Return the render settings of that name (Best Settings for None), or None."""
    return _SETTINGS_BY_NAME.get(normalise_template_name(name or DEFAULT_RENDER_SETTINGS))


def output_module_names() -> list[str]:
    return [module.name for module in _MODULES]


@dataclass(frozen=True)
class OutputTarget:
    """The render's destination: one file, or a frame pattern such as `out_[#####].png`."""

    path: Path
    ffmpeg_path: str
    digits: int = 0

    def frame_path(self, frame_number: int) -> Path:
        """Return the file of one frame of an image sequence."""
        name = re.sub(r"\[#+\]", f"{frame_number:0{self.digits}d}", self.path.name)
        return self.path.with_name(name)


def output_target(requested: str, module: OutputModule) -> OutputTarget:
    """Resolve the `-output` path into the file or frame pattern the module writes."""
    path = _with_module_extension(Path(requested), module.extension)
    if not module.sequence:
        return OutputTarget(path=path, ffmpeg_path=str(path))

    if not re.search(r"\[#+\]", path.name):
        path = path.with_name(f"{path.stem}_[#####]{path.suffix}")
    match = re.search(r"\[(#+)\]", path.name)
    assert match is not None
    digits = len(match.group(1))
    # The image2 muxer reads % as a pattern character, so a literal % is doubled.
    ffmpeg_name = path.name.replace("%", "%%")
    ffmpeg_name = re.sub(r"\[#+\]", f"%0{digits}d", ffmpeg_name, count=1)
    return OutputTarget(path=path, ffmpeg_path=str(path.with_name(ffmpeg_name)), digits=digits)


def _with_module_extension(path: Path, extension: str) -> Path:
    requested = path.suffix.lower().lstrip(".")
    if requested == extension or requested in _EXTENSION_ALIASES.get(extension, set()):
        return path
    if not path.suffix:
        return path.with_name(f"{path.name}.{extension}")
    return path.with_suffix(f".{extension}")
