"""The catalog's tables, as one migration per schema version: SCHEMA_VERSION is the newest.

A migration is SQL, and where the data must change shape, a conversion in Python that runs
after it in the same transaction (CONVERSIONS). Those in COMPACT_AFTER free much of the file:
the catalog is vacuumed once they committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

from autoalbum.library.codes import encode, pack, to_code
from autoalbum.library.tables import packed_digest

SCHEMA_VERSION = 12
# Bytes per page of a catalog (and its kept copy). A vector's code takes about 830 bytes, so a
# 4 KB page held four and left a fifth of itself empty; 16 KB pages hold nineteen: 1.30 KB a
# photo rather than 1.50 at a million photos. A catalog of 4 KB pages is rewritten once (VACUUM:
# 17 s at a million photos) when it is opened with no other connection to it.
PAGE_SIZE = 16_384

# Each migration is history, kept as it ran: its status values are records.Status's of the day.

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        name TEXT NOT NULL,
        user_named INTEGER NOT NULL DEFAULT 0,
        centroid BLOB,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE contents (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        vector BLOB NOT NULL,
        top_class INTEGER,
        album_id INTEGER REFERENCES albums(id) ON DELETE SET NULL,
        distance REAL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'missing')),
        reason TEXT,
        content_id INTEGER REFERENCES contents(id),
        updated_at REAL NOT NULL
    );
    CREATE INDEX files_content ON files(content_id);
    CREATE INDEX files_status ON files(status);
    CREATE INDEX contents_album ON contents(album_id);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at REAL NOT NULL,
        seconds REAL NOT NULL,
        images INTEGER NOT NULL,
        k INTEGER,
        score REAL,
        method TEXT
    );
    """,  # Paths become the bytes the kernel gave (os.fsencode), so names that are not UTF-8 fit;
    # the old paths were all UTF-8 text, which CAST turns into those very bytes.
    2: """
    CREATE TABLE files_v2 (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'missing')),
        reason TEXT,
        content_id INTEGER REFERENCES contents(id),
        updated_at REAL NOT NULL
    );
    INSERT INTO files_v2
        SELECT id, CAST(path AS BLOB), size, mtime_ns, hash, status, reason, content_id,
               updated_at
        FROM files;
    DROP TABLE files;
    ALTER TABLE files_v2 RENAME TO files;
    CREATE INDEX files_content ON files(content_id);
    CREATE INDEX files_status ON files(status);
    """,
    # Each content's quick key (embedding/fingerprint.py), so most new files need not be hashed
    # whole before they are decoded; contents from before stay NULL until seen again.
    3: """
    ALTER TABLE contents ADD COLUMN quick TEXT;
    CREATE INDEX contents_quick ON contents(quick);
    """,
    # What each photo's sidecar was last tagged with (library/tagging.py): the album label its
    # keywords name. A photo without a row carries none of autoalbum's keywords.
    4: """
    CREATE TABLE tagged (path BLOB PRIMARY KEY, label TEXT NOT NULL) WITHOUT ROWID;
    """,
    # A model switch under the running daemon (service/switch.py): each content's vector from
    # the model it is switching to, NULL until embedded; meta next_model, next_model_title and
    # next_dim name that model while the switch runs.
    5: """
    ALTER TABLE contents ADD COLUMN next_vector BLOB;
    """,
    # Vectors stored once, as 8-bit codes (library/codes.py), each deflated (codes.pack), in a
    # narrow table of their own: four or five to a 4 KB page, where the wide contents rows fitted
    # two. A switch's next vectors likewise, appended in id order. The float16 columns are
    # converted (recode_vectors) and dropped.
    6: """
    CREATE TABLE vectors (
        content_id INTEGER PRIMARY KEY REFERENCES contents(id) ON DELETE CASCADE,
        code BLOB NOT NULL
    );
    CREATE TABLE next_vectors (
        content_id INTEGER PRIMARY KEY REFERENCES contents(id) ON DELETE CASCADE,
        code BLOB NOT NULL
    );
    """,
    # The user's corrections (library/corrections.py): photos pinned to an album or excluded from
    # one, albums merged, retired or made from examples; each can be undone. Albums made by the
    # user are kept whatever the clustering says; `folder` is a folder name the user chose.
    7: """
    CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('pin', 'exclude', 'merge', 'retire', 'album')),
        content_id INTEGER REFERENCES contents(id) ON DELETE CASCADE,
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        target_id INTEGER REFERENCES albums(id) ON DELETE CASCADE,
        parent INTEGER REFERENCES corrections(id) ON DELETE CASCADE,
        origin TEXT NOT NULL,
        created_at REAL NOT NULL,
        undone_at REAL
    );
    CREATE INDEX corrections_content ON corrections(content_id);
    ALTER TABLE albums ADD COLUMN user_made INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE albums ADD COLUMN folder TEXT;
    """,
    # People (faces/): each content's faces, found by the face model that meta face_model
    # names, each a box (x0, y0 its left and top, x1, y1 its right and bottom, in [0, 1] of the
    # upright photo). contents.faces is how many were found, NULL until the content was looked
    # at (a library from before is caught up in the background), and width/height the photo's
    # upright size in pixels (face regions in XMP are relative to it). Each face's descriptor is
    # 128 signed bytes (faces/codes.py); person_id is its person, NULL while it belongs to none.
    # Persons keep a number (their folder's, `Person 07`) and the name the user gave them; a
    # person whose folder the user deleted is hidden. The user's word on faces (the People
    # tree's gestures): `pinned`, the person a face is (kept by every grouping), and
    # face_exclusions, persons a face is not.
    # tagged.persons: the named persons (with their boxes) a photo's sidecar was last tagged with.
    8: """
    ALTER TABLE tagged ADD COLUMN persons TEXT;
    ALTER TABLE contents ADD COLUMN faces INTEGER;
    ALTER TABLE contents ADD COLUMN width INTEGER;
    ALTER TABLE contents ADD COLUMN height INTEGER;
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        name TEXT,
        hidden INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
        x0 REAL NOT NULL,
        y0 REAL NOT NULL,
        x1 REAL NOT NULL,
        y1 REAL NOT NULL,
        side INTEGER NOT NULL,
        score REAL NOT NULL,
        descriptor BLOB NOT NULL,
        person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
        pinned INTEGER REFERENCES persons(id) ON DELETE SET NULL
    );
    CREATE TABLE face_exclusions (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    ) WITHOUT ROWID;
    CREATE INDEX faces_content ON faces(content_id);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE INDEX contents_unseen_faces ON contents(id) WHERE faces IS NULL;
    CREATE INDEX tagged_persons ON tagged(path) WHERE persons IS NOT NULL;
    """,
    # Events (events/): when, where and with which camera each content was taken
    # (embedding/capture.py): `taken` the camera's wall-clock time in seconds as if UTC,
    # `offset` local time minus UTC in minutes (NULL: unknown), `taken_from` where the time
    # came from (exif, xmp, mtime, none; NULL: not read yet, for the catch-up), the GPS
    # position in degrees. Each content's event; events keep a number and the user's name.
    9: """
    ALTER TABLE contents ADD COLUMN taken REAL;
    ALTER TABLE contents ADD COLUMN offset INTEGER;
    ALTER TABLE contents ADD COLUMN taken_from TEXT;
    ALTER TABLE contents ADD COLUMN latitude REAL;
    ALTER TABLE contents ADD COLUMN longitude REAL;
    ALTER TABLE contents ADD COLUMN make TEXT;
    ALTER TABLE contents ADD COLUMN model TEXT;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        name TEXT,
        created_at REAL NOT NULL
    );
    ALTER TABLE contents ADD COLUMN event_id INTEGER REFERENCES events(id) ON DELETE SET NULL;
    CREATE INDEX contents_unread_capture ON contents(id) WHERE taken_from IS NULL;
    CREATE INDEX contents_event ON contents(event_id);
    """,
    # Nested albums (clustering/nesting.py): a sub-album's parent album; NULL at the top.
    10: """
    ALTER TABLE albums ADD COLUMN parent_id INTEGER REFERENCES albums(id) ON DELETE SET NULL;
    """,
    # The user's word on events (the Events tree's gestures, library/event_gestures.py):
    # `event_pinned`, the event a photo belongs to (kept by every grouping), event_exclusions,
    # events a photo is not in; an event whose folder the user deleted is hidden. One the user
    # made (a new folder) or named is shown whatever its size. An event's automatic name is kept
    # with the span of its photos it was made for. Dated photos by their time, so that arrivals
    # regroup only the events around them (timeline.py).
    11: """
    ALTER TABLE contents ADD COLUMN event_pinned INTEGER REFERENCES events(id) ON DELETE SET NULL;
    ALTER TABLE events ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE event_exclusions (
        content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        PRIMARY KEY (content_id, event_id)
    ) WITHOUT ROWID;
    CREATE INDEX contents_event_pinned ON contents(event_pinned) WHERE event_pinned IS NOT NULL;
    ALTER TABLE events ADD COLUMN auto_name TEXT;
    ALTER TABLE events ADD COLUMN auto_span TEXT;
    CREATE INDEX contents_dated ON contents(taken) WHERE taken_from IN ('exif', 'xmp');
    """,
    # Content hashes and quick keys become their 16 bytes (pack_digests below).
    12: "",
}

