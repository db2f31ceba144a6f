"""Tests for agent.aerender_log: frames, totals, compositions, line handling and decoding.

Every log excerpt here was written for these tests in the shapes aerender prints.
"""

from __future__ import annotations

import codecs

import pytest

from agent.aerender_log import AerenderLog, CompositionRun, classify_exit


def lines(*texts: str, end: str = "\r\n") -> bytes:
    return "".join(text + end for text in texts).encode("utf-8")


def parse(data: bytes, frames_expected: int | None = None) -> AerenderLog:
    log = AerenderLog(frames_expected=frames_expected)
    log.feed(data)
    log.close()
    return log


ENGLISH = lines(
    "aerender version 25.6x101",
    "PROGRESS: Launching After Effects...",
    "PROGRESS: ...After Effects successfully launched",
    "PROGRESS: 3/2/2026 9:41:07 AM: Starting composition Main Comp.",
    "PROGRESS: ",
    "PROGRESS:  Render Settings: Best Settings",
    "PROGRESS:  Quality: Best",
    "PROGRESS:  Time Span: Custom",
    "PROGRESS:  Start: 0:00:00:00",
    "PROGRESS:  End: 0:00:09:29",
    "PROGRESS:  Duration: 0:00:10:00",
    "PROGRESS:  Frame Rate: 30.00 (comp)",
    "PROGRESS:  Output Module: H.264 - Match Render Settings - 15 Mbps",
    "PROGRESS:      Output To: C:\\r\\out.mp4",
    "PROGRESS: ",
    "PROGRESS:  0:00:00:00 (1): 0 Seconds",
    "PROGRESS:  0:00:00:01 (2): 0 Seconds",
    "PROGRESS:  0:00:00:02 (3): 1 Seconds",
)
ENGLISH_END = lines(
    "PROGRESS: 3/2/2026 9:41:51 AM: Finished composition Main Comp.",
    "PROGRESS: ",
    "PROGRESS: Total Time Elapsed: 44 Seconds",
)


def test_english_log_counts_frames() -> None:
    log = parse(ENGLISH)
    assert log.aerender_version == "25.6x101"
    assert log.launched
    assert log.compositions == [CompositionRun("Main Comp", started=True, finished=False)]
    assert log.saw_frame_lines
    assert log.frames_done == 3
    assert log.frames_total == 300
    assert log.percent == pytest.approx(1.0)
    assert not log.finished
    assert log.errors == []
    assert log.warnings == []


def test_english_log_finished_is_complete() -> None:
    log = parse(ENGLISH + ENGLISH_END)
    assert log.finished
    assert log.compositions == [CompositionRun("Main Comp", started=True, finished=True)]
    assert log.percent == 100.0
    assert log.frames_done == 3


def test_german_headers_and_decimal_comma() -> None:
    log = parse(
        lines(
            "PROGRESS: 02.03.2026 09:41:07: Starting composition Titel.",
            "PROGRESS:  Anfang: 0:00:00:00",
            "PROGRESS:  Ende: 0:00:03:24",
            "PROGRESS:  Dauer: 0:00:04:00",
            "PROGRESS:  Bildrate: 25,00 (Komp.)",
            "PROGRESS:  0:00:00:00 (1): 0 Sekunden",
            "PROGRESS:  0:00:00:01 (2): 0 Sekunden",
        )
    )
    assert log.frames_total == 100
    assert log.frames_done == 2
    assert log.percent == pytest.approx(2.0)
    assert log.compositions[0].name == "Titel"


def test_german_framerate_label() -> None:
    log = parse(lines("PROGRESS:  Dauer: 0:00:02:00", "PROGRESS:  Framerate: 25,00 (Komp.)"))
    assert log.frames_total == 50


