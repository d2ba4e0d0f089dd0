"""The album tree's index files (schema 3): a small index.json and each album's members pages,
read consistently; arrivals rewrite only the last page of the albums they join, departures the
pages they leave; renames in place; schema-1 and schema-2 trees upgraded."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoalbum.albums import sidecar
from autoalbum.albums import update as update_module
from autoalbum.albums.sidecar import (
    MEMBERS_FOLDER,
    WrittenLink,
    read_album,
    read_tree,
    written_links,
)
from autoalbum.albums.tree import (
    MARKER_NAME,
    MARKER_TEXT,
    Album,
    Member,
    folder_names,
    write_albums,
)
from autoalbum.albums.update import TakenNames, rename_album, update_albums
from colour_library import colour_photos, links, open_library, photo
from tree_index import fake_photo, images, index_files, update


def _album(number: int, *paths: Path, label: str = "") -> Album:
    return Album(number, label or f"album {number}", tuple(Member(p, 0.25) for p in paths))


def _on_disk(out: Path) -> set[tuple[str, str]]:
    """(folder, original) of every symlink in the tree, each checked to resolve."""
    found = set()
    for link in out.rglob("*"):
        if link.is_symlink():
            assert link.exists(), f"dangling {link}"
            found.add((link.parent.name, str(link.resolve())))
    return found


def _listed(out: Path) -> set[tuple[str, str]]:
    return {(i["album"], str(Path(i["path"]).resolve())) for i in images(out)}


def test_round_trip_and_written_links(tmp_path: Path) -> None:
    a, b, c = (fake_photo(tmp_path / "p", n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    out = write_albums(tmp_path / "albums", [_album(1, a, b), _album(0, c)])
    index, members = index_files(out)
    assert [[page["file"] for page in x["members"]] for x in index["albums"]] == [
        [".index/album-0001.json"],
        [".index/album-0000.json"],
    ]
    assert [p["link"] for p in members[1]["photos"]] == ["a.jpg", "b.jpg"]
    tree = read_tree(out)
    assert tree is not None
    shelves = [(s.number, s.folder, s.size) for s in tree[0].albums]
    assert shelves == [(1, "01-album_1", 2), (0, "_unsorted", 1)]
    assert [p.path for p in tree[1][1]] == [str(a), str(b)]
    album = read_album(out, 0)
    assert album is not None and album[1] == [(str(c), "c.jpg", 0.25)]
    assert read_album(out, 5) is None
    assert written_links(out) == {
        a: WrittenLink("01-album_1", "a.jpg", 1, 0.25),
        b: WrittenLink("01-album_1", "b.jpg", 1, 0.25),
        c: WrittenLink("_unsorted", "c.jpg", 0, 0.25),
    }
    assert _listed(out) == _on_disk(out)


def test_a_reader_sees_a_replaced_members_file_as_a_change(tmp_path: Path) -> None:
    a = fake_photo(tmp_path / "p", "a.jpg")
    out = write_albums(tmp_path / "albums", [_album(1, a)])
    members = out / MEMBERS_FOLDER / "album-0001.json"
    record = json.loads(members.read_text())
    members.write_text(json.dumps({**record, "generation": record["generation"] + 1}))
    with pytest.raises(ValueError, match="kept changing"):
        read_tree(out)


def test_update_touches_only_the_albums_named(tmp_path: Path) -> None:
    a, b, c, d = (fake_photo(tmp_path / "p", f"{n}.jpg") for n in "abcd")
    out = write_albums(tmp_path / "albums", [_album(1, a), _album(2, b), _album(3, c)])
    files = {p: os.stat(p) for p in (out / MEMBERS_FOLDER).iterdir()}
    # Album 2's members given as empty but not named: it must stay as it is.
    assert update(out, [_album(1, a, d), _album(2), _album(3, c)], only=[1]) == (1, 0)
    for path, before in files.items():
        after = os.stat(path)
        same = (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert same == (path.name != "album-0001.json"), path
    assert _listed(out) == _on_disk(out) == {("01-album_1", str(a.resolve())),
        ("01-album_1", str(d.resolve())), ("02-album_2", str(b.resolve())),
        ("03-album_3", str(c.resolve()))}  # fmt: skip
    sizes = {x["number"]: x["size"] for x in index_files(out)[0]["albums"]}
    assert sizes == {1: 2, 2: 1, 3: 1}


def test_an_album_that_empties_goes_and_a_new_one_comes(tmp_path: Path) -> None:
    a, b = fake_photo(tmp_path / "p", "a.jpg"), fake_photo(tmp_path / "p", "b.jpg")
    out = write_albums(tmp_path / "albums", [_album(1, a), _album(2, b)])
    assert update(out, [_album(1, a), _album(0, b)], only=[0, 2]) == (1, 1)
    assert not (out / "02-album_2").exists()
    assert not (out / MEMBERS_FOLDER / "album-0002.json").exists()
    assert _listed(out) == _on_disk(out) == {("01-album_1", str(a.resolve())),
                                             ("_unsorted", str(b.resolve()))}  # fmt: skip


def test_rename_in_place_keeps_every_link(tmp_path: Path) -> None:
    photos = [fake_photo(tmp_path / "p" / "deep" / "er", f"{i}.jpg") for i in range(4)]
    out = write_albums(tmp_path / "albums", [_album(1, *photos[:2]), _album(2, *photos[2:])])
    inode = os.stat(out / "01-album_1").st_ino
    other = os.stat(out / MEMBERS_FOLDER / "album-0002.json")
    assert rename_album(out, 1, "Birthday cakes", "Birthday cakes")
    assert os.stat(out / "Birthday cakes").st_ino == inode, "renamed, not rebuilt"
    assert not (out / "01-album_1").exists()
    assert os.stat(out / MEMBERS_FOLDER / "album-0002.json").st_mtime_ns == other.st_mtime_ns
    assert _listed(out) == _on_disk(out)
    assert ("Birthday cakes", str(photos[0].resolve())) in _on_disk(out)
    assert index_files(out)[0]["albums"][0]["label"] == "Birthday cakes"
    with pytest.raises(ValueError, match="share the folder"):
        rename_album(out, 2, "x", "birthday CAKES")
    assert not rename_album(out, 9, "x", "x"), "no album 9: the caller rebuilds"


def test_a_users_folder_name_is_kept_verbatim_and_must_be_unique() -> None:
    albums = [Album(1, "cat", (), folder="Coffee"), Album(12, "dog", ())]
    assert folder_names(albums) == ["Coffee", "12-dog"]
    with pytest.raises(ValueError, match="share the folder"):
        folder_names([Album(1, "cat", (), folder="12-dog"), Album(12, "dog", ())])
    for bad in ("", ".hidden", "a/b", "index.json"):
        with pytest.raises(ValueError, match="can't be an album folder"):
            folder_names([Album(1, "cat", (), folder=bad)])


def _schema_1_tree(out: Path, photos: list[Path]) -> None:
    """A tree as autoalbum wrote it before schema 2, with a clash named by an arrival."""
    (out / "01-red").mkdir(parents=True)
    (out / MARKER_NAME).write_text(MARKER_TEXT)
    names = ["x.png", "x (7).png"]
    images = []
    for path, name in zip(photos, names, strict=True):
        os.symlink(os.path.relpath(path, out / "01-red"), out / "01-red" / name)
        images.append({"path": str(path), "album": "01-red", "link": f"01-red/{name}",
                       "distance": 0.5})  # fmt: skip
    index = {"schema_version": 1, "generator": "autoalbum 0", "created": "2020-01-01T00:00:00",
             "albums": [{"number": 1, "name": "01-red", "label": "red", "size": 2}],
             "images": images, "failures": [{"path": "/bad.jpg", "reason": "broken"}]}  # fmt: skip
    (out / "index.json").write_text(json.dumps(index))


# --- the library: arrivals, departures, reclusters and renames -----------------------------------


def test_an_arrival_reads_and_writes_only_its_album(tmp_path: Path) -> None:
    root = colour_photos(tmp_path)
    for i in range(6):
        photo(root / "photos" / "green" / f"green{i}.png", "green", 200 + i)
    with open_library(root, k=3) as library:
        library.index_files()
        library.write_tree()  # the first update after opening compares every album
        tree = root / "albums"
        stats = {p: os.stat(p) for p in (tree / MEMBERS_FOLDER).iterdir()}
        statements: list[str] = []
        library.catalog.db.set_trace_callback(statements.append)
        arrival = photo(root / "photos" / "late-red.png", "red", 556)
        gone = root / "photos" / "blue" / "blue0.png"
        gone.unlink()
        library.ingest([arrival], [gone])
        library.catalog.db.set_trace_callback(None)
        albums = {a.id: a.number for a in library.catalog.albums()}
        red = albums[library.catalog.albums_of([arrival]).pop()]
        blue = albums[library.catalog.albums_of([root / "photos" / "blue" / "blue1.png"]).pop()]
    every_member = [s for s in statements if "ORDER BY c.distance" in s and "album_id = " not in s]
    assert not every_member, "the arrival read every album's members"
    changed = {p.name for p, s in stats.items() if os.stat(p).st_mtime_ns != s.st_mtime_ns}
    assert changed == {f"album-{red:04d}.json", f"album-{blue:04d}.json"}
    assert _listed(tree) == _on_disk(tree)
    listed = {Path(i["path"]).name for i in images(tree)}
    assert "late-red.png" in listed and "blue0.png" not in listed and len(listed) == 18


def test_a_new_process_compares_the_tree_whole_ahead_of_its_first_arrival(tmp_path: Path) -> None:
    root = colour_photos(tmp_path)
    with open_library(root, k=3) as library:
        library.index_files()
    with open_library(root, k=3) as library:  # a new process: the tree is compared whole once
        assert library.prepare_arrivals()
        statements: list[str] = []
        library.catalog.db.set_trace_callback(statements.append)
        library.ingest([photo(root / "photos" / "late-red.png", "red", 556)])
        library.catalog.db.set_trace_callback(None)
    every_member = [s for s in statements if "ORDER BY c.distance" in s and "album_id = " not in s]
    assert not every_member, "the first arrival read every album's members"


def test_quiet_recluster_and_rename_change_the_tree_in_place(tmp_path: Path) -> None:
    root = colour_photos(tmp_path)
    tree = root / "albums"
    with open_library(root) as library:
        library.index_files()
        inode = os.stat(tree).st_ino
        library.recluster()
        assert os.stat(tree).st_ino == inode, "a recluster that moves no photo: in place"
        assert _listed(tree) == _on_disk(tree) and len(_on_disk(tree)) == 12
        album = library.catalog.albums()[0]
        inode = os.stat(tree).st_ino
        before = links(root)
        library.rename(str(album.number), "Holiday snaps")
    assert os.stat(tree).st_ino == inode, "renamed in place"
    folder = f"{album.number:02d}-holiday_snaps"
    old = next(f for f in before if f.startswith(f"{album.number:02d}-"))
    assert links(root) == {(folder if f == old else f): v for f, v in before.items()}
    assert _listed(tree) == _on_disk(tree)
    assert index_files(tree)[0]["albums"][0]["name"] == folder


def test_a_missing_or_damaged_tree_is_rebuilt(tmp_path: Path) -> None:
    root = colour_photos(tmp_path)
    with open_library(root) as library:
        library.index_files()
        (root / "albums" / MEMBERS_FOLDER / "album-0001.json").write_text("{damaged")
        arrival = photo(root / "photos" / "late-red.png", "red", 556)
        library.ingest([arrival], [])
        library.ingest([photo(root / "photos" / "late-blue.png", "blue", 557)], [])
    tree = root / "albums"
    assert _listed(tree) == _on_disk(tree) and len(_on_disk(tree)) == 14


# --- members pages: a write costs what changed, readers see one generation -----------------------


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """Members pages of 3 photos, so that a few photos make several."""
    monkeypatch.setattr(sidecar, "PAGE_PHOTOS", 3)
    monkeypatch.setattr(update_module, "PAGE_PHOTOS", 3)
    return 3


def _pages(out: Path, number: int) -> list[tuple[str, int]]:
    """An album's members pages as index.json lists them: (file, generation)."""
    album = next(a for a in index_files(out)[0]["albums"] if a["number"] == number)
    return [(page["file"], page["generation"]) for page in album["members"]]


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {
        p.name: (os.stat(p).st_ino, os.stat(p).st_mtime_ns)
        for p in (out / MEMBERS_FOLDER).iterdir()
    }


