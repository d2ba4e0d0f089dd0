"""The `corrections` table: what the user told autoalbum about photos and albums, by the command
line or in a file browser, in the order they said it; an undone correction stays, marked."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from autoalbum.library.records import CorrectionKind, CorrectionRecord
from autoalbum.library.tables import Table, to_blob


class Corrections(Table):
    def add_correction(
        self,
        kind: CorrectionKind,
        album_id: int,
        *,
        content_id: int | None = None,
        target_id: int | None = None,
        parent: int | None = None,
        origin: str = "cli",
    ) -> int:
        cursor = self.db.execute(
            """INSERT INTO corrections
               (kind, content_id, album_id, target_id, parent, origin, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (kind.value, content_id, album_id, target_id, parent, origin, time.time()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def corrections(self, *, active_only: bool = True) -> list[CorrectionRecord]:
        """The corrections in the order they were made; undone ones too unless `active_only`."""
        where = "WHERE undone_at IS NULL" if active_only else ""
        rows = self.db.execute(f"SELECT * FROM corrections {where} ORDER BY id")
        return [
            CorrectionRecord(
                row["id"],
                CorrectionKind(row["kind"]),
                row["content_id"],
                row["album_id"],
                row["target_id"],
                row["parent"],
                row["origin"],
                row["created_at"],
                row["undone_at"],
            )
            for row in rows
        ]

    def correction(self, correction_id: int) -> CorrectionRecord | None:
        found = [c for c in self.corrections(active_only=False) if c.id == correction_id]
        return found[0] if found else None

    def undo_corrections(self, ids: Sequence[int]) -> None:
        self.db.executemany(
            "UPDATE corrections SET undone_at = ? WHERE id = ? AND undone_at IS NULL",
            ((time.time(), i) for i in ids),
        )

    def set_user_made(self, album_id: int, user_made: bool, folder: str | None) -> None:
        self.db.execute(
            "UPDATE albums SET user_made = ?, folder = ? WHERE id = ?",
            (int(user_made), folder, album_id),
        )

    def set_centroids(self, centres: Mapping[int, NDArray[np.float32]]) -> None:
        """Give albums new centres, as learned from their members."""
        self.db.executemany(
            "UPDATE albums SET centroid = ?, updated_at = ? WHERE id = ?",
            ((to_blob(c), time.time(), a) for a, c in centres.items()),
        )
