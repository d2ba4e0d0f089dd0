"""The catalog's tables, one module each: the queries of one table and the rows it holds.

`Catalog` (library/catalog.py) is made of them; each is a mixin on the catalog's connection.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class Table:
    """What every table's queries share: the catalog's one connection, and its `meta` table of
    settings (the model's dimension, the highest album number ever used, ...)."""

    db: sqlite3.Connection

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def per_group(
        self, query: str, group_ids: Collection[int] | None, *params: object
    ) -> list[Any]:
        """The rows of a query grouped by a group's id, its `{}` the test on that id: for
        every group, or only for `group_ids`, read one group at a time by its index."""
        if group_ids is None:
            return self.db.execute(query.format("IS NOT NULL"), params).fetchall()
        return [
            row
            for group in group_ids
            for row in self.db.execute(query.format("= ?"), (group, *params))
        ]

    def count_up(self, key: str) -> str:
        """One more on the counter `key` in meta (0 when unset); the new count."""
        count = str(int(self.meta(key) or 0) + 1)
        self.set_meta(key, count)
        return count

    def add_numbered(self, table: str, name: str | None) -> tuple[int, int]:
        """A new row of a table of numbered groups (persons, events) under the next number
        never used (a number stays its group's folder's); returns its id and number."""
        key = f"max_{table}_number"
        used = int(self.meta(key) or 0)
        row = self.db.execute(f"SELECT MAX(number) FROM {table}").fetchone()
        number = max(used, row[0] or 0) + 1
        self.set_meta(key, str(number))
        cursor = self.db.execute(
            f"INSERT INTO {table} (number, name, created_at) VALUES (?, ?, ?)",
            (number, name, time.time()),
        )
        return int(cursor.lastrowid or 0), number

    def delete_meta(self, *keys: str) -> None:
        self.db.executemany("DELETE FROM meta WHERE key = ?", ((key,) for key in keys))


def to_blob(vector: NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blob(blob: bytes) -> NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


def maybe_blob(vector: NDArray[np.float32] | None) -> bytes | None:
    return None if vector is None else to_blob(vector)


_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def packed_digest(digest: str | bytes | None) -> bytes | str | None:
    """A content hash or quick key as the catalog stores it: its bytes where it is lowercase
    hex, as every digest autoalbum makes is (16 bytes, not 32 characters twice over: in the
    row and in its index); any other text, or bytes stored already, as it is."""
    if isinstance(digest, str) and _HEX.fullmatch(digest):
        return bytes.fromhex(digest)
    return digest


def digest_of(value: bytes | str | None) -> str | None:
    """The digest a stored value stands for (`packed_digest` undone)."""
    return value.hex() if isinstance(value, bytes) else value


def stored(path: Path) -> bytes:
    """A path as the catalog stores it: its bytes, undecodable ones included (PEP 383)."""
    return os.fsencode(path)


def path_of(stored: bytes) -> Path:
    return Path(os.fsdecode(stored))