def test_french_headers() -> None:
    log = parse(
        lines(
            "PROGRESS: 02/03/2026 09:41:07 : Starting composition « Générique ».",
            "PROGRESS:  Début: 0:00:00:00",
            "PROGRESS:  Fin: 0:00:01:23",
            "PROGRESS:  Durée: 0:00:02:00",
            "PROGRESS:  Fréquence d’images: 24,00 (comp)",
            "PROGRESS:  0:00:00:00 (1): 0 secondes",
        )
    )
    assert log.frames_total == 48
    assert log.frames_done == 1
    assert log.compositions[0].name == "Générique"


def test_spanish_italian_japanese_headers() -> None:
    spanish = parse(
        lines("PROGRESS:  Duración: 0:00:01:00", "PROGRESS:  Velocidad de fotogramas: 30,00")
    )
    italian = parse(
        lines("PROGRESS:  Durata: 0:00:01:00", "PROGRESS:  Frequenza fotogrammi: 25,00")
    )
    japanese = parse(
        lines("PROGRESS:  デュレーション: 0:00:02:00", "PROGRESS:  フレームレート: 24.00")
    )
    assert spanish.frames_total == 30
    assert italian.frames_total == 25
    assert japanese.frames_total == 48


def test_unknown_language_uses_header_order() -> None:
    # Start, End and Duration are the header's only time fields, in that order.
    log = parse(
        lines(
            "PROGRESS:  Início: 0:00:00:00",
            "PROGRESS:  Fim: 0:00:01:29",
            "PROGRESS:  Duração: 0:00:02:00",
            "PROGRESS:  Taxa de quadros: 30,00 (comp)",
        )
    )
    assert log.frames_total == 60


def test_start_and_end_without_duration() -> None:
    log = parse(
        lines(
            "PROGRESS:  Start: 0:00:01:00",
            "PROGRESS:  End: 0:00:01:24",
            "PROGRESS:  Frame Rate: 25",
        )
    )
    assert log.frames_total == 25


@pytest.mark.parametrize(
    ("duration", "rate", "frames"),
    [
        ("0;00;10;00", "29.97", 300),
        ("0;01;00;02", "29.97", 1800),
        ("0;10;00;00", "29.97", 17982),
        ("0;01;00;04", "59.94", 3600),
        ("0:01:00:00", "29.97", 1800),
        ("0:00:01:00", "23.976", 24),
    ],
)
def test_duration_timecode_frames(duration: str, rate: str, frames: int) -> None:
    log = parse(lines(f"PROGRESS:  Duration: {duration}", f"PROGRESS:  Frame Rate: {rate} (comp)"))
    assert log.frames_total == frames


def test_drop_frame_frame_lines() -> None:
    log = parse(
        lines(
            "PROGRESS:  Duration: 0;00;41;18",
            "PROGRESS:  Frame Rate: 29.97 (comp)",
            "PROGRESS:  0;00;41;16 (1247): 1 Seconds",
            "PROGRESS:  0;00;41;17 (1248): 1 Seconds",
        )
    )
    assert log.saw_frame_lines
    assert log.frames_done == 2
    assert log.frames_total == 1248


def test_field_render_counts_frames() -> None:
    log = parse(
        lines(
            "PROGRESS:  0:00:00:00 (1U): 0 Seconds",
            "PROGRESS:  0:00:00:00 (1L): 0 Seconds",
            "PROGRESS:  0:00:00:01 (2U): 0 Seconds",
            "PROGRESS:  0:00:00:01 (2L): 0 Seconds",
            "PROGRESS:  0:00:00:02 (3L): 0 Seconds",
        )
    )
    assert log.frames_done == 3


def test_frames_display_mode() -> None:
    log = parse(
        lines(
            "PROGRESS:  Start: 0",
            "PROGRESS:  End: 99",
            "PROGRESS:  Duration: 100",
            "PROGRESS:  Frame Rate: 25.00 (comp)",
            "PROGRESS:  0 (1): 0 Seconds",
            "PROGRESS:  1 (2): 0 Seconds",
            "PROGRESS:  2 (3): 0 Seconds",
            "PROGRESS:  3 (4): 0 Seconds",
        )
    )
    assert log.frames_total == 100
    assert log.frames_done == 4
    assert log.percent == pytest.approx(4.0)


