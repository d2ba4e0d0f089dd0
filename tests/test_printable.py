"""Names shown to people: any file name on one line, as text a UTF-8 terminal can print."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoalbum.printable import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"/p/IMG_0001.JPG", "/p/IMG_0001.JPG"),
        ("/p/日本語 café.jpg".encode(), "/p/日本語 café.jpg"),
        (b"/p/caf\xe9.jpg", "/p/caf\\xe9.jpg"),  # Latin-1: the byte itself
        (b"/p/\xff\xfe.jpg", "/p/\\xff\\xfe.jpg"),
        (b"/p/line\nbreak\tand\r.jpg", "/p/line\\nbreak\\tand\\r.jpg"),
        (b"/p/\x1b[31mred.jpg", "/p/\\x1b[31mred.jpg"),  # no terminal escape gets through
        (b"/p/-dash.jpg", "/p/-dash.jpg"),
    ],
)
def test_a_path_is_shown_on_one_line(raw: bytes, shown: str) -> None:
    text = printable(Path(os.fsdecode(raw)))
    assert text == shown
    text.encode("utf-8")  # printable anywhere: no lone surrogates left


def test_lines_keep_their_newlines_but_not_undecodable_bytes() -> None:
    message = "2 mistakes:\n\tcaf\udce9.yaml: \x1b[2J\ud800"
    assert printable(message, lines=True) == "2 mistakes:\n\tcaf\\xe9.yaml: \\x1b[2J\\ud800"