def test_arrivals_rewrite_only_the_last_page(tmp_path: Path, small_pages: int) -> None:
    photos = [fake_photo(tmp_path / "p", f"{i:02d}.jpg") for i in range(11)]
    out = write_albums(tmp_path / "albums", [_album(1, *photos[:7]), _album(2, photos[10])])
    g = index_files(out)[0]["generation"]
    assert _pages(out, 1) == [(".index/album-0001.json", g), (".index/album-0001.p0001.json", g),
                              (".index/album-0001.p0002.json", g)]  # fmt: skip
    before = _stamps(out)
    arrivals = {1: [(str(p), 0.1) for p in photos[7:10]]}
    albums = [_album(1), _album(2)]  # their members are not looked at
    assert update_albums(out, albums, {}, arrivals=arrivals) == (3, 0)
    assert _pages(out, 1) == [(".index/album-0001.json", g), (".index/album-0001.p0001.json", g),
                              (".index/album-0001.p0002.json", g + 1),
                              (".index/album-0001.p0003.json", g + 1)]  # fmt: skip
    changed = {name for name, stamp in _stamps(out).items() if before.get(name) != stamp}
    assert changed == {"album-0001.p0002.json", "album-0001.p0003.json"}
    index, members = index_files(out)
    assert [a["size"] for a in index["albums"]] == [10, 1]
    assert [Path(p["path"]).name for p in members[1]["photos"]] == [
        f"{i:02d}.jpg" for i in range(10)
    ]
    assert _listed(out) == _on_disk(out)


