"""Splitting an aerender byte stream into lines, and decoding them leniently.

aerender writes in the console code page (OEM or ANSI on Windows), not reliably
UTF-8, and a render-log file may be UTF-16 with a byte-order mark. Reads split
lines anywhere, including between the CR and LF of a CRLF.
"""

import codecs
import logging
import re
from collections.abc import Callable

logger = logging.getLogger(__name__)

_LINE_END = re.compile(rb"\r\n|\r|\n")

# A line longer than this is passed on in pieces, so a stream without line
# ends cannot grow the buffer without bound.
MAX_LINE_BYTES = 64 * 1024

# Code pages tried for a line that is not UTF-8: Windows ANSI Western, the OEM
# console code page of Western Europe, and Japanese Shift-JIS.
LEGACY_CODECS = ("cp1252", "cp850", "cp932")

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class LineSplitter:
    """Byte lines from chunks of a stream that ends lines with LF, CRLF or a lone CR."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan_from = 0
        self._checked_bom = False
        self._utf16: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Add a chunk and return the lines it completes, without their line ends."""
        if not self._checked_bom:
            self._buffer += data
            if len(self._buffer) < 2:
                return []
            self._checked_bom = True
            data = bytes(self._buffer)
            self._buffer.clear()
            if data[:2] in _UTF16_BOMS:
                self._utf16 = codecs.getincrementaldecoder("utf-16")(errors="replace")

        # UTF-16 is re-encoded as UTF-8, so splitting and decoding work on one byte stream.
        if self._utf16 is not None:
            data = self._utf16.decode(data).encode("utf-8")
        self._buffer += data
        return self._split(final=False)

    def close(self) -> list[bytes]:
        """Return the trailing line that has no line end, if there is one."""
        self._checked_bom = True
        if self._utf16 is not None:
            self._buffer += self._utf16.decode(b"", final=True).encode("utf-8")
        return self._split(final=True)

    def _split(self, final: bool) -> list[bytes]:
        buffer = self._buffer
        lines = []
        start = 0
        position = self._scan_from
        while True:
            match = _LINE_END.search(buffer, position)
            if match is None:
                position = len(buffer)
                break
            # A CR at the very end may be the first half of a CRLF still to come.
            if match.group() == b"\r" and match.end() == len(buffer) and not final:
                position = match.start()
                break
            lines.append(bytes(buffer[start : match.start()]))
            start = position = match.end()

        if final and start < len(buffer):
            lines.append(bytes(buffer[start:]))
            start = position = len(buffer)
        del buffer[:start]
        self._scan_from = position - start

        if len(buffer) > MAX_LINE_BYTES:
            lines.append(bytes(buffer))
            buffer.clear()
            self._scan_from = 0
        return lines


class LineDecoder:
    """Decodes byte lines as UTF-8, else in a legacy code page picked from the log itself.

    A line that is not UTF-8 is decoded in each legacy code page, and the first
    one in which ``recognizes`` accepts the text is kept for the rest of the log.
    Until one is recognised, cp1252 is used. Undecodable bytes become U+FFFD.
    """

    def __init__(self, recognizes: Callable[[str], bool]) -> None:
        self._recognizes = recognizes
        self._legacy_codec: str | None = None

    def decode(self, raw: bytes) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = self._decode_legacy(raw)
        return text.lstrip("\ufeff")

    def _decode_legacy(self, raw: bytes) -> str:
        if self._legacy_codec is not None:
            return raw.decode(self._legacy_codec, errors="replace")
        for codec in LEGACY_CODECS:
            text = raw.decode(codec, errors="replace")
            if self._recognizes(text):
                logger.debug("aerender log decoded as %s", codec)
                self._legacy_codec = codec
                return text
        return raw.decode(LEGACY_CODECS[0], errors="replace")
