"""Content fingerprints of real files: the quick key agrees with the full read, at every size."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from autoalbum.embedding.fingerprint import (
    QUICK_SPAN,
    fingerprint_bytes,
    fingerprint_file,
    quick_key,
)


@pytest.mark.parametrize(
    "size",
    [0, 1, QUICK_SPAN - 1, QUICK_SPAN, QUICK_SPAN + 1, 2 * QUICK_SPAN, 2 * QUICK_SPAN + 1,
     (1 << 20) + 100, 3 * (1 << 20) + 7],
)  # fmt: skip
def test_quick_key_is_the_one_a_full_read_gives(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.jpg"
    path.write_bytes(data)
    whole = fingerprint_bytes(data)
    assert quick_key(path) == whole.quick
    assert fingerprint_file(path) == whole


def test_same_ends_different_middle(tmp_path: Path) -> None:
    ends = os.urandom(QUICK_SPAN)
    first = ends + b"a" * 1000 + ends
    second = ends + b"b" * 1000 + ends
    one, other = fingerprint_bytes(first), fingerprint_bytes(second)
    assert one.quick == other.quick and one.full != other.full


def test_size_is_part_of_the_quick_key() -> None:
    assert fingerprint_bytes(b"\0" * 10).quick != fingerprint_bytes(b"\0" * 11).quick


def test_not_a_regular_file_has_no_quick_key(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    keys: list[str | None] = []
    reader = threading.Thread(
        target=lambda: keys.extend(quick_key(tmp_path / n) for n in ("pipe.jpg", "folder.jpg"))
    )
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "a FIFO blocked the quick key"
    assert keys == [None, None]