def test_departures_rewrite_the_pages_they_leave_and_drop_empty_ones(
    tmp_path: Path, small_pages: int
) -> None:
    photos = [fake_photo(tmp_path / "p", f"{i}.jpg") for i in range(9)]
    out = write_albums(tmp_path / "albums", [_album(1, *photos)])
    g = index_files(out)[0]["generation"]
    before = _stamps(out)
    # 4 leaves the middle page; 0, 1 and 2 leave the first page empty: the rest move up
    assert update(out, [_album(1, *photos[3:4], *photos[5:])]) == (0, 4)
    assert _pages(out, 1) == [(".index/album-0001.json", g + 1),
                              (".index/album-0001.p0001.json", g + 1)]  # fmt: skip
    assert not (out / MEMBERS_FOLDER / "album-0001.p0002.json").exists(), "pruned"
    assert before.keys() - _stamps(out).keys() == {"album-0001.p0002.json"}
    members = index_files(out)[1][1]["photos"]
    assert [Path(p["path"]).name for p in members] == ["3.jpg", "5.jpg", "6.jpg", "7.jpg", "8.jpg"]
    assert _listed(out) == _on_disk(out)
    assert update(out, [_album(1, *photos[3:4], *photos[5:7])]) == (0, 2)
    assert [g for _, g in _pages(out, 1)] == [g + 1, g + 2], "the first page kept as it was"


