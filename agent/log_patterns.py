"""Finding codes and the text patterns that classify aerender error and warning lines.

aerender prints errors in a few families (commandLineRenderer.jsx, the script
that ships with After Effects, writes most of these lines):

- script error: ``aerender ERROR: No comp was found with the given name.``
- syntax error: ``aerender SYNTAX ERROR: Illegal argument flag: -mfr``
- runtime error: ``aerender Error: After Effects error: <text>``
- Apple-event error (macOS): ``aerender ERROR -1712: AESend failed ...``
- warning: ``WARNING:After Effects warning: Project has missing fonts.``
- grouped warning: ``... logged 3 errors, please check log.`` and then
  ``First error was "..."``, which may continue on the next line
- bare lines: the busy-instance text, licence failures and "missing dependencies"

Only these families decide a finding. Other lines that mention "error" (GPU and
library noise) are ignored.
"""

import logging
import re
from dataclasses import dataclass
from enum import Enum

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FindingKind:
    """One finding code with its fixed flags and the texts an operator reads."""

    code: str
    fatal: bool
    retryable: bool
    meaning: str
    advice: str


def _error(code: str, retryable: bool, meaning: str, advice: str) -> FindingKind:
    return FindingKind(code, fatal=True, retryable=retryable, meaning=meaning, advice=advice)


def _warning(code: str, meaning: str, advice: str) -> FindingKind:
    return FindingKind(code, fatal=False, retryable=False, meaning=meaning, advice=advice)


_KINDS = (
    # The job names a comp or render-queue item the project lacks, so every agent fails alike.
    _error(
        "comp_not_found",
        False,
        "the composition or render-queue item was not found",
        "check the composition name: aerender matches it exactly and case-sensitively",
    ),
    # Templates are stored per OS user. Retrying is pointless until the job or the
    # farm's templates change.
    _error(
        "template_not_found",
        False,
        "the render-settings or output-module template was not found",
        "use a template that exists for the user the agent runs as",
    ),
    # The project path is wrong or the file cannot be opened. The job must change.
    _error(
        "no_project",
        False,
        "the project was not found or could not be opened",
        "check the template source and that the .aep file downloads intact",
    ),
    # The aerender version rejects a flag, for example -mfr before AE 2022. This
    # is an agent or engine mismatch that the same engine repeats on every box.
    _error(
        "syntax_error",
        False,
        "aerender rejected a command-line flag",
        "check that the engine version supports every flag the agent sends",
    ),
    # Any other error from commandLineRenderer.jsx, including a render-queue item
    # without an output. The arguments or the project are wrong.
    _error(
        "script_error",
        False,
        "aerender's script reported an error",
        "read the message: the project or the arguments need a change",
    ),
    # Footage the project refers to is missing. It is missing on every agent.
    _error(
        "missing_footage",
        False,
        "footage used by the project is missing",
        "add the footage to the job's assets or fix the layer's source",
    ),
    # A plug-in effect is missing. The job needs a change or a pool whose boxes have it.
    _error(
        "missing_effect",
        False,
        "an effect or plug-in used by the project is missing",
        "install the plug-in on the render boxes or remove the effect",
    ),
    # After Effects raised an error during the render. A crash or memory
    # exhaustion may not repeat on another box.
    _error(
        "render_error",
        True,
        "After Effects reported an error during the render",
        "retry on another agent, and if it repeats, open the project in After Effects",
    ),
    # macOS Apple-event IPC between aerender and After Effects failed.
    _error(
        "apple_event_error",
        True,
        "aerender could not talk to After Effects (Apple event failed)",
        "restart After Effects on that box; another agent can take the job",
    ),
    # Another aerender or a modal dialog keeps After Effects busy on this box.
    _error(
        "instance_busy",
        True,
        "After Effects was busy with another instance or a dialog",
        "close the other After Effects instance or dialog on that box",
    ),
    # This box has no usable licence. Another box may have one.
    _error(
        "license_error",
        True,
        "After Effects could not obtain a licence",
        "sign in to Creative Cloud as the agent's user on that box",
    ),
    # Writing the output failed, for example a full disk or a locked file on this box.
    _error(
        "output_module_failed",
        True,
        "the output module failed to write the output",
        "check free disk space and write access to the agent's workspace",
    ),
    # The -log file could not be written. This depends on the box's disk.
    _error(
        "log_file_error",
        True,
        "aerender could not write its log file",
        "check free disk space and write access to the agent's workspace",
    ),
    # Fonts are substituted and the render still exits 0, so the farm decides.
    _warning(
        "missing_fonts",
        "the project uses fonts that are not installed",
        "add the fonts to the job or install them on the render boxes",
    ),
    # A layer misses fonts or something unnamed. Details that name missing footage or
    # effects make the finding missing_footage or missing_effect instead.
    _warning(
        "missing_dependencies",
        "a layer has missing dependencies",
        "read the details: add the missing fonts, footage or effects",
    ),
    # GPU acceleration is unavailable or the driver is unsupported. After Effects
    # then renders on the CPU.
    _warning(
        "gpu_warning",
        "After Effects reported a GPU problem",
        "update the graphics driver or set the project to software rendering",
    ),
    # The requested start or end frame lies outside the composition.
    _warning(
        "time_span_warning",
        "the requested time span does not fit the composition",
        "check the job's frame range against the composition's duration",
    ),
    # Any other After Effects warning.
    _warning(
        "other_warning",
        "After Effects printed a warning",
        "read the message",
    ),
)

