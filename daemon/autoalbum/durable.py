"""Durable writes: a file replaced whole by a rename, and the folder fsync'd after renames."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

NAME_MAX = 255  # bytes in one file name on Linux's file systems (ext4, btrfs, XFS)


def fsync_folder(folder: Path) -> None:
    """Make renames inside `folder` durable; a no-op where folders can't be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def _temp_name(name: str) -> str:
    """`.name.3f2a9c1d.tmp`, the name cut (by bytes) so that a name that fits fits here too."""
    tag = f".{secrets.token_hex(4)}.tmp"
    return "." + os.fsdecode(os.fsencode(name)[: NAME_MAX - 1 - len(tag)]) + tag


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary stream whose bytes replace `path` whole when the block ends: a temporary
    file beside it, fsync, then a rename, so readers see the old or the new file, never half.
    On an error the old file stays and the temporary one goes. open() rather than mkstemp
    keeps the umask."""
    temp = path.with_name(_temp_name(path.name))
    try:
        with temp.open("xb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = os.fspath(temp)  # a full disk names the folder it filled
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Replace `path` whole with `text` in UTF-8 (see `replacing`)."""
    with replacing(path) as stream:
        stream.write(text.encode("utf-8"))


def json_text(
    value: object, *, indent: int | None = None, default: Callable[[Any], object] | None = None
) -> str:
    """JSON of `value` that survives any file name: readable UTF-8 where names are UTF-8, and a
    name's undecodable bytes (lone surrogates in Python's str, PEP 383) as JSON \\udcXX escapes,
    which json.loads turns back into the same str, and os.fsencode into the original bytes.
    `default` as for json.dumps."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=default)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_json_atomically(path: Path, value: object, *, indent: int | None = None) -> None:
    """Replace `path` whole with the JSON of `value` (see `json_text` and `replacing`)."""
    write_text_atomically(path, json_text(value, indent=indent) + "\n")
