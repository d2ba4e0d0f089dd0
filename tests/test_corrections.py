"""The user's corrections on a real library (real SQLite, real album tree, real folders): by
command (`autoalbum move` ...) and by file-browser gestures in the album folder. Each must hold
through two reclusters and a restart (the library opened again)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from autoalbum.albums.sidecar import Linked
from autoalbum.cli import main
from autoalbum.library.gestures import WrittenLink, adoption, found_links, gestures
from autoalbum.library.library import Library
from colour_library import colour_photos, config, open_library, photo

Check = Callable[[dict[str, list[str]]], None]


def _config_file(root: Path) -> Path:
    path = root / "autoalbum.yaml"
    path.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 2\n  unsorted_distance: 0.6\n"
    )
    return path


def albums(root: Path) -> dict[str, list[str]]:
    """Album folder -> the names of the originals it links to, read from the real tree."""
    tree: dict[str, list[str]] = {}
    for folder in sorted((root / "albums").iterdir()):
        if folder.is_dir():
            tree[folder.name] = sorted(
                os.path.basename(os.readlink(link))
                for link in folder.iterdir()
                if link.is_symlink()
            )
    return tree


def folder_of(tree: dict[str, list[str]], name: str) -> str:
    (folder,) = [f for f, names in tree.items() if name in names]
    return folder


def _library(tmp_path: Path) -> Library:
    colour_photos(tmp_path)
    library = open_library(tmp_path)
    library.index_files()
    return library


def holds(root: Path, check: Check) -> None:
    """`check` holds now, after two reclusters and after the library is opened again."""
    check(albums(root))
    with open_library(root) as library:
        for _ in range(2):
            library.recluster()
            check(albums(root))
    with open_library(root) as library:
        library.index_files()
        library.recluster()
    check(albums(root))


def red_and_blue(tree: dict[str, list[str]]) -> tuple[str, str]:
    return folder_of(tree, "red0.png"), folder_of(tree, "blue0.png")


# gestures


def test_moved_link_pins_the_photo(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, blue = red_and_blue(albums(tmp_path))
        out = tmp_path / "albums"
        (out / red / "red1.png").rename(out / blue / "red1.png")
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["pin"]

    def check(tree: dict[str, list[str]]) -> None:
        assert folder_of(tree, "red1.png") == folder_of(tree, "blue0.png")
        assert folder_of(tree, "red2.png") == folder_of(tree, "red0.png")

    holds(tmp_path, check)


def test_deleted_link_excludes_the_photo_from_that_album(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, _blue = red_and_blue(albums(tmp_path))
        (tmp_path / "albums" / red / "red3.png").unlink()
        assert library.take_gestures() == 1

    def check(tree: dict[str, list[str]]) -> None:
        assert folder_of(tree, "red3.png") != folder_of(tree, "red0.png")

    holds(tmp_path, check)


def test_renamed_folder_renames_the_album(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, _blue = red_and_blue(albums(tmp_path))
        number = red.split("-")[0]
        (tmp_path / "albums" / red).rename(tmp_path / "albums" / f"{number}-crimson")
        assert library.take_gestures() == 1
        assert not library.corrections()  # a rename is the album's name, as `rename` makes it

    def check(tree: dict[str, list[str]]) -> None:
        assert folder_of(tree, "red0.png") == f"{number}-crimson"

    holds(tmp_path, check)


def test_folder_renamed_to_a_plain_name_keeps_that_name(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, _blue = red_and_blue(albums(tmp_path))
        (tmp_path / "albums" / red).rename(tmp_path / "albums" / "Crimson")
        library.take_gestures()
        (record,) = [a for a in library.catalog.albums() if a.name == "Crimson"]
        assert record.user_named and record.folder == "Crimson"
    holds(tmp_path, lambda tree: folder_of(tree, "red0.png") == "Crimson")


def test_new_folder_of_links_is_a_user_album_that_new_photos_follow(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, _blue = red_and_blue(albums(tmp_path))
        out = tmp_path / "albums"
        (out / "Greens").mkdir()
        for i in range(3):
            photo(tmp_path / "photos" / "green" / f"green{i}.png", "green", 300 + i)
        library.index_files()  # a swap keeps the empty folder the user made
        for i in range(3):  # linked to originals by the user, as `ln -s` would
            original = tmp_path / "photos" / "green" / f"green{i}.png"
            os.symlink(original, out / "Greens" / original.name)
        (out / red / "red5.png").rename(out / "Greens" / "red5.png")  # and one moved there
        assert library.take_gestures() == 1
    with open_library(tmp_path) as library:
        photo(tmp_path / "photos" / "green" / "green9.png", "green", 309)
        library.index_files()

    def check(tree: dict[str, list[str]]) -> None:
        greens = folder_of(tree, "green0.png")
        assert greens.lower().endswith("greens")
        assert {"green1.png", "green2.png", "green9.png", "red5.png"} <= set(tree[greens])

    holds(tmp_path, check)


def test_all_links_moved_into_another_album_merges_it(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, blue = red_and_blue(albums(tmp_path))
        out = tmp_path / "albums"
        for link in list((out / red).iterdir()):
            link.rename(out / blue / link.name)
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["merge"]

    def check(tree: dict[str, list[str]]) -> None:
        assert folder_of(tree, "red0.png") == folder_of(tree, "blue0.png")

    holds(tmp_path, check)
    photo(tmp_path / "photos" / "red9.png", "red", 9)  # a new red photo joins the merged album
    with open_library(tmp_path) as library:
        library.index_files()
    check(albums(tmp_path))
    assert folder_of(albums(tmp_path), "red9.png") == folder_of(albums(tmp_path), "blue0.png")


def test_deleted_folder_retires_the_album(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        red, _blue = red_and_blue(albums(tmp_path))
        shutil.rmtree(tmp_path / "albums" / red)
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["retire"]

    def check(tree: dict[str, list[str]]) -> None:
        assert red not in tree
        assert folder_of(tree, "red0.png") != red

    holds(tmp_path, check)


def test_gestures_while_stopped_are_taken_by_index(tmp_path: Path) -> None:
    with _library(tmp_path):
        red, blue = red_and_blue(albums(tmp_path))
    out = tmp_path / "albums"
    (out / red / "red1.png").rename(out / blue / "red1.png")
    (out / red / "red2.png").unlink()
    with open_library(tmp_path) as library:
        library.index_files()
        assert sorted(c.kind.value for c in library.corrections()) == ["exclude", "pin"]
    tree = albums(tmp_path)
    assert folder_of(tree, "red1.png") == blue and folder_of(tree, "red2.png") != red


def test_own_writes_and_swaps_are_no_gestures(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        for _ in range(3):
            library.recluster()
            photo(tmp_path / "photos" / f"more{library.catalog.count_files()}.png", "red", 50)
            library.index_files()
        assert library.take_gestures() == 0
        assert library.corrections() == []


def test_a_deleted_original_is_no_gesture(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        (tmp_path / "photos" / "red4.png").unlink()  # its link dangles until the next index
        assert library.take_gestures() == 0
        library.index_files()
        assert library.corrections() == []


def test_gestures_read_from_written_and_found_links() -> None:
    a, b, c = Path("/p/a.png"), Path("/p/b.png"), Path("/p/c.png")
    written = {a: WrittenLink("01-x", "a.png", 1), b: WrittenLink("01-x", "b.png", 1),
               c: WrittenLink("02-y", "c.png", 2)}  # fmt: skip
    moved = gestures(written, {"01-x": {a: "a.png"}, "02-y": {c: "c.png", b: "b.png"}})
    assert moved.pins == {b: "02-y"} and not moved.excludes
    deleted = gestures(written, {"01-x": {a: "a.png"}, "02-y": {c: "c.png"}})
    assert deleted.excludes == {b: "01-x"} and not deleted.pins
    renamed = gestures(written, {"Mine": {a: "a.png", b: "b.png"}, "02-y": {c: "c.png"}})
    assert renamed.renames == {"01-x": "Mine"} and len(renamed) == 1
    made = gestures(written, {"01-x": {a: "a.png"}, "02-y": {c: "c.png"}, "New": {b: "b.png"}})
    assert made.new_albums == {"New": [b]} and len(made) == 1
    merged = gestures(written, {"01-x": {}, "02-y": {a: "a", b: "b", c: "c"}})
    assert merged.merges == {"01-x": "02-y"} and len(merged) == 1
    retired = gestures(written, {"02-y": {c: "c.png"}})
    assert retired.retired == {"01-x"} and len(retired) == 1
    assert len(gestures(written, {"01-x": {a: "a", b: "b"}, "02-y": {c: "c"}})) == 0


def test_only_moved_and_deleted_links_are_adopted() -> None:
    a, b, c, d = (Path(f"/p/{n}.png") for n in "abcd")
    written = {a: WrittenLink("01-x", "a.png", 1, 0.1), b: WrittenLink("01-x", "b.png", 1, 0.2),
               c: WrittenLink("02-y", "c.png", 2, 0.3)}  # fmt: skip

    def adopted(found: dict[str, dict[Path, str]]) -> dict[str, list[Linked]] | None:
        return adoption(written, found, gestures(written, found))

    moved = adopted({"01-x": {a: "a.png"}, "02-y": {c: "c.png", b: "mine.png"}})
    assert moved == {"01-x": [Linked("/p/a.png", "a.png", 0.1)],
                     "02-y": [Linked("/p/c.png", "c.png", 0.3),
                              Linked("/p/b.png", "mine.png", 0.2)]}  # fmt: skip
    assert adopted({"01-x": {a: "a.png"}, "02-y": {c: "c.png"}}) == {
        "01-x": [Linked("/p/a.png", "a.png", 0.1)]
    }
    copied = {"01-x": {a: "a.png", b: "b.png"}, "02-y": {c: "c.png", b: "b.png"}}
    assert adopted(copied) is None
    assert adopted({"01-x": {a: "a", b: "b"}, "02-y": {c: "c", d: "d.png"}}) is None  # made
    assert adopted({"Mine": {a: "a.png", b: "b.png"}, "02-y": {c: "c.png"}}) is None
    assert adopted({"01-x": {a: "a.png"}, "02-y": {c: "c"}, "New": {b: "b.png"}}) is None
    assert adopted({"02-y": {c: "c.png"}}) is None
    assert adopted({"01-x": {a: "a.png", b: "b.png"}, "02-y": {c: "c.png"}}) == {}


def test_found_links_never_walks_into_linked_folders(tmp_path: Path) -> None:
    (tmp_path / "out" / "01-x").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.png").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "02-link")
    os.symlink(tmp_path / "elsewhere" / "a.png", tmp_path / "out" / "01-x" / "a.png")
    assert found_links(tmp_path / "out") == {"01-x": {tmp_path / "elsewhere" / "a.png": "a.png"}}


# the command line


def _cli(root: Path, *args: str) -> None:
    assert main([args[0], "--config", str(root / "autoalbum.yaml"), *args[1:]]) == 0


def test_cli_move_exclude_undo_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _library(tmp_path):
        red, blue = red_and_blue(albums(tmp_path))
    _config_file(tmp_path)
    _cli(tmp_path, "move", str(tmp_path / "photos" / "red1.png"), "--to", blue)
    _cli(tmp_path, "exclude", str(tmp_path / "albums" / red / "red2.png"), "--from", red)
    holds(tmp_path, lambda tree: folder_of(tree, "red1.png") == blue or pytest.fail(str(tree)))
    assert folder_of(albums(tmp_path), "red2.png") != folder_of(albums(tmp_path), "red0.png")
    capsys.readouterr()
    _cli(tmp_path, "corrections")
    listed = capsys.readouterr().out
    assert "red1.png belongs to" in listed and "red2.png is never in" in listed
    _cli(tmp_path, "status")
    assert "corrections: 2" in capsys.readouterr().out
    _cli(tmp_path, "undo", "1")
    with open_library(tmp_path) as library:
        library.recluster()
    assert folder_of(albums(tmp_path), "red1.png") == folder_of(albums(tmp_path), "red0.png")


def test_cli_album_from_examples_and_merge(tmp_path: Path) -> None:
    with _library(tmp_path):
        red, blue = red_and_blue(albums(tmp_path))
    _config_file(tmp_path)
    greens = [photo(tmp_path / "photos" / f"green{i}.png", "green", 400 + i) for i in range(4)]
    with open_library(tmp_path) as library:
        library.index_files()
    _cli(tmp_path, "album", "Greens", *map(str, greens[:3]))
    photo(tmp_path / "photos" / "green9.png", "green", 409)
    with open_library(tmp_path) as library:
        library.index_files()
    tree = albums(tmp_path)
    assert folder_of(tree, "green9.png").lower().endswith("greens")
    with open_library(tmp_path) as library:
        library.recluster()  # photos like the examples, filed before, join too
    assert folder_of(albums(tmp_path), "green3.png").lower().endswith("greens")
    _cli(tmp_path, "merge", red, "--into", blue)
    holds(tmp_path, lambda tree: folder_of(tree, "red0.png") == folder_of(tree, "blue0.png")
          or pytest.fail(str(tree)))  # fmt: skip


def test_a_photo_that_is_not_in_the_library_is_refused(tmp_path: Path) -> None:
    with _library(tmp_path) as library:
        _red, blue = red_and_blue(albums(tmp_path))
        stray = photo(tmp_path / "elsewhere.png", "red", 1)
        with pytest.raises(Exception, match="not an indexed photo"):
            library.move([stray], blue)
        assert library.corrections() == []


def test_config_helper_is_the_colour_librarys() -> None:
    assert config(Path("/r")).cluster.k == 2
