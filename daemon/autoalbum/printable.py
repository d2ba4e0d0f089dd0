"""Names shown to people, in a terminal, a log line or the report: any file name, readably."""

from __future__ import annotations

import re
import time

# Control characters (C0, DEL, C1) would break a line or drive the terminal; lone surrogates are
# the undecodable bytes of a file name (PEP 383) and can't be written as UTF-8.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNPRINTABLE_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte the file name really holds
    if code > 0xFF:
        return f"\\u{code:04x}"
    return _NAMED.get(char, f"\\x{code:02x}")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` (a path, a label) on one line, as valid Unicode: undecodable bytes as \\xe9, the
    way Python writes bytes, and control characters such as a newline as \\n. With `lines`,
    for a message of several lines, newlines and tabs stay."""
    return (_UNPRINTABLE_IN_LINES if lines else _UNPRINTABLE).sub(_escape, str(text))


def moment(seconds: float) -> str:
    """A moment (seconds since the epoch) as local `2026-12-07 09:12`."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def duration(seconds: float) -> str:
    """A span of time as `12 min`, or `3.5 h` from two hours on."""
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