def test_a_reader_never_sees_a_mix_of_generations(tmp_path: Path, small_pages: int) -> None:
    """A burst of writes, pages added and rewritten in two albums, against a reader following
    the README's protocol in plain JSON: each view it gets is one that was written whole."""
    photos = [fake_photo(tmp_path / "p", f"{i:03d}.jpg") for i in range(122)]
    out = write_albums(tmp_path / "albums", [_album(1, photos[0]), _album(2, photos[1])])
    expected = {index_files(out)[0]["generation"]: {str(photos[0]), str(photos[1])}}
    done = threading.Event()
    views: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                index, members = index_files(out)
                seen = [p["path"] for m in members.values() for p in m["photos"]]
                assert len(seen) == len(set(seen)) == sum(a["size"] for a in index["albums"])
                assert set(seen) == expected[index["generation"]], index["generation"]
                views.append(index["generation"])
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        state = {str(photos[0]), str(photos[1])}
        for i in range(2, 122, 2):
            generation = max(expected) + 1
            state |= {str(photos[i]), str(photos[i + 1])}
            expected[generation] = set(state)
            arrivals = {1: [(str(photos[i]), 0.5)], 2: [(str(photos[i + 1]), 0.5)]}
            assert update_albums(out, [_album(1), _album(2)], {}, arrivals=arrivals) == (2, 0)
    finally:
        done.set()
        reader.join(60)
    assert not errors, errors[0]
    assert len(set(views)) > 1, "the reader saw the tree change"
    assert len(_pages(out, 1)) == 21
    assert _listed(out) == _on_disk(out)


