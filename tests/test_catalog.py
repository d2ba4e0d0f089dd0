"""The SQLite catalog: schema, migrations, records and album numbering."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autoalbum.library import codes
from autoalbum.library.catalog import CATALOG_NAME, Catalog, CatalogError
from autoalbum.library.codes import unpack
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.schema import MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION


def _ok(path: str, content: int | None, digest: str = "h") -> FileRecord:
    return FileRecord(Path(path), 10, 1, digest, Status.OK, None, content)


def test_new_catalog_is_wal_and_current(tmp_path: Path) -> None:
    with Catalog(tmp_path / "state" / "catalog.sqlite") as catalog:
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CatalogError, match="upgrade autoalbum"):
        Catalog(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        Catalog(path)


def test_vectors_round_trip_as_codes(tmp_path: Path) -> None:
    vector = np.random.default_rng(0).normal(size=1280).astype(np.float32)
    vector /= np.linalg.norm(vector)
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        content = catalog.add_content("abc", vector, 285)
        stored = catalog.vectors([content])[0]
        roots = np.sign(vector) * np.sqrt(np.abs(vector))  # codes round square roots
        step = (roots.max() - roots.min()) / codes.LEVELS
        back = np.sign(stored) * np.sqrt(np.abs(stored))
        assert np.abs(back - roots).max() <= step / 2 + 1e-6
        assert catalog.content_by_hash("abc") == content
        assert catalog.top_classes([content]) == [285]
        blob = catalog.db.execute("SELECT code FROM vectors").fetchone()[0]
        assert len(unpack(blob)) == 8 + 1280


def test_files_upsert_and_missing(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        content = catalog.add_content("h", np.ones(4, np.float32), None)
        catalog.put_file(_ok("/p/a.jpg", content))
        catalog.put_file(_ok("/p/a.jpg", content))
        catalog.put_file(_ok("/p/b.jpg", content))
        assert len(catalog.files()) == 2
        assert catalog.duplicate_groups() == [[Path("/p/a.jpg"), Path("/p/b.jpg")]]
        catalog.mark_missing([Path("/p/b.jpg")])
        assert catalog.count_files()[Status.MISSING] == 1
        assert catalog.duplicate_groups() == []
        assert list(catalog.content_ids(live_only=True)) == [content]


def test_rollback_on_error(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog:
        with pytest.raises(RuntimeError), catalog.transaction():
            catalog.put_file(_ok("/p/a.jpg", None))
            raise RuntimeError("crash mid-write")
        assert catalog.files() == []


def test_album_numbers_are_never_reused(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        assert catalog.next_album_number() == 1
        first = catalog.add_album(1, "cat", None, False)
        catalog.add_album(2, "dog", None, False)
        catalog.delete_albums([first])
        catalog.delete_albums([a.id for a in catalog.albums()])
        assert catalog.next_album_number() == 3
        catalog.add_album(3, "bird", np.ones(3, np.float32), True)
        (bird,) = catalog.albums()
        assert (bird.number, bird.user_named, bird.centroid is not None) == (3, True, True)


def test_the_schema_holds_every_status_and_nothing_else(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        for status in Status:
            catalog.put_file(
                FileRecord(Path(f"/p/{status.value}.jpg"), 1, 1, None, status, None, None)
            )
        assert catalog.count_files() == dict.fromkeys(Status, 1)
        with pytest.raises(sqlite3.IntegrityError):
            catalog.db.execute("UPDATE files SET status = 'lost'")


def _from_bytes(path: bytes) -> Path:
    return Path(os.fsdecode(path))


def test_any_file_name_round_trips(tmp_path: Path) -> None:
    """Names that are not UTF-8 (lone surrogates in Python) or hold a newline are stored as
    their bytes: looked up, listed, matched by folder and handed back as they came."""
    odd = [_from_bytes(p) for p in (b"/p/caf\xe9.jpg", b"/p/dir-\xe9/a\nb.jpg", b"/p/\xff.jpg")]
    near = _from_bytes(b"/p/dir-\xe9x/c.jpg")  # shares the folder's name as a prefix
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        content = catalog.add_content("h", np.ones(4, np.float32), None)
        for path in [*odd, near]:
            catalog.put_file(_ok(str(path), content))
        for path in odd:
            record = catalog.file(path)
            assert record is not None and os.fsencode(record.path) == os.fsencode(path)
        assert [os.fsencode(f.path) for f in catalog.files()] == sorted(
            os.fsencode(p) for p in [*odd, near]
        ), "sorted by bytes"
        assert catalog.paths_of(content) == sorted([*odd, near], key=os.fsencode)
        assert catalog.mark_missing_under(_from_bytes(b"/p/dir-\xe9/")) == 1
        gone = catalog.file(odd[1])
        assert gone is not None and gone.status is Status.MISSING
        assert catalog.mark_missing([odd[0]]) == 1
        assert catalog.duplicate_groups() == [[near, odd[2]]]


def test_a_schema_1_catalog_is_migrated(tmp_path: Path) -> None:
    """A catalog of the first schema, paths as TEXT, keeps its files: same ids, same lookups."""
    path = tmp_path / "catalog.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[1] + "PRAGMA user_version=1;")
    db.execute("INSERT INTO contents (id, hash, vector) VALUES (7, 'h', x'003c')")
    for id_, name in [(1, "/p/b.jpg"), (2, "/p/é/a.jpg"), (3, "/p/a.jpg")]:
        db.execute(
            "INSERT INTO files (id, path, size, mtime_ns, hash, status, content_id, updated_at) "
            "VALUES (?, ?, 10, 1, 'h', 'ok', 7, 0)",
            (id_, name),
        )
    db.close()

    with Catalog(path) as catalog:
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        types = {row[0] for row in catalog.db.execute("SELECT typeof(path) FROM files")}
        assert types == {"blob"}
        assert [f.path for f in catalog.files()] == [
            Path("/p/a.jpg"),
            Path("/p/b.jpg"),
            Path("/p/é/a.jpg"),
        ]
        assert catalog.file(Path("/p/é/a.jpg")) == _ok("/p/é/a.jpg", 7)
        rows = catalog.db.execute("SELECT id, path FROM files ORDER BY id").fetchall()
        assert [(i, os.fsdecode(p)) for i, p in rows] == [
            (1, "/p/b.jpg"),
            (2, "/p/é/a.jpg"),
            (3, "/p/a.jpg"),
        ]
        indexes = {row[1] for row in catalog.db.execute("PRAGMA index_list(files)")}
        assert {"files_content", "files_status"} <= indexes
        with catalog.transaction():
            catalog.put_file(_ok("/p/a.jpg", 7, "new"))
        assert len(catalog.files()) == 3, "an old row is updated, not duplicated"


def test_quick_keys(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as catalog, catalog.transaction():
        keyed = catalog.add_content("h1", np.ones(4, np.float32), None, "q1")
        old = catalog.add_content("h2", np.ones(4, np.float32), None)
        catalog.put_file(FileRecord(Path("/p/a.jpg"), 10, 1, "h1", Status.OK, None, keyed))
        catalog.put_file(FileRecord(Path("/p/b.jpg"), 20, 1, "h2", Status.MISSING, None, old))
        assert catalog.known_quick_keys({"q1", "q2"}) == {"q1"}
        assert catalog.sizes_without_quick_key() == {20}
        catalog.set_quick_key(old, "q2")
        catalog.set_quick_key(keyed, "other")  # a key once given stays
        assert catalog.known_quick_keys({"q1", "q2", "other"}) == {"q1", "q2"}
        assert catalog.sizes_without_quick_key() == set()


def test_schema_1_catalog_gains_empty_quick_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1] + "PRAGMA user_version=1;")
    db.execute("INSERT INTO contents (hash, vector) VALUES ('h', x'003c')")
    db.commit()
    db.close()
    with Catalog(path) as catalog:
        assert catalog.content_by_hash("h") is not None
        row = catalog.db.execute("SELECT quick FROM contents").fetchone()
        assert row[0] is None and catalog.known_quick_keys({"q"}) == set()


def test_what_was_tagged_is_recorded_by_path_bytes(tmp_path: Path) -> None:
    odd, plain = _from_bytes(b"/p/caf\xe9.jpg"), Path("/p/a.jpg")
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        with catalog.transaction():
            catalog.set_tagged({odd: "Cat", plain: "Dog"})
            catalog.set_tagged({plain: "Bird"})
        assert catalog.tagged() == {odd: "Cat", plain: "Bird"}
        assert catalog.db.execute("SELECT path FROM tagged WHERE label = 'Cat'").fetchone()[0] == (
            b"/p/caf\xe9.jpg"
        )
        with catalog.transaction():
            catalog.set_tagged({odd: None, Path("/p/never.jpg"): None})
        assert catalog.tagged() == {plain: "Bird"}
        with catalog.transaction():
            catalog.clear_tagged()
        assert catalog.tagged() == {}


def test_a_schema_3_catalog_gains_an_empty_tagged_table(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[1] + MIGRATIONS[2] + MIGRATIONS[3] + "PRAGMA user_version=3;")
    db.close()
    with Catalog(path) as catalog:
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert catalog.tagged() == {}


def test_a_second_connection_leaves_the_first_ones_locks(tmp_path: Path) -> None:
    """Opening the catalog twice in one process (the daemon and its recluster thread) must not
    drop the first connection's locks: closing any descriptor of the file would, and another
    process would then delete the WAL under it and miss its commits."""
    path = tmp_path / CATALOG_NAME
    reader = (
        "import sys; from pathlib import Path; from autoalbum.library.catalog import Catalog\n"
        "with Catalog(Path(sys.argv[1])) as catalog: print(catalog.meta('b'))"
    )

    def seen_elsewhere() -> str:
        done = subprocess.run([sys.executable, "-c", reader, str(path)], capture_output=True,
                              text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    with Catalog(path) as first, Catalog(path):
        assert seen_elsewhere() == "None"
        with first.transaction():
            first.set_meta("b", "committed")
        assert seen_elsewhere() == "committed"


def _as_before(path: Path) -> None:
    """Rewrite the catalog in SQLite's default 4 KB pages and forget its codes' steps, as
    autoalbum made catalogs before."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM meta WHERE key = 'code_levels'")
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA page_size=4096")
    db.execute("VACUUM")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def _page_size(catalog: Catalog) -> int:
    return int(catalog.db.execute("PRAGMA page_size").fetchone()[0])


