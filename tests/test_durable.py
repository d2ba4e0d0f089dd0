"""Durable writes: a file replaced whole, and JSON that keeps any file name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoalbum.durable import json_text, write_json_atomically, write_text_atomically


def test_json_keeps_undecodable_bytes_and_shows_the_rest_as_written() -> None:
    value = {"path": os.fsdecode(b"/p/caf\xe9/\xff.jpg"), "label": "日本語\n"}
    text = json_text(value)
    text.encode("utf-8")  # writable as UTF-8
    assert "日本語" in text and "\\udce9" in text
    assert os.fsencode(json.loads(text)["path"]) == b"/p/caf\xe9/\xff.jpg"


@pytest.mark.parametrize("name", ["a" * 251 + ".xmp", "é" * 126 + ".xy", "index.json"])
def test_any_name_that_fits_can_be_replaced(tmp_path: Path, name: str) -> None:
    """The temporary file beside it is cut to fit too (a 250-byte name used to fail)."""
    path = tmp_path / name
    write_text_atomically(path, "old")
    write_json_atomically(path, {"new": True})
    assert json.loads(path.read_text()) == {"new": True}
    assert os.listdir(tmp_path) == [name]
