"""People: faces found as photos are indexed, grouped into persons, shown as the People tree.

Real faces (face_photos.py), the real face detector and descriptor, a real catalog and tree;
the scene model is the colour stand-in, which persons don't depend on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autoalbum.albums.sidecar import read_tree
from autoalbum.cli import main
from autoalbum.config import PeopleConfig
from autoalbum.errors import AutoalbumError
from autoalbum.library.library import Library
from autoalbum.library.people import shown_persons
from colour_library import ColourEmbedder, config, config_file
from face_photos import astronaut, crowd, grace, group, noise, save, variants


def _library(root: Path, **people: object) -> Library:
    settings = dataclasses.replace(config(root), people=PeopleConfig(**people))  # type: ignore[arg-type]
    model = ColourEmbedder()
    return Library(settings, lambda: model)  # type: ignore[arg-type,return-value]


def _people_photos(root: Path) -> dict[str, Path]:
    """Four photos of each person (one of Grace turned by EXIF), a group photo of both, and
    photos with no face, a crowd of 40 and one far too small."""
    photos = root / "photos"
    made = {}
    for i, image in enumerate(variants(grace(), 4)):
        made[f"grace{i}"] = save(image, photos / f"grace{i}.jpg", orientation=6 if i == 3 else 1)
    for i, image in enumerate(variants(astronaut(), 4)):
        made[f"eileen{i}"] = save(image, photos / "trip" / f"eileen{i}.jpg")
    made["group"] = save(group(), photos / "group.jpg")
    made["noise"] = save(noise((300, 200)), photos / "noise.jpg")
    made["crowd"] = save(crowd(40), photos / "crowd.jpg")
    made["tiny"] = save(grace().resize((12, 14)), photos / "tiny.jpg")
    return made


def _folders(tree: Path) -> dict[str, set[str]]:
    """Person folder -> the names of the photos linked in it, read as a reader would."""
    read = read_tree(tree)
    assert read is not None
    index, members = read
    folders = {}
    for shelf in index.albums:
        folders[shelf.folder] = {Path(m.path).name for m in members[shelf.number]}
        for m in members[shelf.number]:
            assert (tree / shelf.folder / m.link).resolve() == Path(m.path).resolve()
    return folders


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("people")
    _people_photos(root)
    with _library(root) as library:
        report = library.index_files()
        assert not report.failed
    return root


def test_faces_are_grouped_into_a_folder_per_person(indexed: Path) -> None:
    folders = _folders(indexed / "People")
    grace_photos = {f"grace{i}.jpg" for i in range(4)} | {"group.jpg"}
    eileen_photos = {f"eileen{i}.jpg" for i in range(4)} | {"group.jpg"}
    assert grace_photos in [names - {"crowd.jpg"} for names in folders.values()]
    assert any(eileen_photos <= names for names in folders.values())
    assert "noise.jpg" not in set().union(*folders.values())
    assert all(name.startswith("Person ") for name in folders)


def test_photos_without_faces_or_too_small_cost_no_error(indexed: Path) -> None:
    with _library(indexed) as library:
        catalog = library.catalog
        rows = {
            Path(path.decode()).name: faces
            for path, faces in catalog.db.execute(
                "SELECT f.path, c.faces FROM files f JOIN contents c ON c.id = f.content_id"
            )
        }
    assert rows["noise.jpg"] == 0
    assert rows["tiny.jpg"] == 0
    assert rows["grace3.jpg"] == 1  # turned by EXIF: found upright
    assert rows["group.jpg"] == 2
    assert rows["crowd.jpg"] == 0  # 40 faces too small to find at the default size: no error


def test_a_renamed_person_keeps_the_name_through_reclusters(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        grace_person = next(
            p for p in library.catalog.persons() if p.title in _owner(tmp_path, "grace0.jpg")
        )
        library.people.rename(grace_person.title, "Grace Hopper")
        library.people.write_tree()
        for _ in range(2):
            library.recluster()
        assert "Grace Hopper" in _owner(tmp_path, "grace0.jpg")
        with pytest.raises(AutoalbumError, match="no other person"):
            library.people.rename(_other(library, "Grace Hopper"), "Grace Hopper")
    folders = _folders(tmp_path / "People")
    assert "group.jpg" in folders["Grace Hopper"]


def _owner(root: Path, photo: str) -> set[str]:
    return {folder for folder, names in _folders(root / "People").items() if photo in names}


def _other(library: Library, name: str) -> str:
    return next(p.title for p in library.catalog.persons() if p.title != name)


def test_turning_people_off_deletes_every_face(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        assert library.catalog.face_counts()[1] > 0
    with _library(tmp_path, enabled=False) as library:
        assert library.catalog.face_counts() == (0, 0, 0)
        assert library.catalog.persons() == []
        assert library.catalog.db.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0
    assert not (tmp_path / "People").exists()


def test_people_off_stores_no_face_data(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path, enabled=False) as library:
        library.index_files()
        assert library.catalog.face_counts() == (0, 0, 0)
    assert not (tmp_path / "People").exists()


def test_a_library_from_before_is_caught_up(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path, enabled=False) as library:
        library.index_files()
    with _library(tmp_path) as library:
        assert library.people.unseen() == 12
        assert library.catch_up_faces() == 12
        assert library.people.unseen() == 0
    assert len(_folders(tmp_path / "People")) >= 2


def test_a_new_photo_of_a_known_person_is_linked_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        counted: list[object] = []
        counts = library.catalog.person_counts
        monkeypatch.setattr(
            library.catalog, "person_counts", lambda ids=None: counted.append(ids) or counts(ids)
        )
        save(grace().crop((20, 10, 500, 590)), tmp_path / "photos" / "later.jpg")
        library.index_files()
        assert counted and None not in counted, "the write counted every person's photos"
        assert library.people.shown() == shown_persons(library.catalog, library.config.people)
    assert any(
        {"later.jpg", "grace0.jpg"} <= names for names in _folders(tmp_path / "People").values()
    )


def test_people_lists_persons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _people_photos(tmp_path)
    settings = config_file(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        number = library.people.shown()[0].number
    assert main(["people", "--config", str(settings)]) == 0
    out = capsys.readouterr().out
    assert "12 photos looked at" in out
    assert "Person 0" in out
    assert main(["people", "--config", str(settings), "rename", str(number), "Ann"]) == 0
    assert "Ann" in _folders(tmp_path / "People")


def _person_folders(root: Path) -> tuple[str, str]:
    """The folders of Grace and of Eileen."""
    folders = _folders(root / "People")
    grace_folder = next(f for f, names in folders.items() if "grace0.jpg" in names)
    eileen_folder = next(f for f, names in folders.items() if "eileen0.jpg" in names)
    return grace_folder, eileen_folder


def _link(root: Path, folder: str, photo: str) -> Path:
    return next(p for p in (root / "People" / folder).iterdir() if p.resolve().name == photo)


def test_a_folder_renamed_in_the_file_browser_names_the_person(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        grace_folder, _ = _person_folders(tmp_path)
        (tmp_path / "People" / grace_folder).rename(tmp_path / "People" / "Grace")
        assert library.take_gestures() == 1
        for _ in range(2):
            library.recluster()
        assert "Grace" in {p.title for p in library.catalog.persons()}
    assert "grace0.jpg" in _folders(tmp_path / "People")["Grace"]


def test_a_moved_and_a_deleted_link_stick_through_reclusters(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        grace_folder, eileen_folder = _person_folders(tmp_path)
        moved = _link(tmp_path, grace_folder, "grace2.jpg")
        moved.rename(tmp_path / "People" / eileen_folder / moved.name)
        _link(tmp_path, eileen_folder, "eileen1.jpg").unlink()
        assert library.take_gestures() == 2
        folders = _folders(tmp_path / "People")
        assert "grace2.jpg" in folders[eileen_folder] and "grace2.jpg" not in folders[grace_folder]
        assert "eileen1.jpg" not in folders[eileen_folder]
        library.recluster()
        library.recluster()
    folders = _folders(tmp_path / "People")
    assert "grace2.jpg" in folders[eileen_folder]
    assert "grace2.jpg" not in folders[grace_folder]
    assert "eileen1.jpg" not in folders[eileen_folder]
    assert "eileen0.jpg" in folders[eileen_folder]


def test_moving_every_link_merges_two_persons(tmp_path: Path) -> None:
    _people_photos(tmp_path)
    with _library(tmp_path) as library:
        library.index_files()
        grace_folder, eileen_folder = _person_folders(tmp_path)
        for link in list((tmp_path / "People" / grace_folder).iterdir()):
            target = tmp_path / "People" / eileen_folder / link.name
            if target.exists():
                link.unlink()  # the group photo is there already
            else:
                link.rename(target)
        (tmp_path / "People" / grace_folder).rmdir()
        assert library.take_gestures() >= 4
        library.recluster()
    folders = _folders(tmp_path / "People")
    assert grace_folder not in folders
    assert {f"grace{i}.jpg" for i in range(4)} <= folders[eileen_folder]
