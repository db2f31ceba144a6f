"""Incremental parser for aerender output and After Effects render-log files.

Feed it the bytes of aerender's stdout (or of the file that ``-log`` or After
Effects' own render log writes) in chunks of any size. It counts finished
frames, reads the frame total from the render-settings header, tracks which
compositions started and finished, and classifies error and warning lines into
findings with fixed codes (see ``agent.log_patterns.FINDING_KINDS``).

Both shapes of the log are read the same way: aerender prefixes every line with
``PROGRESS:`` (one space before header lines, two before render lines), and the
render-log file indents the same body by two spaces between ``Rendering started
on ...`` and ``Log closed on ...``. Line order is not fixed, so the version and
launch lines may come anywhere.
"""

import logging
import re
from dataclasses import dataclass, field

from agent.log_lines import LineDecoder, LineSplitter
from agent.log_patterns import (
    FINDING_KINDS,
    Family,
    classify,
    extract_font_names,
    has_open_quote,
    is_noise,
)
from agent.log_patterns import match_family as match_finding_family
from agent.log_timing import RenderTiming, is_known_header

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """An error or warning found in the log."""

    code: str  # fixed snake_case code, a key of FINDING_KINDS
    message: str  # the log text that caused it, continuation lines joined by spaces
    fatal: bool  # True for errors, False for warnings
    retryable: bool  # True when another attempt on another agent can help


@dataclass
class CompositionRun:
    """A composition aerender started or finished rendering."""

    name: str
    started: bool
    finished: bool


@dataclass
class _Section:
    """The lines between one ``Starting composition`` line and the next."""

    run: CompositionRun | None = None
    timing: RenderTiming = field(default_factory=RenderTiming)
    frames: set[int] = field(default_factory=set)

    def is_empty(self) -> bool:
        return self.run is None and not self.frames and not self.timing.has_values()


@dataclass
class _PendingFinding:
    """An error or warning line waiting for its continuation lines."""

    family: Family
    parts: list[str]


_PROGRESS_PREFIX = re.compile(r"^\s*PROGRESS:")
# A frame line: the time of the frame (timecode, frame number or feet+frames),
# then the 1-based frame of this render in brackets, with U or L on field
# renders, then the time it took in words that may be translated.
_FRAME_LINE = re.compile(
    r"^(?:\d+[:;]\d{1,2}[:;]\d{1,2}[:;.]\d+|\d+\+\d+|\d+)\s*"
    r"\(\s*(?P<frame>\d+)\s*[ULul]?\s*\)\s*(?:[:：].*)?$"
)
# The date and time before these texts follow the OS locale and are never parsed.
_COMP_STARTED = re.compile(r"(?:^|[\s:])Starting\s+composition\s+(?P<name>.*?)\s*$", re.IGNORECASE)
_COMP_FINISHED = re.compile(r"(?:^|[\s:])Finished\s+composition\s+(?P<name>.*?)\s*$", re.IGNORECASE)
_VERSION = re.compile(r"\baerender\s+version\s+(?P<version>[^\s,;]+)", re.IGNORECASE)
_LAUNCH = re.compile(r"^Launching\b|\bLaunching\s+After\s+Effects\b", re.IGNORECASE)
# Lines that end a message without adding anything the parser keeps.
_OTHER_STRUCTURE = re.compile(
    r"^(?:Rendering\s+started\s+on\b|Log\s+closed\s+on\b|Total\s+Time\s+Elapsed\b)", re.IGNORECASE
)
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "”": "”", "„": "“", "‘": "’", "«": "»", "「": "」"}

# A message takes at most this many continuation lines, so one unclassified
# warning cannot swallow the rest of a render-log file.
MAX_CONTINUATION_LINES = 8


def _composition_name(raw: str) -> str:
    name = raw.strip()
    if name.endswith("."):
        name = name[:-1].rstrip()
    closing = _QUOTE_PAIRS.get(name[:1])
    if closing is not None and len(name) >= 2 and name.endswith(closing):
        name = name[1:-1].strip()
    return name


def _recognizes_legacy_line(text: str) -> bool:
    return is_known_header(_PROGRESS_PREFIX.sub("", text, count=1))