def test_feet_and_frames_display() -> None:
    log = parse(lines("PROGRESS:  Duration: 6+4", "PROGRESS:  0+3 (4): 0 Seconds"))
    assert log.frames_total == 6 * 16 + 4
    assert log.frames_done == 1


def test_multi_frame_rendering_counts_distinct() -> None:
    order = [3, 1, 2, 2, 5, 4, 5, 1]
    log = parse(lines(*(f"PROGRESS:  0:00:00:{n - 1:02d} ({n}): 0 Seconds" for n in order)), 10)
    assert log.frames_done == 5
    assert log.percent == pytest.approx(50.0)


def test_frames_expected_overrides_header() -> None:
    log = parse(ENGLISH, frames_expected=12)
    assert log.frames_total == 12
    assert log.percent == pytest.approx(25.0)


def test_no_frame_lines() -> None:
    log = parse(
        lines(
            "PROGRESS: 3/2/2026 9:41:07 AM: Starting composition Main.",
            "PROGRESS:  Duration: 0:00:10:00",
            "PROGRESS:  Frame Rate: 30.00 (comp)",
        )
    )
    assert not log.saw_frame_lines
    assert log.frames_done == 0
    assert log.frames_total == 300
    assert log.percent is None


def test_no_header_and_no_frames_expected() -> None:
    log = parse(lines("PROGRESS:  0:00:00:00 (1): 0 Seconds"))
    assert log.frames_total is None
    assert log.percent is None
    assert log.frames_done == 1


def test_two_compositions_count_separately() -> None:
    def comp(name: str) -> list[str]:
        return [
            f"PROGRESS: 3/2/2026 9:41:07 AM: Starting composition {name}.",
            "PROGRESS:  Duration: 0:00:00:04",
            "PROGRESS:  Frame Rate: 25.00 (comp)",
            "PROGRESS:  0:00:00:00 (1): 0 Seconds",
            "PROGRESS:  0:00:00:01 (2): 0 Seconds",
            f"PROGRESS: 3/2/2026 9:41:09 AM: Finished composition {name}.",
        ]

    log = parse(lines(*comp("A"), *comp("B")[:-1]))
    assert [run.name for run in log.compositions] == ["A", "B"]
    assert [run.finished for run in log.compositions] == [True, False]
    assert log.frames_total == 8
    assert log.frames_done == 4
    assert log.finished


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("3/2/2026 9:41:07 AM: Starting composition Main.", "Main"),
        ('3/2/2026 9:41:07 AM: Starting composition "Main".', "Main"),
        ("3/2/2026 9:41:07 AM: Starting composition “Main”.", "Main"),
        ("02.03.2026 09:41:07: Starting composition „Abspann“.", "Abspann"),
        ("3/2/2026 9:41:07 AM CET: Starting composition 'Shot: 010'.", "Shot: 010"),
        ("2026-03-02 09:41:07 +01:00 : Starting composition Scene 1..", "Scene 1."),
        ("3/2/2026 9:41:07 AM: Starting composition  Spaced Name  .", "Spaced Name"),
    ],
)
def test_composition_names(line: str, name: str) -> None:
    log = parse(lines("PROGRESS: " + line))
    assert [run.name for run in log.compositions] == [name]


def test_finished_without_start_line() -> None:
    log = parse(lines("PROGRESS: 3/2/2026 9:41:51 AM: Finished composition Main."))
    assert log.compositions == [CompositionRun("Main", started=False, finished=True)]
    assert log.finished


