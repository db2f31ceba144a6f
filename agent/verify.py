"""Decide whether a finished aerender run produced a good render.

Exit code 0 alone proves little: After Effects exits 0 after rendering with substitute fonts,
after `-continueOnMissingFootage`, and sometimes after writing nothing at all. A render counts
only when the process ended well, the log has no fatal finding, and the output exists, is not
empty and has the expected number of frames.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from agent.aerender_log import AerenderLog
from agent.errors import LeaseFailure
from agent.media import MediaInfo, ProbeError, probe_video
from agent.render_process import RenderOutcome

logger = logging.getLogger(__name__)

# After Effects picks the container from the output module, not from the -output extension.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi")
SEQUENCE_PLACEHOLDER = re.compile(r"\[#+\]")

# aerender exit codes when -log is not given: meaning, and whether another attempt can
# succeed. With -log, codes other than 0, 1, 2 and 11 are one higher; the agent never sends it.
EXIT_CODES: dict[int, tuple[str, bool]] = {
    1: ("After Effects failed", True),
    2: ("aerender printed its usage", False),
    3: ("aerender rejected an argument", False),
    5: ("a scripting error stopped the render", False),
    7: ("the composition, render-queue item or template was not found", False),
    9: ("an error happened during the render", True),
    11: ("aerender could not open the socket to After Effects", True),
}


def check_outcome(outcome: RenderOutcome, log: AerenderLog, *, allow_missing_fonts: bool) -> None:
    """Raise LeaseFailure unless the process ended well and its log shows no failure."""
    if outcome.stopped_reason == "cancelled":
        raise LeaseFailure("cancelled", "the render was cancelled", retryable=False)
    if outcome.stopped_reason == "hang":
        raise LeaseFailure(
            "render_hang",
            f"aerender printed nothing and wrote no output for too long and was stopped after "
            f"{outcome.elapsed:.0f} s; raise the job's settings.hangTimeout (seconds) for "
            "long frames",
            retryable=True,
        )
    if outcome.stopped_reason == "max_render_time":
        raise LeaseFailure(
            "render_timeout",
            f"the render ran past the job's settings.maxRenderTime and was stopped after "
            f"{outcome.elapsed:.0f} s",
            retryable=True,
        )

    fatal = [finding for finding in log.errors if finding.fatal]
    if fatal:
        first = fatal[0]
        raise LeaseFailure(first.code, first.message, retryable=first.retryable)

    # A stuck exit is a render that finished but whose process never exited; it was stopped
    # after a grace period and its output decides.
    if outcome.stopped_reason != "stuck_exit" and outcome.exit_code != 0:
        raise _exit_failure(outcome.exit_code, log)

    if log.missing_fonts and not allow_missing_fonts:
        raise LeaseFailure(
            "missing_fonts",
            f"the project uses fonts this agent does not have: {', '.join(log.missing_fonts)}; "
            f"install them, or set the job's settings.allowMissingFonts to render with substitutes",
        )
    missing_font_warnings = [w for w in log.warnings if w.code == "missing_fonts"]
    if missing_font_warnings and not allow_missing_fonts:
        raise LeaseFailure(
            "missing_fonts",
            f"{missing_font_warnings[0].message}; install the fonts, or set "
            f"the job's settings.allowMissingFonts to render with substitutes",
        )


def _exit_failure(exit_code: int | None, log: AerenderLog) -> LeaseFailure:
    if exit_code is None:
        return LeaseFailure("render_crashed", "aerender ended without an exit code", retryable=True)
    if exit_code < 0:
        return LeaseFailure(
            "render_crashed", f"aerender was killed by signal {-exit_code}", retryable=True
        )
    meaning, retryable = EXIT_CODES.get(exit_code, (f"unknown exit code {exit_code}", True))
    detail = f"; last error: {log.errors[-1].message}" if log.errors else ""
    return LeaseFailure(
        "render_error",
        f"aerender exited with code {exit_code}: {meaning}{detail}",
        retryable=retryable,
    )


def find_outputs(requested: Path, *, sequence: bool) -> list[Path]:
    """Return the files a render wrote for requested, in order; empty when there are none.

    A sequence path contains [#####]. A single file is looked for under the requested name,
    then under the same stem with each video extension, then as frames named after the stem.
    """
    folder = requested.parent
    if not folder.is_dir():
        return []
    if sequence:
        parts = SEQUENCE_PLACEHOLDER.split(requested.name, maxsplit=1)
        return _sequence_frames(folder, parts[0], parts[1] if len(parts) > 1 else "")

    if requested.is_file():
        return [requested]
    for extension in VIDEO_EXTENSIONS:
        candidate = requested.with_suffix(extension)
        if candidate.is_file():
            return [candidate]
    return _sequence_frames(folder, requested.stem, requested.suffix)


def _sequence_frames(folder: Path, prefix: str, suffix: str) -> list[Path]:
    pattern = re.compile(re.escape(prefix) + r"_?\d+" + re.escape(suffix) + "$")
    return sorted(path for path in folder.iterdir() if pattern.match(path.name) and path.is_file())


def is_silent_exit(log: AerenderLog) -> bool:
    """True when the log shows only the version and launch lines, as after a licence failure."""
    return not log.saw_frame_lines and not log.finished and not log.errors and not log.warnings


async def verify_outputs(
    files: list[Path], log: AerenderLog, *, expected_frames: int | None, sequence: bool
) -> MediaInfo:
    """Check the rendered files and return the media details of the first.

    Raises silent_exit or output_missing without files, output_incomplete for an empty file
    or a frame count other than expected_frames.
    """
    if not files:
        if is_silent_exit(log):
            raise LeaseFailure(
                "silent_exit",
                "aerender exited with code 0 after launching After Effects but rendered "
                "nothing and logged no error; check the licence and plug-in renderers on "
                "this agent",
                retryable=True,
            )
        raise LeaseFailure(
            "output_missing",
            "aerender exited with code 0 but wrote no output file",
            retryable=True,
        )
    empty = [path.name for path in files if path.stat().st_size == 0]
    if empty:
        raise LeaseFailure(
            "output_incomplete", f"output {', '.join(empty[:5])} is empty", retryable=True
        )

    try:
        info = await probe_video(files[0])
    except ProbeError as error:
        raise LeaseFailure(
            "output_incomplete", f"output {files[0].name} is unreadable: {error}", retryable=True
        ) from error
    frames = len(files) if sequence else info.frames
    if expected_frames is not None and frames != expected_frames:
        raise LeaseFailure(
            "output_incomplete",
            f"output {files[0].name} has {frames} frames, expected {expected_frames}",
            retryable=True,
        )
    if sequence:
        # The duration and rate of a single frame do not describe the sequence.
        return MediaInfo(frames=frames, width=info.width, height=info.height)
    return info