def _levels(catalog: Catalog) -> int:
    """The highest step of any stored code."""
    rows = catalog.db.execute("SELECT code FROM vectors").fetchall()
    return max(int(np.frombuffer(unpack(row[0]), np.uint8)[8:].max()) for row in rows)


def test_an_older_catalog_is_rewritten_once_in_127_steps_and_big_pages_when_alone_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / CATALOG_NAME
    vectors = np.random.default_rng(0).random((300, 64), dtype=np.float32) ** 4
    with monkeypatch.context() as old:
        old.setattr(codes, "LEVELS", 255)  # the codes of autoalbum before
        with Catalog(path) as catalog, catalog.transaction():
            for i, vector in enumerate(vectors):
                content = catalog.add_content(f"{i:032x}", vector, None)
                catalog.put_file(_ok(f"/p/{i}.jpg", content, f"{i:032x}"))
    _as_before(path)
    other = sqlite3.connect(path)  # another process's connection: no rewrite under it
    other.execute("SELECT COUNT(*) FROM files").fetchone()
    with Catalog(path) as catalog:
        assert _page_size(catalog) == 4096 and _levels(catalog) == 255
    other.close()
    with Catalog(path) as catalog:
        assert _page_size(catalog) == PAGE_SIZE and _levels(catalog) == codes.LEVELS == 127
        assert catalog.meta("code_levels") == "127"
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert len(catalog.files(Status.OK)) == 300
        assert catalog.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        back = catalog.vectors(np.arange(1, 301))
    cosines = np.sum(back * vectors, axis=1) / np.linalg.norm(back, axis=1)
    assert np.min(cosines / np.linalg.norm(vectors, axis=1)) > 0.99


