"""The album tree: folder and entry names (filenames.py), symlinks, index.json and the safe swap."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autoalbum import __version__
from autoalbum.albums.filenames import folder_name, link_names
from autoalbum.albums.tree import (
    INDEX_SCHEMA_VERSION,
    MARKER_NAME,
    Album,
    AlbumsError,
    Member,
    write_albums,
)
from autoalbum.errors import AutoalbumError
from tree_index import fake_photo, images, update


@pytest.mark.parametrize(
    ("number", "label", "expected"),
    [
        (3, "Egyptian cat", "03-egyptian_cat"),
        (12, "Café  au   lait!", "12-cafe_au_lait"),
        (1, "AC/DC \\ live", "01-ac_dc_live"),
        (1, "...hidden", "01-hidden"),
        (1, 'what: <a>|"b"?*', "01-what_a_b"),
        (1, "", "01-album"),
        (1, " !!! ", "01-album"),
        (1, "Straße ﬁne", "01-straße_fine"),
        (1, "猫 ネコ ガ", "01-猫_ネコ_ガ"),
        (100, "x", "100-x"),
        (1, "cl\udce4ss\n-b", "01-cl_ss_b"),  # a label from a folder named in Latin-1
    ],
)
def test_folder_name(number: int, label: str, expected: str) -> None:
    assert folder_name(number, label) == expected


def test_folder_name_width_and_length() -> None:
    assert folder_name(7, "x", width=3) == "007-x"
    long = folder_name(1, "word " * 40)
    assert len(long) <= 3 + 60 and not long.endswith("_") and long.startswith("01-word_word")


def _paths(*paths: str) -> list[Path]:
    return [Path(p) for p in paths]


def test_link_names_keep_originals_when_unique() -> None:
    assert link_names(_paths("/a/x.jpg", "/b/y.jpg")) == ["x.jpg", "y.jpg"]


def test_link_names_number_clashes_by_path_order() -> None:
    paths = _paths("/b/IMG_0001.JPG", "/a/IMG_0001.JPG", "/c/img_0001.jpg", "/d/notes")
    assert link_names(paths) == ["IMG_0001 (2).JPG", "IMG_0001.JPG", "img_0001 (3).jpg", "notes"]
    reordered = [paths[i] for i in (3, 2, 0, 1)]
    assert link_names(reordered) == [
        "notes",
        "img_0001 (3).jpg",
        "IMG_0001 (2).JPG",
        "IMG_0001.JPG",
    ]


@pytest.mark.parametrize(
    "stem",
    ["a" * 251, "é" * 125 + "a", "日" * 83 + "ab", os.fsdecode(b"\xe9" * 251)],
    ids=["ascii", "two-byte", "three-byte", "undecodable"],
)
def test_link_names_shorten_a_clash_to_fit_255_bytes(stem: str) -> None:
    name = stem + ".jpg"
    assert len(os.fsencode(name)) == 255
    names = link_names(_paths(f"/a/{name}", f"/b/{name}", f"/c/{name}"))
    assert names[0] == name
    for n, numbered in enumerate(names[1:], 2):
        assert numbered.endswith(f" ({n}).jpg") and stem.startswith(numbered[: -len(" (n).jpg")])
        assert 250 <= len(os.fsencode(numbered)) <= 255


def test_link_names_drop_an_extension_too_long_to_keep() -> None:
    name = "x." + "e" * 253
    assert link_names(_paths(f"/a/{name}", f"/b/{name}"))[1] == name[:251] + " (2)"


def test_link_names_skip_names_already_taken() -> None:
    paths = _paths("/a/IMG_1.JPG", "/b/IMG_1.JPG", "/z/IMG_1 (2).JPG", "/c/.hidden", "/d/.hidden")
    assert link_names(paths) == [
        "IMG_1.JPG",
        "IMG_1 (3).JPG",
        "IMG_1 (2).JPG",
        ".hidden",
        ".hidden (2)",
    ]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four originals, two of them both named IMG_0001.JPG."""
    folder = tmp_path / "photos"
    for relative, data in [
        ("trip/IMG_0001.JPG", b"trip-1"),
        ("trip/IMG_0002.JPG", b"trip-2"),
        ("home/IMG_0001.JPG", b"home-1"),
        ("home/cat.png", b"cat"),
    ]:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def _albums(photos: Path) -> list[Album]:
    return [
        Album(1, "Egyptian cat", (Member(photos / "home/cat.png", 0.1234567),)),
        Album(
            2,
            "seashore",
            tuple(
                Member(photos / name, distance)
                for name, distance in [
                    ("trip/IMG_0002.JPG", 0.05),
                    ("trip/IMG_0001.JPG", 0.2),
                    ("home/IMG_0001.JPG", 0.3),
                ]
            ),
        ),
    ]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_albums_links_every_photo(photos: Path, tmp_path: Path) -> None:
    out = write_albums(tmp_path / "albums", _albums(photos))
    assert out == tmp_path / "albums"
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER_NAME,
        ".index",
        "01-egyptian_cat",
        "02-seashore",
        "index.json",
    ]
    assert sorted(p.name for p in (out / "02-seashore").iterdir()) == [
        "IMG_0001 (2).JPG",
        "IMG_0001.JPG",
        "IMG_0002.JPG",
    ]
    pairs = {
        "01-egyptian_cat/cat.png": "home/cat.png",
        "02-seashore/IMG_0001 (2).JPG": "trip/IMG_0001.JPG",
        "02-seashore/IMG_0001.JPG": "home/IMG_0001.JPG",
        "02-seashore/IMG_0002.JPG": "trip/IMG_0002.JPG",
    }
    for link, original in pairs.items():
        assert (out / link).is_symlink()
        assert not os.path.isabs(os.readlink(out / link))
        assert (out / link).resolve() == (photos / original).resolve()
    assert "managed by autoalbum" in (out / MARKER_NAME).read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albums", "photos"]