FINDING_KINDS: dict[str, FindingKind] = {kind.code: kind for kind in _KINDS}


class Family(Enum):
    """The line shape that opened a finding. The family sets the code when no cause matches."""

    SCRIPT = "script"
    SYNTAX = "syntax"
    APPLE_EVENT = "apple_event"
    RUNTIME = "runtime"
    WARNING = "warning"
    BARE = "bare"


_FLAGS = re.IGNORECASE

# Family openings, tried in order on a line without its PROGRESS: prefix.
_FAMILY_OPENINGS: tuple[tuple[re.Pattern[str], Family], ...] = (
    (re.compile(r"^aerender\s+syntax\s+error\b", _FLAGS), Family.SYNTAX),
    # Apple-event failures carry the negative OSErr number, for example -1712.
    (re.compile(r"^aerender\s+error\s+-\d+\s*:", _FLAGS), Family.APPLE_EVENT),
    (re.compile(r"^aerender\s+error\s*:\s*after\s+effects\s+error\b", _FLAGS), Family.RUNTIME),
    (re.compile(r"^aerender\s+error\b", _FLAGS), Family.SCRIPT),
    (re.compile(r"^after\s+effects\s+error\s*:", _FLAGS), Family.RUNTIME),
    (re.compile(r"^(?:aerender\s+)?warning\s*:", _FLAGS), Family.WARNING),
    (re.compile(r"^after\s+effects\s+warning\s*:", _FLAGS), Family.WARNING),
)

_BUSY = re.compile(
    r"can\s*not\s+render\s+for\s+aerender|another\s+instance\s+of\s+(?:aerender|after\s*effects)",
    _FLAGS,
)
_LICENSE = re.compile(
    r"unable\s+to\s+obtain\s+(?:a\s+)?licen[cs]e"
    r"|(?:could\s+not|couldn't|cannot|failed\s+to)\s+(?:obtain|get|acquire|find)\s+(?:a\s+)?"
    r"(?:valid\s+)?licen[cs]e"
    r"|licen[cs]e\s+(?:has\s+)?expired|not\s+licen[cs]ed|licen[cs]ing\s+(?:error|failed)"
    r"|no\s+(?:valid\s+)?licen[cs]e",
    _FLAGS,
)
_AESEND_FAILED = re.compile(r"\bAESend\s+failed", _FLAGS)
_APPLE_EVENT = re.compile(rf"{_AESEND_FAILED.pattern}|\bapple\s*event", _FLAGS)
_DEPENDENCIES = re.compile(r"missing\s+dependenc", _FLAGS)
_LOG_FILE = re.compile(
    r"\blog\s*file\b.*\b(?:can\s*not|can't|could\s+not|couldn't|unable|failed|not\s+writ)"
    r"|\b(?:can\s*not|can't|could\s+not|couldn't|unable\s+to|failed\s+to)\s+"
    r"(?:open|write|create)\b.*\blog\s*file\b",
    _FLAGS,
)
_OUTPUT_MODULE_FAILED = re.compile(
    r"\boutput\s+module\b.*\bfail"
    r"|\b(?:can\s*not|can't|could\s+not|couldn't|unable\s+to)\s+(?:open|create|write)\b"
    r".*\boutput\b"
    r"|\bdisk\s+(?:is\s+)?full\b|\bnot\s+enough\s+(?:disk\s+)?space\b",
    _FLAGS,
)
_MISSING_FOOTAGE = re.compile(
    r"\bmissing\s+footage\b|\bfootage\b.*\b(?:missing|not\s+found|can\s*not\s+be\s+found"
    r"|could\s+not\s+be\s+found|offline)\b"
    r"|\b(?:can\s*not|can't|could\s+not|couldn't|unable\s+to)\s+(?:find|locate)\s+"
    r"(?:the\s+)?(?:footage|file|source)\b"
    r"|\bfile\b.*\b(?:not\s+found|can\s*not\s+be\s+found|could\s+not\s+be\s+found)\b",
    _FLAGS,
)
_MISSING_EFFECT = re.compile(
    r"\bmissing\s+(?:effects?|plug-?ins?)\b"
    r"|\b(?:effects?|plug-?ins?)\b.*\b(?:missing|not\s+found|not\s+installed"
    r"|could\s+not\s+be\s+found|can\s*not\s+be\s+found)\b",
    _FLAGS,
)
_MISSING_FONTS = re.compile(
    r"\bfonts?\b.*\b(?:missing|not\s+found|substitut)|missing\s+fonts?\b", _FLAGS
)
_GPU = re.compile(
    r"\bGPU\b|\bCUDA\b|\bOpenCL\b|\bMetal\b|\bMercury\b|graphics\s+(?:card|driver)"
    r"|video\s+driver|display\s+driver",
    _FLAGS,
)
_TIME_SPAN = re.compile(
    r"\btime\s*span\b|\boutside\s+(?:of\s+)?(?:the\s+)?(?:comp|composition)\b"
    r"|\b(?:start|end)\s+(?:frame|time)\b.*"
    r"\b(?:outside|beyond|after|before|exceeds|greater|less)\b",
    _FLAGS,
)