RECODE_CHUNK = 4_096  # contents converted at a time


def _codes(blobs: list[bytes]) -> list[bytes]:
    """Packed codes of float16 blobs: in one go when they have one length, as they always do."""
    if len({len(blob) for blob in blobs}) == 1:
        matrix = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), -1)
        return [pack(code.tobytes()) for code in encode(matrix.astype(np.float32))]
    return [to_code(np.frombuffer(blob, dtype="<f2").astype(np.float32)) for blob in blobs]


def recode_vectors(db: sqlite3.Connection) -> None:
    """Schema 6: each float16 vector and next vector of `contents` becomes a packed code in
    `vectors` and `next_vectors`; the old columns go."""
    for column, table in (("vector", "vectors"), ("next_vector", "next_vectors")):
        cursor = db.execute(
            f"SELECT id, {column} FROM contents WHERE {column} IS NOT NULL ORDER BY id"
        )
        while rows := cursor.fetchmany(RECODE_CHUNK):
            codes = _codes([blob for _, blob in rows])
            db.executemany(
                f"INSERT INTO {table} (content_id, code) VALUES (?, ?)",
                ((row[0], code) for row, code in zip(rows, codes, strict=True)),
            )
    db.execute("ALTER TABLE contents DROP COLUMN vector")
    db.execute("ALTER TABLE contents DROP COLUMN next_vector")


def pack_digests(db: sqlite3.Connection) -> None:
    """Schema 12: each content hash and quick key stored as its bytes where it is lowercase
    hex (tables.packed_digest): 16 bytes, not 32 characters, in the row and in its index."""
    db.create_function("packed_digest", 1, packed_digest, deterministic=True)
    db.execute("UPDATE contents SET hash = packed_digest(hash), quick = packed_digest(quick)")
    db.execute("UPDATE files SET hash = packed_digest(hash) WHERE hash IS NOT NULL")


CONVERSIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    6: recode_vectors,
    12: pack_digests,
}
COMPACT_AFTER = {6, 12}  # the float16 vectors took most of the file; the hex digests, 80 B a photo