def test_finished_name_decoded_differently() -> None:
    # The start line comes before the header that reveals the cp850 code page.
    data = "PROGRESS: 3/2/2026: Starting composition Entrée.\r\n".encode("cp850")
    data += "PROGRESS:  Durée: 0:00:02:00\r\n".encode("cp850")
    data += "PROGRESS: 3/2/2026: Finished composition Entrée.\r\n".encode("cp850")
    log = parse(data)
    assert len(log.compositions) == 1
    assert log.compositions[0].finished


def test_version_after_render_lines() -> None:
    log = parse(ENGLISH[ENGLISH.index(b"PROGRESS: Launching") :] + lines("aerender version 24.1x5"))
    assert log.aerender_version == "24.1x5"
    assert log.frames_done == 3


def test_render_log_file_shape() -> None:
    log = parse(
        lines(
            "Rendering started on 3/2/2026 at 9:41:07 AM",
            "  3/2/2026 9:41:07 AM: Starting composition Main.",
            "  Render Settings: Best Settings",
            "  Start: 0:00:00:00",
            "  End: 0:00:00:04",
            "  Duration: 0:00:00:05",
            "  Frame Rate: 25.00 (comp)",
            "  0:00:00:00 (1): 0 Seconds",
            "  0:00:00:01 (2): 0 Seconds",
            "  0:00:00:02 (3): 0 Seconds",
            "  0:00:00:03 (4): 0 Seconds",
            "  0:00:00:04 (5): 0 Seconds",
            "  3/2/2026 9:41:12 AM: Finished composition Main.",
            "  Total Time Elapsed: 5 Seconds",
            "Log closed on 3/2/2026 at 9:41:12 AM",
        )
    )
    assert log.frames_done == 5
    assert log.frames_total == 5
    assert log.finished
    assert log.percent == 100.0
    assert log.errors == []
    assert log.warnings == []


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"])
def test_line_endings(end: str) -> None:
    log = parse(
        lines(
            "PROGRESS:  0:00:00:00 (1): 0 Seconds", "PROGRESS:  0:00:00:01 (2): 0 Seconds", end=end
        )
    )
    assert log.frames_done == 2


def test_trailing_line_read_on_close() -> None:
    log = AerenderLog()
    log.feed(b"PROGRESS:  0:00:00:00 (1): 0 Seconds\nPROGRESS:  0:00:00:01 (2): 0 Seconds")
    assert log.frames_done == 1
    log.close()
    assert log.frames_done == 2


SPLIT_SAMPLE = (
    ENGLISH
    + lines(
        "aerender Error: After Effects error: Unable to allocate",
        "enough memory to render frame 4.",
        "WARNING:After Effects warning: Project has missing fonts: Gotham-Bold, Futura PT",
    )
    + "PROGRESS:  Anfang: 0:00:00:00\rPROGRESS:  Durée: x\r\n".encode()
    + "WARNING:After Effects warning: Font “Müll Sans” is missing.".encode("cp1252")
    + b"\n"
    + ENGLISH_END
)


def test_split_at_every_byte_boundary() -> None:
    whole = parse(SPLIT_SAMPLE).summary()
    for cut in range(1, len(SPLIT_SAMPLE)):
        log = AerenderLog()
        log.feed(SPLIT_SAMPLE[:cut])
        log.feed(SPLIT_SAMPLE[cut:])
        log.close()
        assert log.summary() == whole, f"split at byte {cut}"


def test_fed_byte_by_byte() -> None:
    whole = parse(SPLIT_SAMPLE).summary()
    log = AerenderLog()
    for index in range(len(SPLIT_SAMPLE)):
        log.feed(SPLIT_SAMPLE[index : index + 1])
    log.close()
    assert log.summary() == whole
    assert whole["frames_done"] == 3
    assert whole["missing_fonts"] == ["Gotham-Bold", "Futura PT", "Müll Sans"]
    errors = whole["errors"]
    assert isinstance(errors, list)
    assert [error["code"] for error in errors] == ["render_error"]