def test_a_schema_11_catalog_stores_its_hex_digests_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / CATALOG_NAME
    digest, quick = "5a6067ba4c028df0b60a84e10c8dc292", "239fff0ec8bcc28619cf81a4ee72429c"
    with Catalog(path) as catalog, catalog.transaction():
        content = catalog.add_content(digest, np.ones(8, np.float32), None, quick)
        catalog.put_file(_ok("/p/a.jpg", content, digest))
        catalog.put_file(_ok("/p/odd.jpg", None, "not hex"))
    db = sqlite3.connect(path)  # as schema 11 had them: 32 characters of hex text
    db.executescript(
        "UPDATE contents SET hash = lower(hex(hash)), quick = lower(hex(quick));"
        "UPDATE files SET hash = lower(hex(hash)) WHERE typeof(hash) = 'blob';"
        "PRAGMA user_version=11;"
    )
    db.close()
    with Catalog(path) as catalog:
        query = "SELECT typeof(hash), length(hash), typeof(quick) FROM contents"
        assert tuple(catalog.db.execute(query).fetchone()) == ("blob", 16, "blob")
        assert catalog.content_by_hash(digest) == content and catalog.hash_of(content) == digest
        assert catalog.known_quick_keys({quick, "0" * 32}) == {quick}
        assert catalog.file(Path("/p/a.jpg")).hash == digest  # type: ignore[union-attr]
        assert catalog.file(Path("/p/odd.jpg")).hash == "not hex"  # type: ignore[union-attr]