class AerenderLog:
    """Parsed state of one aerender run, updated as bytes arrive.

    A finding is recorded when the line after it arrives (it may continue on
    that line) or on ``close()``.
    """

    def __init__(self, frames_expected: int | None = None) -> None:
        # When set, the frame total the caller expects, for example from -s and -e.
        self.frames_expected = frames_expected
        self.saw_frame_lines = False
        self.aerender_version: str | None = None
        self.launched = False
        self.compositions: list[CompositionRun] = []
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.missing_fonts: list[str] = []
        self._sections = [_Section()]
        self._pending: _PendingFinding | None = None
        self._splitter = LineSplitter()
        self._decoder = LineDecoder(_recognizes_legacy_line)

    def feed(self, data: bytes) -> None:
        """Parse a chunk of output. Lines may be split across chunks anywhere."""
        for raw in self._splitter.feed(data):
            self._read_line(self._decoder.decode(raw))

    def close(self) -> None:
        """Parse a trailing line without a line end and record a waiting finding."""
        for raw in self._splitter.close():
            self._read_line(self._decoder.decode(raw))
        self._record_pending()

    @property
    def frames_done(self) -> int:
        """Distinct frames finished. Multi-Frame Rendering can print a frame twice."""
        return sum(len(section.frames) for section in self._sections)

    @property
    def frames_total(self) -> int | None:
        """Frames expected: frames_expected, else from the header of every composition."""
        if self.frames_expected is not None:
            return self.frames_expected
        return self.log_frames_total

    @property
    def log_frames_total(self) -> int | None:
        """Frames from the Duration and Frame Rate lines, or None when any render lacks them."""
        sections = [section for section in self._sections if not section.is_empty()]
        totals = [section.timing.frames_total() for section in sections]
        if not totals or None in totals:
            return None
        return sum(total for total in totals if total is not None)

    @property
    def percent(self) -> float | None:
        """Progress 0 to 100, or None when the frame total or the frame lines are missing.

        Some output modules print no frame lines, so without them progress is
        unknown, except that every started composition having finished is 100.
        """
        total = self.frames_total
        if total is None or total <= 0:
            return None
        if self.compositions and all(run.finished for run in self.compositions):
            return 100.0
        if not self.saw_frame_lines:
            return None
        return min(100.0, 100.0 * self.frames_done / total)

    @property
    def finished(self) -> bool:
        """Whether a composition printed its ``Finished composition`` line."""
        return any(run.finished for run in self.compositions)

    def summary(self) -> dict[str, object]:
        """Return the parse result as a JSON-ready object (the parse-log output)."""
        percent = self.percent
        return {
            "aerender_version": self.aerender_version,
            "launched": self.launched,
            "compositions": [
                {"name": run.name, "started": run.started, "finished": run.finished}
                for run in self.compositions
            ],
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "percent": None if percent is None else round(percent, 2),
            "saw_frame_lines": self.saw_frame_lines,
            "finished": self.finished,
            "errors": [
                {"code": item.code, "message": item.message, "retryable": item.retryable}
                for item in self.errors
            ],
            "warnings": [{"code": item.code, "message": item.message} for item in self.warnings],
            "missing_fonts": list(self.missing_fonts),
        }

    def _read_line(self, line: str) -> None:
        prefix = _PROGRESS_PREFIX.match(line)
        text = (line[prefix.end() :] if prefix else line).strip()
        if not text:
            # Blank lines neither add to a message nor end it, because a CR CR LF
            # line end splits into a line and an empty line.
            return

        if is_noise(text):
            return

        # A quoted first error that is still open continues on this line.
        pending = self._pending
        open_quote = pending is not None and has_open_quote(" ".join(pending.parts))
        if open_quote and prefix is None and self._append_continuation(text):
            return

        family = match_finding_family(text)
        if family is not None:
            self._record_pending()
            self._pending = _PendingFinding(family, [text])
            return

        version = _VERSION.search(text)
        if version is not None:
            self._record_pending()
            if self.aerender_version is None:
                self.aerender_version = version.group("version").rstrip(".")
            return
        if self._read_structure(text):
            return

        if prefix is None and self._append_continuation(text):
            return
        self._record_pending()

    def _append_continuation(self, text: str) -> bool:
        pending = self._pending
        if pending is None or len(pending.parts) > MAX_CONTINUATION_LINES:
            return False
        pending.parts.append(text)
        return True

    def _read_structure(self, text: str) -> bool:
        """Apply a frame, composition, header, launch or framing line. Return whether it was one."""
        frame = _FRAME_LINE.match(text)
        if frame is not None:
            self._record_pending()
            self.saw_frame_lines = True
            self._sections[-1].frames.add(int(frame.group("frame")))
            return True

        started = _COMP_STARTED.search(text)
        if started is not None:
            self._record_pending()
            self._start_composition(_composition_name(started.group("name")))
            return True

        finished = _COMP_FINISHED.search(text)
        if finished is not None:
            self._record_pending()
            self._finish_composition(_composition_name(finished.group("name")))
            return True

        if self._sections[-1].timing.read_header(text):
            self._record_pending()
            return True

        if _LAUNCH.search(text):
            self._record_pending()
            self.launched = True
            return True

        if _OTHER_STRUCTURE.match(text):
            self._record_pending()
            return True
        return False

    def _start_composition(self, name: str) -> None:
        run = CompositionRun(name=name, started=True, finished=False)
        self.compositions.append(run)
        section = self._sections[-1]
        # A header printed before the start line belongs to this composition.
        if section.run is None and not section.frames:
            section.run = run
        else:
            self._sections.append(_Section(run=run))

    def _finish_composition(self, name: str) -> None:
        unfinished = [run for run in self.compositions if not run.finished]
        named = [run for run in unfinished if run.name == name]
        current = self._sections[-1].run
        if named:
            named[-1].finished = True
        elif current is not None and not current.finished:
            # Same composition, name printed differently (quotes, code page).
            current.finished = True
        else:
            run = CompositionRun(name=name, started=False, finished=True)
            self.compositions.append(run)
            if self._sections[-1].run is None:
                self._sections[-1].run = run

    def _record_pending(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None

        message = " ".join(pending.parts)
        code = classify(pending.family, message)
        kind = FINDING_KINDS[code]
        finding = Finding(code=code, message=message, fatal=kind.fatal, retryable=kind.retryable)
        findings = self.errors if kind.fatal else self.warnings
        if finding not in findings:
            findings.append(finding)
            logger.debug("aerender log finding %s: %s", code, message)

        if code in ("missing_fonts", "missing_dependencies"):
            for name in extract_font_names(pending.parts):
                if name not in self.missing_fonts:
                    self.missing_fonts.append(name)


# aerender exit codes. With -log, every code except 0, 1, 2 and 11 is one higher.
_EXIT_NAMES = {
    0: "ok",
    1: "application_failure",
    2: "usage_shown",
    3: "syntax_error",
    5: "script_error",
    7: "not_found",  # comp, render-queue item or template not found, or no output given
    9: "render_error",
    11: "socket_error",  # cannot open the socket to After Effects
}
_UNSHIFTED_EXIT_CODES = (0, 1, 2, 11)
# Windows reports a crash as an NTSTATUS error code, 0xC0000000 and above.
_NTSTATUS_ERROR = 0xC0000000


def classify_exit(code: int, used_log_flag: bool) -> str:
    """Return the name of an aerender exit code. Pass whether aerender ran with -log.

    Negative codes are signals (as Python's subprocess reports them), and
    NTSTATUS codes are Windows crashes. Any other code is "unknown".
    """
    if code < 0:
        return "killed_by_signal"
    if code >= _NTSTATUS_ERROR:
        return "crashed"
    if code in _UNSHIFTED_EXIT_CODES:
        return _EXIT_NAMES[code]
    if used_log_flag:
        unshifted = code - 1
        if unshifted in _UNSHIFTED_EXIT_CODES:
            return "unknown"
        return _EXIT_NAMES.get(unshifted, "unknown")
    return _EXIT_NAMES.get(code, "unknown")