def test_index_json_describes_the_tree(photos: Path, tmp_path: Path) -> None:
    failures = [(photos / "bad.jpg", "not a readable image")]
    out = write_albums(
        tmp_path / "albums", _albums(photos), failures=failures, extra={"k": 2, "note": "ünï"}
    )
    text = (out / "index.json").read_text(encoding="utf-8")
    assert "ünï" in text and text.endswith("\n")
    index = json.loads(text)
    assert list(index)[:4] == ["schema_version", "generator", "created", "generation"]
    assert index["schema_version"] == INDEX_SCHEMA_VERSION == 3
    assert index["generator"] == f"autoalbum {__version__}"
    created = datetime.fromisoformat(index["created"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)
    assert (index["k"], index["note"]) == (2, "ünï")
    generation = index["generation"]
    assert index["albums"] == [
        {"number": 1, "name": "01-egyptian_cat", "label": "Egyptian cat", "size": 1,
         "members": [{"file": ".index/album-0001.json", "generation": generation}],
         "parent": None},
        {"number": 2, "name": "02-seashore", "label": "seashore", "size": 3,
         "members": [{"file": ".index/album-0002.json", "generation": generation}],
         "parent": None},
    ]  # fmt: skip
    members = json.loads((out / ".index" / "album-0001.json").read_text(encoding="utf-8"))
    assert members == {
        "schema_version": 3, "number": 1, "page": 0, "folder": "01-egyptian_cat",
        "generation": generation,
        "photos": [{"path": str(photos / "home/cat.png"), "link": "cat.png", "distance": 0.123457}],
    }  # fmt: skip
    assert images(out)[0] == {
        "path": str(photos / "home/cat.png"),
        "album": "01-egyptian_cat",
        "link": "01-egyptian_cat/cat.png",
        "distance": 0.123457,
    }
    assert [i["distance"] for i in images(out)] == [0.123457, 0.05, 0.2, 0.3]
    for image in images(out):
        assert (out / image["link"]).resolve() == Path(image["path"]).resolve()
    assert index["failures"] == [
        {"path": str(photos / "bad.jpg"), "reason": "not a readable image"}
    ]


def test_rerun_replaces_the_tree_and_spares_originals(photos: Path, tmp_path: Path) -> None:
    before = _snapshot(photos)
    out = tmp_path / "albums"
    write_albums(out, _albums(photos))
    kept = Album(1, "beach", _albums(photos)[1].members)
    write_albums(out, [kept])
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER_NAME,
        ".index",
        "01-beach",
        "index.json",
    ]
    assert sorted(os.listdir(out / ".index")) == ["album-0001.json"]
    assert len(images(out)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albums", "photos"]
    assert _snapshot(photos) == before


def test_refuses_a_folder_autoalbum_did_not_make(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    with pytest.raises(AlbumsError, match="not created by autoalbum") as caught:
        write_albums(out, _albums(photos))
    assert isinstance(caught.value, AutoalbumError)
    assert "choose an empty or new --out folder" in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "photos"]


def test_refuses_a_file_or_a_link_as_out(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(photos)
    for name in ("file", "link"):
        with pytest.raises(AlbumsError, match="file or a symbolic link"):
            write_albums(tmp_path / name, _albums(photos))
    assert (tmp_path / "file").read_text() == "x" and (photos / "home/cat.png").exists()


def test_takes_an_empty_folder_and_makes_parents(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_albums(tmp_path / "empty", _albums(photos))
    assert (tmp_path / "empty" / MARKER_NAME).is_file()
    deep = write_albums(tmp_path / "a" / "b" / "albums", _albums(photos))
    assert (deep / "01-egyptian_cat" / "cat.png").read_bytes() == b"cat"


def test_keeps_a_users_file_dropped_into_the_tree(
    photos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = write_albums(tmp_path / "albums", _albums(photos))
    (out / "02-seashore" / "my notes.txt").write_text("keep me")
    with caplog.at_level(logging.WARNING, logger="autoalbum.albums.tree"):
        write_albums(out, _albums(photos))
    assert not (out / "02-seashore" / "my notes.txt").exists()
    (old,) = [p for p in tmp_path.iterdir() if p.name.startswith(".albums.old-")]
    assert (old / "02-seashore" / "my notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in old.rglob("*")) == ["02-seashore", "my notes.txt"]
    assert str(old) in caplog.text
    assert (photos / "trip" / "IMG_0001.JPG").read_bytes() == b"trip-1"


def test_links_work_through_a_symlinked_parent(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "shortcut").symlink_to(tmp_path / "real")
    out = write_albums(tmp_path / "elsewhere" / "shortcut" / "albums", _albums(photos))
    link = tmp_path / "real" / "albums" / "01-egyptian_cat" / "cat.png"
    assert link.read_bytes() == b"cat"
    assert (out / "01-egyptian_cat" / "cat.png").read_bytes() == b"cat"


def test_width_grows_past_99_albums(photos: Path, tmp_path: Path) -> None:
    member = (Member(photos / "home/cat.png", 0.0),)
    out = write_albums(tmp_path / "albums", [Album(1, "a", member), Album(100, "b", member)])
    assert {"001-a", "100-b"} <= {p.name for p in out.iterdir()}


def test_a_failed_build_leaves_no_trace(photos: Path, tmp_path: Path) -> None:
    out = write_albums(tmp_path / "albums", _albums(photos))
    before = _snapshot(out)
    with pytest.raises(TypeError):
        write_albums(out, _albums(photos), extra={"bad": object()})
    with pytest.raises(ValueError, match="replace autoalbum's own"):
        write_albums(out, _albums(photos), extra={"albums": []})
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albums", "photos"]


# --- updating a tree in place -------------------------------------------------------------------


def _album(number: int, *paths: Path) -> Album:
    return Album(number, f"album {number}", tuple(Member(p, 0.25) for p in paths))


def _listed(out: Path) -> set[tuple[str, str]]:
    return {(i["path"], i["album"]) for i in images(out)}


def test_update_links_arrivals_and_unlinks_leavers_in_place(tmp_path: Path) -> None:
    a, b, c = (fake_photo(tmp_path / "photos", n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    out = tmp_path / "albums"
    write_albums(out, [_album(1, a, b), _album(2, c)])
    kept_link = out / "01-album_1" / "a.jpg"
    kept_inode = os.lstat(kept_link).st_ino
    user_file = out / "02-album_2" / "notes.txt"
    user_file.write_text("mine")
    d = fake_photo(tmp_path / "photos", "d.jpg")

    assert update(out, [_album(1, a, d), _album(2, c, b)]) == (2, 1)

    assert os.lstat(kept_link).st_ino == kept_inode, "untouched links are left alone"
    assert not os.path.lexists(out / "01-album_1" / "b.jpg")
    assert (out / "02-album_2" / "b.jpg").resolve() == b.resolve()
    assert (out / "01-album_1" / "d.jpg").resolve() == d.resolve()
    assert user_file.read_text() == "mine" and b.is_file(), "nothing else is touched"
    expected = {(str(a), "01-album_1"), (str(d), "01-album_1"), (str(c), "02-album_2"),
                (str(b), "02-album_2")}  # fmt: skip
    assert _listed(out) == expected
    sizes = [x["size"] for x in json.loads((out / "index.json").read_text())["albums"]]
    assert sizes == [2, 2]


def test_update_gives_a_clashing_arrival_the_next_free_name(tmp_path: Path) -> None:
    first = fake_photo(tmp_path / "phone", "IMG_0001.JPG")
    out = tmp_path / "albums"
    write_albums(out, [_album(1, first)])
    (out / "01-album_1" / "IMG_0001 (2).JPG").write_text("a file the user left here")
    second = fake_photo(tmp_path / "camera", "img_0001.jpg")

    assert update(out, [_album(1, first, second)]) == (1, 0)

    assert (out / "01-album_1" / "IMG_0001.JPG").resolve() == first.resolve()
    assert (out / "01-album_1" / "img_0001 (3).jpg").resolve() == second.resolve()
    assert (out / "01-album_1" / "IMG_0001 (2).JPG").read_text() == "a file the user left here"


def test_any_file_name_goes_into_the_tree_and_round_trips_through_index_json(
    tmp_path: Path,
) -> None:
    """Undecodable bytes, a newline and a 255-byte name, twice each: index.json gives back the
    original bytes through os.fsencode, and the clash of 255-byte names still links."""
    names = (b"caf\xe9.jpg", b"line\nbreak.jpg", b"a" * 251 + b".jpg")
    photos = [
        fake_photo(tmp_path / os.fsdecode(folder), os.fsdecode(name))
        for folder in (b"one", b"tw\xf6")
        for name in names
    ]
    out = tmp_path / "albums"
    write_albums(out, [_album(1, *photos[:3])])
    assert update(out, [_album(1, *photos)]) == (3, 0)

    assert {os.fsencode(i["path"]) for i in images(out)} == {os.fsencode(p) for p in photos}
    links = {os.fsencode(p.resolve()) for p in (out / "01-album_1").iterdir()}
    assert links == {os.fsencode(p.resolve()) for p in photos}
    write_albums(out, [_album(1, *photos)])
    assert _listed(out) == {(str(p), "01-album_1") for p in photos}


def test_update_refuses_when_the_albums_differ(tmp_path: Path) -> None:
    a, b = fake_photo(tmp_path, "a.jpg"), fake_photo(tmp_path, "b.jpg")
    out = tmp_path / "albums"
    assert update(out, [_album(1, a)]) is None, "no tree yet"
    write_albums(out, [_album(1, a)])
    assert update(out, [_album(1, a), _album(2, b)], only=[1]) is None, "2 is new"
    assert update(out, [Album(1, "renamed", (Member(a, 0.1),))]) is None
    assert _listed(out) == {(str(a), "01-album_1")}


def test_update_matches_a_rebuild(tmp_path: Path) -> None:
    photos = [fake_photo(tmp_path / "photos", f"p{i}.jpg") for i in range(12)]
    before = [_album(1, *photos[:6]), _album(2, *photos[6:10])]
    after = [_album(1, *photos[2:7], photos[11]), _album(2, photos[0], *photos[7:11])]
    write_albums(tmp_path / "updated", before)
    assert update(tmp_path / "updated", after) is not None
    write_albums(tmp_path / "rebuilt", after)

    def links(out: Path) -> set[tuple[str, str]]:
        return {(p.parent.name, str(p.resolve())) for p in out.rglob("*") if p.is_symlink()}

    assert links(tmp_path / "updated") == links(tmp_path / "rebuilt")
    assert _listed(tmp_path / "updated") == _listed(tmp_path / "rebuilt")