# Causes in order of priority: the first that matches a message decides its code.
# Causes on the render box come first, because they do not depend on the job.
_BOX_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_LOG_FILE, "log_file_error"),
    (_LICENSE, "license_error"),
    (_BUSY, "instance_busy"),
    (_APPLE_EVENT, "apple_event_error"),
)
_CONTENT_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_OUTPUT_MODULE_FAILED, "output_module_failed"),
    (_MISSING_FOOTAGE, "missing_footage"),
    (_MISSING_EFFECT, "missing_effect"),
)
_ERROR_CAUSES = _BOX_CAUSES + _CONTENT_CAUSES
_WARNING_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_DEPENDENCIES, "missing_dependencies"),
    (_MISSING_FONTS, "missing_fonts"),
    (_GPU, "gpu_warning"),
    (_TIME_SPAN, "time_span_warning"),
)

# Script errors from commandLineRenderer.jsx, classified by what is missing. A
# render-queue item without an output stays a plain script_error.
_NOT_FOUND = (
    r"(?:not\s+(?:be\s+)?found|was\s+found|no\s+such|does\s*n[o']t\s+exist|not\s+exist"
    r"|missing|out\s+of\s+range|invalid|could\s+not\s+(?:be\s+)?open|can\s*n[o']t\s+open"
    r"|unable\s+to\s+open|failed\s+to\s+open)"
)
_SCRIPT_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"\btemplate\b.*{_NOT_FOUND}|\bno\b.*\btemplate\b", _FLAGS), "template_not_found"),
    (
        re.compile(
            r"\bneeds?\s+(?:an?\s+)?output|\bno\s+output\b|\boutput\b.*\bnot\s+given", _FLAGS
        ),
        "script_error",
    ),
    (
        re.compile(
            rf"(?:\bcomp(?:osition)?s?\b|\brender\s*queue\b|\brqindex\b).*{_NOT_FOUND}"
            r"|\bno\s+(?:comp|composition|render\s*queue\s+item)\b",
            _FLAGS,
        ),
        "comp_not_found",
    ),
    (re.compile(rf"\bproject\b.*{_NOT_FOUND}|\bno\s+project\b", _FLAGS), "no_project"),
)

_AFTER_EFFECTS = re.compile(r"\bafter\s+effects\b", _FLAGS)
_GROUPED = re.compile(r"\blogged\s+\d+\s+errors?\b", _FLAGS)
_FIRST_ERROR_LINE = re.compile(r"^first\s+error\s+was\b", _FLAGS)
_FIRST_ERROR = re.compile(r"\bfirst\s+error\s+was\b\s*:?\s*(?P<cause>.*)$", _FLAGS | re.DOTALL)

# Lines that mention errors or failures harmlessly: GPU and library probing on
# Windows, and Objective-C runtime warnings on macOS.
_NOISE = re.compile(
    r"^Using\s+DXGI\b|\bLoadLibrary\b.*\bfailed\b|autorelease|NSAutoreleasePool|^objc\[\d+\]"
    r"|GPU\s*Sniffer|^(?:GPU|OpenGL|OpenCL|CUDA|Metal|Vulkan|DirectX|D3D\d*)\b.*"
    r"\b(?:library|dll|dylib|driver|device|adapter|\.so)\b",
    _FLAGS,
)


