"""Named persons as sidecar faces, kept current by the library like album keywords: naming,
renaming, faces moving between persons, `autoalbum tags` and `--remove`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from album_tags import tags_of
from autoalbum.cli import main
from autoalbum.config import PeopleConfig, TagsConfig
from autoalbum.faces.detector import Box, Face
from autoalbum.library.catalog import Catalog
from autoalbum.library.library import Library
from autoalbum.library.tagging import persons_key, region
from autoalbum.tags.persons import Persons, Region
from colour_library import ColourEmbedder, colour_photos, config, photo
from test_xmp_persons import applied_to, faces, shown

ORIGINAL = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Lightroom">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Beach day</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""
SIZE = (64, 48)  # colour_library's photos
LEFT, RIGHT = Box(0.1, 0.2, 0.3, 0.6), Box(0.5, 0.25, 0.75, 0.75)
LEFT_REGION = (0.2, 0.4, 0.2, 0.4)  # centre and size
RIGHT_REGION = (0.625, 0.5, 0.25, 0.5)


def open_library(root: Path, tags: TagsConfig | None = None, unsorted: float = 0.6) -> Library:
    """Faces are added by hand, so no face is looked for: people off (which deletes faces
    only as the library opens)."""
    settings = dataclasses.replace(
        config(root, unsorted=unsorted),
        tags=tags or TagsConfig(True),
        people=PeopleConfig(enabled=False),
    )
    model = ColourEmbedder()
    return Library(settings, lambda: model)


def add_faces(catalog: Catalog, photo: Path, *boxes: Box) -> list[int]:
    record = catalog.file(photo)
    assert record is not None and record.content_id is not None
    descriptor = np.ones(128, np.float32) / np.sqrt(128)
    found = [Face(box, 20, 0.9, descriptor) for box in boxes]
    with catalog.transaction():
        return catalog.add_faces(record.content_id, found, SIZE)


def person(catalog: Catalog, name: str | None, *face_ids: int) -> int:
    with catalog.transaction():
        person_id = catalog.add_person().id
        catalog.name_person(person_id, name)
        catalog.set_face_persons([(face, person_id) for face in face_ids])
    return person_id


def sidecar(photo: Path) -> Path:
    return photo.with_name(photo.name + ".xmp")


def people_in(folder: Path) -> dict[str, list[str]]:
    """Photo name -> the persons its sidecar shows, for every sidecar that shows any."""
    found = {p.name.removesuffix(".xmp"): shown(p) for p in sorted(folder.rglob("*.xmp"))}
    return {name: persons for name, persons in found.items() if persons}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_named_persons_follow_names_renames_moves_and_go_with_remove(root: Path) -> None:
    red0, red1 = root / "photos" / "red0.png", root / "photos" / "red1.png"
    sidecar(red0).write_bytes(ORIGINAL)  # another tool's, from before
    with open_library(root) as library:
        library.index_files()
        keywords = tags_of(root / "photos")
        catalog = library.catalog
        (face0,) = add_faces(catalog, red0, LEFT)
        left1, right1 = add_faces(catalog, red1, LEFT, RIGHT)
        ann = person(catalog, "Ann", face0, left1)
        bob = person(catalog, None, right1)  # `Person 02`: never written
        library.write_tree()
        assert people_in(root / "photos") == {"red0.png": ["Ann"], "red1.png": ["Ann"]}
        assert faces(sidecar(red0)) == [("Ann", *LEFT_REGION)]
        assert applied_to(sidecar(red0)) == (64, 48, "pixel")
        assert b"Beach day" in sidecar(red0).read_bytes()
        assert tags_of(root / "photos") == keywords, "the keywords stay as they were"

        sidecar(red1).unlink()
        library.write_tree()
        assert not sidecar(red1).exists(), "nothing changed: no sidecar is looked at"
        library.sync_tags()
        assert faces(sidecar(red1)) == [("Ann", *LEFT_REGION)], "sync_all writes persons too"

        library.people.rename("Ann", "Ann Lee")
        library.write_tree()
        assert people_in(root / "photos") == {"red0.png": ["Ann Lee"], "red1.png": ["Ann Lee"]}

        with catalog.transaction():
            catalog.name_person(bob, "Bob")
        library.write_tree()
        assert people_in(root / "photos")["red1.png"] == ["Ann Lee", "Bob"]
        assert faces(sidecar(red1)) == [("Ann Lee", *LEFT_REGION), ("Bob", *RIGHT_REGION)]

        with catalog.transaction():
            catalog.set_face_persons([(left1, bob)])  # the face was Bob's all along
        library.write_tree()
        assert people_in(root / "photos")["red1.png"] == ["Bob"]
        assert faces(sidecar(red1)) == [("Bob", *LEFT_REGION), ("Bob", *RIGHT_REGION)]

        with catalog.transaction():
            catalog.name_person(bob, None)
            catalog.set_face_persons([(face0, None)])
        library.write_tree()
        assert people_in(root / "photos") == {}
        assert tags_of(root / "photos") == keywords
        assert catalog.tagged_persons() == {}, "nothing recorded for photos without persons"

        with catalog.transaction():
            catalog.name_person(bob, "Bob")
            catalog.set_face_persons([(face0, ann)])
        library.write_tree()
        assert people_in(root / "photos") == {"red0.png": ["Ann Lee"], "red1.png": ["Bob"]}
        library.remove_tags()
        assert sidecar(red0).read_bytes() == ORIGINAL
        assert sorted(p.name for p in (root / "photos").rglob("*.xmp")) == ["red0.png.xmp"]
        assert catalog.tagged() == {}


def test_a_photo_in_no_album_carries_its_persons_until_it_leaves(root: Path) -> None:
    green = photo(root / "photos" / "green0.png", "green", 600)  # far from both: _unsorted
    with open_library(root, unsorted=0.3) as library:
        library.index_files()
        assert not sidecar(green).exists()
        person(library.catalog, "Cy", *add_faces(library.catalog, green, RIGHT))
        library.write_tree()
        assert shown(sidecar(green)) == ["Cy"] and "green0.png" not in tags_of(root / "photos")
        assert library.catalog.tagged_persons() == {
            green: (None, persons_key(Persons(64, 48, (Region("Cy", *RIGHT_REGION),))))
        }

        sidecar(green).unlink()
        library.write_tree()
        assert not sidecar(green).exists(), "recorded without a label, yet no change each time"

        library.sync_tags()
        green.unlink()
        library.index_files()
        assert not sidecar(green).exists(), "it left the library: its sidecar went"
        assert library.catalog.tagged_persons() == {}


def test_a_shared_sidecar_keeps_both_albums_and_the_first_photos_persons(root: Path) -> None:
    adobe = TagsConfig(True, naming="image.xmp")
    pair_jpg = photo(root / "photos" / "pair.jpg", "red", 700)
    pair_png = photo(root / "photos" / "pair.png", "blue", 701)
    with open_library(root, adobe) as library:
        library.index_files()
        both = tags_of(root / "photos")["pair"]
        assert len(both) == 2
        person(library.catalog, "Dee", *add_faces(library.catalog, pair_png, LEFT))
        library.write_tree()  # only pair.png's persons changed: pair.jpg's album stays
        pair = root / "photos" / "pair.xmp"
        assert tags_of(root / "photos")["pair"] == both and shown(pair) == ["Dee"]
        person(library.catalog, "Eve", *add_faces(library.catalog, pair_jpg, RIGHT))
        library.write_tree()
        assert tags_of(root / "photos")["pair"] == both
        assert faces(pair) == [("Eve", *RIGHT_REGION)], "regions fit one image: the first's"


def test_the_tags_command_writes_and_removes_persons(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red0 = root / "photos" / "red0.png"
    with open_library(root, TagsConfig(False)) as library:
        library.index_files()
        person(library.catalog, "Ann", *add_faces(library.catalog, red0, LEFT))
    path = root / "autoalbum.yaml"
    path.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 2\ntags:\n  enabled: true\n"
    )
    assert main(["tags", "--config", str(path)]) == 0
    assert f"created {sidecar(red0)}: + album" in capsys.readouterr().out
    assert faces(sidecar(red0)) == [("Ann", *LEFT_REGION)]
    assert main(["tags", "--config", str(path), "--remove"]) == 0
    assert "12 deleted" in capsys.readouterr().out
    assert not list((root / "photos").rglob("*.xmp"))


def test_boxes_become_regions_within_the_photo_and_the_record_is_canonical() -> None:
    assert region("Ann", Box(-0.1, 0.5, 0.3, 1.2)) == Region("Ann", 0.15, 0.75, 0.3, 0.5)
    ann, bob = Region("Ann", 0.2, 0.4, 0.2, 0.4), Region("Bob", 0.5, 0.5, 0.1, 0.1)
    key = persons_key(Persons(64, 48, (bob, ann)))
    assert key == persons_key(Persons(64, 48, (ann, bob)))
    assert key == '[64,48,[["Ann","0.2","0.4","0.2","0.4"],["Bob","0.5","0.5","0.1","0.1"]]]'
    assert key != persons_key(Persons(640, 480, (ann, bob))), "a new size is a change"
