"""The ``aefarm-agent parse-log`` command: read an aerender log and explain why a render failed.

Reads a captured aerender output or an After Effects render-log file and prints
the version, compositions, frames, errors and warnings, as a report for an
operator or, with ``--json``, as one JSON object. Also runnable as
``python -m agent.parse_log_cmd FILE``.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from agent.aerender_log import AerenderLog, Finding
from agent.log_patterns import FINDING_KINDS

logger = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 64 * 1024
EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        message = f"invalid frame count {text!r}: expected a whole number"
        raise argparse.ArgumentTypeError(message) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid frame count {value}: it must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aefarm-agent parse-log",
        description="Read an aerender log (captured output or After Effects render log) and "
        "report frames, compositions, errors and warnings.",
    )
    parser.add_argument("file", type=Path, help="path of the log file")
    parser.add_argument(
        "--frames",
        type=_positive_int,
        metavar="N",
        help="frames the render was expected to produce, used when the log has no Duration "
        "and Frame Rate lines",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def parse_log_file(path: Path, frames: int | None) -> AerenderLog:
    """Parse a whole log file. Raises OSError when it cannot be read."""
    log = AerenderLog()
    with path.open("rb") as stream:
        while chunk := stream.read(_READ_CHUNK_BYTES):
            log.feed(chunk)
    log.close()
    if log.frames_total is None:
        log.frames_expected = frames
    return log


def _verdict(log: AerenderLog) -> str:
    if log.errors:
        first = log.errors[0]
        kind = FINDING_KINDS[first.code]
        if first.retryable:
            next_step = "Another attempt on another agent may succeed."
        else:
            next_step = "Retrying will fail the same way until the job or the farm changes."
        return f"The render failed: {kind.meaning} ({first.code}). {next_step}"

    if log.compositions and all(run.finished for run in log.compositions):
        if log.warnings:
            return f"The render finished with {len(log.warnings)} warning(s); read them below."
        return "The render finished without errors."

    if log.launched and not log.compositions and not log.saw_frame_lines:
        return (
            "After Effects launched but rendered nothing and printed no error. This is a "
            "silent failure, seen with third-party renderer licensing: check the exit code "
            "and the plug-in licences on that box."
        )
    if not (log.launched or log.compositions or log.saw_frame_lines or log.aerender_version):
        return (
            "The log shows no launch, composition or frame: it is empty, cut short, or not "
            "an aerender log."
        )
    return (
        "The log ends before the render finished and shows no error: aerender was still "
        "running, hung, or was stopped."
    )


def _frames_line(log: AerenderLog) -> str:
    total = log.frames_total
    percent = log.percent
    done = f"{log.frames_done} done" if log.saw_frame_lines else "no frame lines in the log"
    if total is None:
        return f"Frames: {done}, total unknown (pass --frames N)"
    if percent is None:
        return f"Frames: {done} of {total}"
    return f"Frames: {log.frames_done} of {total} ({percent:.1f}%)"


def _finding_lines(findings: list[Finding]) -> list[str]:
    lines = []
    for finding in findings:
        kind = FINDING_KINDS[finding.code]
        label = finding.code
        if finding.fatal:
            label += ", retryable" if finding.retryable else ", not retryable"
        lines.append(f"  {label}: {finding.message}")
        lines.append(f"    What to do: {kind.advice}.")
    return lines


def format_report(log: AerenderLog, path: Path) -> str:
    """Return the text report an operator reads."""
    lines = [f"aerender log: {path}", f"Verdict: {_verdict(log)}", ""]
    lines.append(f"aerender version: {log.aerender_version or 'not in the log'}")
    lines.append(f"After Effects launched: {'yes' if log.launched else 'no launch line'}")

    if log.compositions:
        lines.append("Compositions:")
        for run in log.compositions:
            started = "started" if run.started else "start not in the log"
            finished = "finished" if run.finished else "not finished"
            state = f"{started}, {finished}"
            lines.append(f"  {run.name}: {state}")
    else:
        lines.append("Compositions: none started")
    lines.append(_frames_line(log))
    lines.append(f"Finished: {'yes' if log.finished else 'no'}")

    if log.errors:
        lines.append(f"Errors ({len(log.errors)}):")
        lines.extend(_finding_lines(log.errors))
    else:
        lines.append("Errors: none")
    if log.warnings:
        lines.append(f"Warnings ({len(log.warnings)}):")
        lines.extend(_finding_lines(log.warnings))
    else:
        lines.append("Warnings: none")
    if log.missing_fonts:
        lines.append(f"Missing fonts: {', '.join(log.missing_fonts)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Run parse-log. Return 0 once the log is read (whatever it shows), 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    path: Path = args.file

    if not path.exists():
        print(
            f"parse-log: log file not found: {path}. Pass the path of a captured aerender "
            "output or an After Effects render log.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if path.is_dir():
        print(f"parse-log: {path} is a folder, not a log file.", file=sys.stderr)
        return EXIT_USAGE
    try:
        log = parse_log_file(path, args.frames)
    except OSError as error:
        print(f"parse-log: cannot read {path}: {error.strerror or error}.", file=sys.stderr)
        return EXIT_USAGE

    # Composition and font names may not fit the console's code page.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    if args.json:
        print(json.dumps(log.summary(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_report(log, path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