def test_undecodable_bytes_never_crash() -> None:
    data = (
        b"PROGRESS: 3/2/2026 9:41:07 AM: Starting composition \x93Gr\xfc\xdfe\x94.\r\n"
        b"PROGRESS:  \xff\xfe\x00\x81 Output To: C:\\\x8d\x8f\x90\\a.mov\r\n"
        b"PROGRESS:  0:00:00:00 (1): 0 Sekunden \xe4\r\n"
        b"\xc3\x28\xa0\xa1 garbage\r\n"
    )
    log = parse(data)
    assert log.compositions[0].name == "Grüße"
    assert log.frames_done == 1


def test_oem_code_page_is_detected() -> None:
    # French Windows consoles print in cp850, where "é" is byte 0x82.
    data = "PROGRESS:  Durée: 0:00:02:00\r\nPROGRESS:  Fréquence d'images: 25,00\r\n".encode(
        "cp850"
    )
    data += "PROGRESS: 3/2/2026: Starting composition Entrée.\r\n".encode("cp850")
    log = parse(data)
    assert log.frames_total == 50
    assert log.compositions[0].name == "Entrée"


def test_shift_jis_headers() -> None:
    data = "PROGRESS:  デュレーション: 0:00:01:00\r\nPROGRESS:  フレームレート: 30.00\r\n"
    log = parse(data.encode("cp932"))
    assert log.frames_total == 30


def test_utf16_render_log_file() -> None:
    text = "Rendering started on 3/2/2026\r\n  Duration: 0:00:00:02\r\n  Frame Rate: 25\r\n"
    text += "  0:00:00:00 (1): 0 Seconds\r\n  0:00:00:01 (2): 0 Seconds\r\n"
    for encoding, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)):
        data = bom + text.encode(encoding)
        log = AerenderLog()
        for index in range(len(data)):
            log.feed(data[index : index + 1])
        log.close()
        assert log.frames_done == 2, encoding
        assert log.percent == 100.0, encoding


def test_utf8_bom_is_ignored() -> None:
    log = parse(codecs.BOM_UTF8 + lines("aerender version 25.6x101"))
    assert log.aerender_version == "25.6x101"


def test_long_line_without_end_is_bounded() -> None:
    log = AerenderLog()
    log.feed(b"x" * 300_000)
    log.feed(b"\nPROGRESS:  0:00:00:00 (1): 0 Seconds\n")
    log.close()
    assert log.frames_done == 1


def test_summary_keys() -> None:
    summary = parse(ENGLISH + ENGLISH_END).summary()
    assert summary == {
        "aerender_version": "25.6x101",
        "launched": True,
        "compositions": [{"name": "Main Comp", "started": True, "finished": True}],
        "frames_done": 3,
        "frames_total": 300,
        "percent": 100.0,
        "saw_frame_lines": True,
        "finished": True,
        "errors": [],
        "warnings": [],
        "missing_fonts": [],
    }


@pytest.mark.parametrize(
    ("code", "used_log_flag", "name"),
    [
        (0, False, "ok"),
        (1, False, "application_failure"),
        (2, False, "usage_shown"),
        (3, False, "syntax_error"),
        (5, False, "script_error"),
        (7, False, "not_found"),
        (9, False, "render_error"),
        (11, False, "socket_error"),
        (4, False, "unknown"),
        (0, True, "ok"),
        (1, True, "application_failure"),
        (2, True, "usage_shown"),
        (4, True, "syntax_error"),
        (6, True, "script_error"),
        (8, True, "not_found"),
        (10, True, "render_error"),
        (11, True, "socket_error"),
        (3, True, "unknown"),
        (12, True, "unknown"),
        (42, False, "unknown"),
        (-9, False, "killed_by_signal"),
        (0xC0000005, False, "crashed"),
    ],
)
def test_classify_exit(code: int, used_log_flag: bool, name: str) -> None:
    assert classify_exit(code, used_log_flag) == name