def is_noise(text: str) -> bool:
    """Return whether a line is known harmless noise that mentions errors."""
    return _NOISE.search(text) is not None


def match_family(text: str) -> Family | None:
    """Return the family whose opening line this is, or None for any other line."""
    # "First error was ..." continues a grouped warning, whatever cause it names.
    if _FIRST_ERROR_LINE.match(text):
        return None
    for pattern, family in _FAMILY_OPENINGS:
        if pattern.search(text):
            return family
    for pattern in (_BUSY, _LICENSE, _AESEND_FAILED, _DEPENDENCIES):
        if pattern.search(text):
            return Family.BARE
    return None


_CLOSING_QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "‘": "’", "«": "»"}


def has_open_quote(text: str) -> bool:
    """Return whether the quoted text after "First error was" is still open at the end."""
    first = _FIRST_ERROR.search(text)
    if first is None:
        return False
    cause = first.group("cause").strip()
    closing = _CLOSING_QUOTES.get(cause[:1])
    return closing is not None and not cause[1:].rstrip().endswith((closing, closing + "."))


def _first_cause(text: str, causes: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, code in causes:
        if pattern.search(text):
            return code
    return None


def _classify_grouped(text: str) -> str:
    # The count line names no cause, the "First error was" text does.
    first = _FIRST_ERROR.search(text)
    if first is None:
        return "other_warning"
    # A cause without a family of its own (an expression error, say) stays a warning,
    # because After Effects went on rendering: the exit code and the output decide.
    cause = first.group("cause")
    return (
        _first_cause(cause, _ERROR_CAUSES)
        or _first_cause(cause, _WARNING_CAUSES)
        or "other_warning"
    )


def classify(family: Family, text: str) -> str:
    """Return the finding code for a whole message (opening line and continuations).

    A cause named in the text wins over the family: a warning about missing footage is
    reported as missing_footage, because After Effects then rendered colour bars.
    Syntax and Apple-event errors are decided by their family alone.
    """
    # "After Effects" in the family prefix must not read as a missing effect.
    text = _AFTER_EFFECTS.sub("AfterEffects", text.replace("’", "'"))
    if family is Family.SYNTAX:
        return "syntax_error"
    if family is Family.APPLE_EVENT:
        return "apple_event_error"
    if family is Family.WARNING and _GROUPED.search(text):
        return _classify_grouped(text)

    cause = _first_cause(text, _BOX_CAUSES)
    if cause is not None:
        return cause
    # Script errors name the argument that failed, for example "No comp was found".
    if family is Family.SCRIPT:
        cause = _first_cause(text, _SCRIPT_CAUSES)
        if cause is not None:
            return cause

    cause = _first_cause(text, _CONTENT_CAUSES)
    if cause is not None:
        return cause
    if family is Family.RUNTIME:
        return "render_error"
    if family is Family.SCRIPT:
        return "script_error"
    return _first_cause(text, _WARNING_CAUSES) or "other_warning"


_FONT_LIST = re.compile(r"\bfonts?\b[^:\"“”„'‘’«»]*:\s*(?P<names>[^:]+)$", _FLAGS)
_FONT_QUOTED = re.compile(
    r"\bfonts?\b\s*(?:named\s+)?[\"“„'‘«]\s*(?P<name>[^\"“”„'‘’«»]{1,120}?)\s*[\"”“'’»]", _FLAGS
)


def _clean_font_name(name: str) -> str:
    return name.strip().strip("\"“”„'‘’«»").strip().rstrip(".").strip()


def _split_font_list(names: str) -> list[str]:
    found = []
    for piece in re.split(r"[,;]", names):
        name = _clean_font_name(piece)
        if name and len(name) <= 120:
            found.append(name)
    return found


def extract_font_names(parts: list[str]) -> list[str]:
    """Return the font names that a missing-fonts message lists, in order, without repeats.

    Recognised shapes: ``fonts: A, B`` after the word font, ``font "A"`` with any
    quotes, and continuation lines under a missing-fonts line that carry only names.
    """
    names: list[str] = []
    head_mentions_fonts = bool(parts) and _MISSING_FONTS.search(parts[0]) is not None
    for index, part in enumerate(parts):
        cause = part
        first = _FIRST_ERROR.search(part)
        if first is not None:
            cause = first.group("cause")
        listed = _FONT_LIST.search(cause)
        quoted = _FONT_QUOTED.findall(cause)
        if listed is not None:
            names.extend(_split_font_list(listed.group("names")))
        elif quoted:
            names.extend(_clean_font_name(name) for name in quoted)
        elif index > 0 and head_mentions_fonts and ":" not in part and first is None:
            names.extend(_split_font_list(part))
    return list(dict.fromkeys(name for name in names if name))