def _schema_2_tree(out: Path, photos: list[Path]) -> None:
    """A tree as autoalbum wrote it before members pages: one members file per album."""
    (out / "01-red").mkdir(parents=True)
    (out / MEMBERS_FOLDER).mkdir()
    (out / MARKER_NAME).write_text(MARKER_TEXT)
    names = ["x.png", "x (7).png"]
    for path, name in zip(photos, names, strict=True):
        os.symlink(os.path.relpath(path, out / "01-red"), out / "01-red" / name)
    members = {"schema_version": 2, "number": 1, "folder": "01-red", "generation": 5,
               "photos": [{"path": str(p), "link": n, "distance": 0.5}
                          for p, n in zip(photos, names, strict=True)]}  # fmt: skip
    (out / MEMBERS_FOLDER / "album-0001.json").write_text(json.dumps(members))
    index = {"schema_version": 2, "generator": "autoalbum 0", "created": "2020-01-01T00:00:00",
             "generation": 5, "k": 1,
             "albums": [{"number": 1, "name": "01-red", "label": "red", "size": 2,
                         "members": ".index/album-0001.json", "generation": 5, "parent": None}],
             "failures": [{"path": "/bad.jpg", "reason": "broken"}]}  # fmt: skip
    (out / "index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("old_tree", [_schema_1_tree, _schema_2_tree])
def test_an_older_tree_is_upgraded_keeping_its_links(
    tmp_path: Path, old_tree: Callable[[Path, list[Path]], None]
) -> None:
    photos = [fake_photo(tmp_path / "p1", "x.png"), fake_photo(tmp_path / "p2", "x.png")]
    out = tmp_path / "albums"
    old_tree(out, photos)
    inode = os.lstat(out / "01-red" / "x (7).png").st_ino
    new = fake_photo(tmp_path / "p3", "y.png")
    albums = [Album(1, "red", tuple(Member(p, 0.5) for p in [*photos, new]))]
    assert update(out, albums, failures=[(Path("/bad.jpg"), "broken")]) == (1, 0)
    assert os.lstat(out / "01-red" / "x (7).png").st_ino == inode, "converted, not rebuilt"
    index, members = index_files(out)
    assert index["failures"] == [{"path": "/bad.jpg", "reason": "broken"}]
    assert [p["link"] for p in members[1]["photos"]] == ["x.png", "x (7).png", "y.png"]
    assert _listed(out) == _on_disk(out)


def test_a_library_arrival_reads_only_its_albums_last_page(
    tmp_path: Path, small_pages: int
) -> None:
    root = colour_photos(tmp_path)
    tree = root / "albums"
    with open_library(root) as library:
        library.index_files()
        library.write_tree()  # the first update after opening compares every album
        red = next(a for a in library.catalog.albums() if a.id in library.catalog.albums_of(
            [root / "photos" / "red0.png"]))  # fmt: skip
        last = _pages(tree, red.number)[-1][0]
        assert len(_pages(tree, red.number)) >= 2
        arrival = photo(root / "photos" / "late-red.png", "red", 556)
        with reading() as opened:
            library.ingest([arrival], [])
        assert library.catalog.albums_of([arrival]) == {red.id}
    pages = [p for p in opened if p.startswith(str(tree / MEMBERS_FOLDER))]
    assert pages == [str(tree / last)], "read other pages than the last one of its album"
    assert "late-red.png" in {
        Path(p["path"]).name for p in index_files(tree)[1][red.number]["photos"]
    }
    assert _listed(tree) == _on_disk(tree)


_opened: list[str] | None = None  # files opened to read while `reading` records them


def _audit(event: str, args: tuple[object, ...]) -> None:
    reads = _opened is not None and event == "open" and len(args) > 1 and args[1] in ("r", "rb")
    if reads and isinstance(args[0], (str, bytes, os.PathLike)):
        assert _opened is not None
        _opened.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # for the whole test run: a hook can't be removed; idle when off


@contextmanager
def reading() -> Iterator[list[str]]:
    """The files opened to read meanwhile."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def test_arrivals_list_their_album_folder_once_while_nobody_else_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [fake_photo(tmp_path / "p", n) for n in ("a.jpg", "x.jpg", "y.jpg")]
    elsewhere = fake_photo(tmp_path / "q", "z.jpg")
    out = write_albums(tmp_path / "albums", [_album(1, photos[0])])
    folder = out / "01-album_1"
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: str | os.PathLike[str]) -> list[str]:
        listed.append(os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(update_module.os, "listdir", listdir)
    names = TakenNames()

    def arrive(photo: Path) -> None:
        arrivals = {1: [(str(photo), 0.3)]}
        assert update_albums(out, [_album(1)], {}, arrivals=arrivals, names=names) == (1, 0)

    arrive(photos[1])
    arrive(photos[2])
    assert listed.count(str(folder)) == 1, "listed again though only autoalbum changed it"
    (folder / "Z.JPG").write_bytes(b"the user's")  # a file browser sees z.jpg as this one
    stamp = os.lstat(folder).st_mtime_ns
    os.utime(folder, ns=(stamp, stamp + 10**9))  # the clock may not have ticked since
    arrive(elsewhere)
    assert listed.count(str(folder)) == 2
    assert (folder / "z (2).jpg").is_symlink() and (folder / "Z.JPG").is_file()
    assert _listed(out) == _on_disk(out)


def test_a_big_index_is_written_compact_and_reads_back_the_same(tmp_path: Path) -> None:
    """Past PRETTY_ALBUMS groups (an Events tree of decades) index.json is one line, written
    by Python's C encoder; a small one stays indented. Both read back as written."""
    for count in (sidecar.PRETTY_ALBUMS, sidecar.PRETTY_ALBUMS + 1):
        out = tmp_path / str(count)
        out.mkdir()
        (out / sidecar.MARKER_NAME).touch()
        shelves = tuple(sidecar.Shelf(n, f"event {n}", "", 3, (n,)) for n in range(1, count + 1))
        sidecar.write_index(out, sidecar.TreeIndex(7, shelves, (), {"kind": "events"}))
        text = (out / sidecar.INDEX_NAME).read_text(encoding="utf-8")
        assert (text.count("\n") == 1) == (count > sidecar.PRETTY_ALBUMS)
        assert sidecar.read_index(out) == sidecar.TreeIndex(7, shelves, (), {"kind": "events"})
