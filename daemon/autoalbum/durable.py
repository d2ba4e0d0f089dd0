"""Durable writes: a file replaced whole by a rename, and the folder fsync'd after renames."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


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


def write_text_atomically(path: Path, text: str, errors: str = "strict") -> None:
    """Write via a temporary file, fsync and a rename, so readers see the old or the new text
    whole; open() rather than mkstemp keeps the umask. `errors` as for str.encode."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("x", encoding="utf-8", errors=errors) as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
