"""A file's content identity: a quick key from its size, head and tail, and a full hash.

The quick key reads two small pieces of a file; two files with equal full hashes have equal
quick keys, so a quick key no other file has proves the content new before it is read whole.
Both come from the same bytes when the whole file is read anyway (to decode it).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

QUICK_SPAN = 64 << 10  # bytes hashed at each end of a file for its quick key
_BLOCK = 1 << 20
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # never block on a FIFO


@dataclass(frozen=True)
class Fingerprint:
    quick: str  # size and BLAKE2b of the first and last QUICK_SPAN bytes
    full: str  # BLAKE2b (128 bits) of the whole content


def _quick(size: int, head: bytes, tail: bytes) -> str:
    digest = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
    digest.update(head)
    digest.update(tail)
    return digest.hexdigest()


def quick_key(path: Path) -> str | None:
    """The quick key of the file at `path`, from two reads of QUICK_SPAN bytes at most; None
    for anything but a regular file (the decoder says what it is)."""
    fd = os.open(path, _READ)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as stream:
        size = info.st_size
        head = stream.read(QUICK_SPAN)
        if size <= 2 * QUICK_SPAN:  # head and tail meet: read the rest, not the tail again
            return _quick(size, head, (head + stream.read())[-QUICK_SPAN:])
        stream.seek(size - QUICK_SPAN)
        return _quick(size, head, stream.read(QUICK_SPAN))


def fingerprint_bytes(data: bytes) -> Fingerprint:
    full = hashlib.blake2b(data, digest_size=16).hexdigest()
    return Fingerprint(_quick(len(data), data[:QUICK_SPAN], data[-QUICK_SPAN:]), full)


def fingerprint_file(path: Path) -> Fingerprint:
    with os.fdopen(os.open(path, _READ), "rb") as stream:
        return fingerprint_stream(stream)


def fingerprint_stream(stream: IO[bytes]) -> Fingerprint:
    """Both keys of what `stream` holds from its start, read once in 1 MiB blocks."""
    full = hashlib.blake2b(digest_size=16)
    stream.seek(0)
    head = last = b""
    size = 0
    while block := stream.read(_BLOCK):
        if not size:
            head = block[:QUICK_SPAN]
        full.update(block)
        size += len(block)
        last = block[-QUICK_SPAN:] if len(block) >= QUICK_SPAN else (last + block)[-QUICK_SPAN:]
    return Fingerprint(_quick(size, head, last), full.hexdigest())
