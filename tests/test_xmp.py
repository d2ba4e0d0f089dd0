"""Album keywords in XMP sidecars: written, moved and removed, read back with ExifTool; other
tools' sidecars kept byte for byte; hostile and broken ones refused untouched."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from album_tags import Location, Naming, exiftool, fingerprint, make_photo, tags_config
from autoalbum.config import TagsConfig
from autoalbum.tags.sidecars import Outcome, keyword, sidecar_path, sync_tags
from autoalbum.tags.xmp import EMPTY_PACKET, retag

DIGIKAM_NS = "http://www.digikam.org/ns/1.0/"

# As darktable 4.6 writes it (through Exiv2), plus what other tools may leave: an unknown
# namespace with a structure, a comment, single quotes and a character reference.
DARKTABLE = """\
<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:acme='http://example.com/acme/1.0/'
   exif:DateTimeOriginal="2023:06:01 12:34:56.000"
   xmp:Rating="4"
   xmpMM:DerivedFrom="IMG_0001.jpg"
   darktable:import_timestamp="63822917696000000"
   darktable:change_timestamp="63822917800000000"
   darktable:export_timestamp="-1"
   darktable:print_timestamp="-1"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:auto_presets_applied="1"
   darktable:history_end="3"
   darktable:iop_order_version="4">
   <!-- written by darktable 4.6.1 -->
   <darktable:masks_history>
    <rdf:Seq/>
   </darktable:masks_history>
   <darktable:history>
    <rdf:Seq>
     <rdf:li
      darktable:num="0"
      darktable:operation="colorin"
      darktable:enabled="1"
      darktable:modversion="7"
      darktable:params="gz48eJzjZBgFo4CBAQAEEAAC"
      darktable:multi_name=""
      darktable:multi_name_hand_edited="0"
      darktable:multi_priority="0"
      darktable:blendop_version="14"
      darktable:blendop_params="gz11eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfOyAEQ8bAgAO6RXK"/>
     <rdf:li
      darktable:num="1"
      darktable:operation="exposure"
      darktable:enabled="1"
      darktable:modversion="6"
      darktable:params="00000000000080b93333333f00000000"
      darktable:multi_name="&lt;warm&gt; &amp; bright &#x2014; v2"
      darktable:multi_name_hand_edited="1"
      darktable:multi_priority="0"
      darktable:blendop_version="14"
      darktable:blendop_params="gz11eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfOyAEQ8bAgAO6RXK"/>
     <rdf:li
      darktable:num="2"
      darktable:operation="crop"
      darktable:enabled="1"
      darktable:modversion="1"
      darktable:params="0000000000000000000080"
      darktable:multi_name='crop "tight"'
      darktable:multi_name_hand_edited="0"
      darktable:multi_priority="0"
      darktable:blendop_version="14"
      darktable:blendop_params="gz11eJxjYIAACQYYOOHEgAZY0QVwggZ7CB6pfOyAEQ8bAgAO6RXK"/>
    </rdf:Seq>
   </darktable:history>
   <acme:Workflow rdf:parseType="Resource">
    <acme:Stage>retouch</acme:Stage>
    <acme:Owner>Ann</acme:Owner>
   </acme:Workflow>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
     <rdf:li>Paris</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>darktable|format|jpg</rdf:li>
     <rdf:li>places|France|Paris</rdf:li>
     <rdf:li>holiday</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

# As digiKam 8 writes it: tags in TagsList, one of them Animals/Cat, and an autoalbum keyword
# from an earlier run.
DIGIKAM = """\
<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:MicrosoftPhoto="http://ns.microsoft.com/photo/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmp:Rating="5"
   MicrosoftPhoto:Rating="99">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>Animals/Cat</rdf:li>
     <rdf:li>autoalbum/Old</rdf:li>
     <rdf:li>People/Ann</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <MicrosoftPhoto:LastKeywordXMP>
    <rdf:Bag>
     <rdf:li>Animals/Cat</rdf:li>
     <rdf:li>People/Ann</rdf:li>
    </rdf:Bag>
   </MicrosoftPhoto:LastKeywordXMP>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Animals|Cat</rdf:li>
     <rdf:li>autoalbum|Old</rdf:li>
     <rdf:li>People|Ann</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Cat</rdf:li>
     <rdf:li>Old</rdf:li>
     <rdf:li>Ann</rdf:li>
    </rdf:Bag>
   </dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def keywords(sidecar: Path) -> dict[str, list[str]]:
    """The three keyword fields as ExifTool reads them (absent ones left out)."""
    fields = ["-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList"]
    (record,) = exiftool(*fields, str(sidecar))
    names = ("Subject", "HierarchicalSubject", "TagsList")
    return {
        name: [str(v) for v in (record[name] if isinstance(record[name], list) else [record[name]])]
        for name in names
        if name in record
    }


def everything_else(sidecar: Path) -> dict[str, Any]:
    """Every XMP tag ExifTool reads, structures whole, but for the three keyword fields."""
    (record,) = exiftool("-struct", "-G1", "-XMP:all", str(sidecar))
    skip = {"SourceFile", "XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-digiKam:TagsList"}
    return {k: v for k, v in record.items() if k not in skip}


def ours(label: str) -> dict[str, list[str]]:
    return {
        "Subject": [label],
        "HierarchicalSubject": [f"autoalbum|{label}"],
        "TagsList": [f"autoalbum/{label}"],
    }


# --- the round trip, in every location and naming --------------------------------------------


@pytest.mark.parametrize("location", ["beside", "mirror"])
@pytest.mark.parametrize("naming", ["image.ext.xmp", "image.xmp"])
def test_keywords_follow_the_album_and_go_again(
    tmp_path: Path, location: Location, naming: Naming
) -> None:
    config = tags_config(tmp_path, location, naming)
    photo = make_photo(tmp_path / "photos" / "2023" / "IMG_0001.jpg")
    image = fingerprint(photo)
    sidecar = sidecar_path(photo, config)
    expected_name = "IMG_0001.jpg.xmp" if naming == "image.ext.xmp" else "IMG_0001.xmp"
    folder = (
        photo.parent
        if location == "beside"
        else tmp_path / "mirror" / photo.parent.relative_to("/")
    )
    assert sidecar == folder / expected_name

    report = sync_tags({photo: "Cat"}, config)
    assert [(r.outcome, r.added) for r in report.results] == [(Outcome.CREATED, ("Cat",))]
    assert keywords(sidecar) == ours("Cat")

    report = sync_tags({photo: "Dog"}, config)
    assert [(r.outcome, r.added, r.removed) for r in report.results] == [
        (Outcome.UPDATED, ("Dog",), ("Cat",))
    ]
    assert keywords(sidecar) == ours("Dog"), "the old album's keyword is gone"

    report = sync_tags({photo: None}, config)
    assert [(r.outcome, r.removed) for r in report.results] == [(Outcome.DELETED, ("Dog",))]
    assert not sidecar.exists(), "a sidecar autoalbum made and nothing else filled is deleted"
    if location == "mirror":
        assert list((tmp_path / "mirror").iterdir()) == [], "emptied mirror folders go too"
    assert fingerprint(photo) == image, "the image is never written"
    assert [p.name for p in photo.parent.iterdir()] == ["IMG_0001.jpg"]


def test_a_second_sync_rewrites_nothing(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sync_tags({photo: "Cat"}, config)
    sidecar = sidecar_path(photo, config)
    before = os.stat(sidecar)
    report = sync_tags({photo: "Cat"}, config)
    assert report.having(Outcome.UNCHANGED) == report.results and report.lines() == []
    after = os.stat(sidecar)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_dry_run_reports_and_writes_nothing(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    cat, dog = make_photo(tmp_path / "cat.jpg"), make_photo(tmp_path / "dog.jpg")
    sync_tags({dog: "Dog"}, config)
    dog_sidecar = sidecar_path(dog, config).read_bytes()
    report = sync_tags({cat: "Cat", dog: "Puppy"}, config, dry_run=True)
    assert report.lines() == [
        f"would create {tmp_path / 'cat.jpg.xmp'}: + Cat",
        f"would update {tmp_path / 'dog.jpg.xmp'}: + Puppy, - Dog",
    ]
    assert report.summary().startswith("dry run, nothing written: sidecars: 1 created, 1 updated")
    assert not (tmp_path / "cat.jpg.xmp").exists()
    assert sidecar_path(dog, config).read_bytes() == dog_sidecar


def test_photos_sharing_an_adobe_style_sidecar_get_both_albums(tmp_path: Path) -> None:
    config = tags_config(tmp_path, naming="image.xmp")
    jpeg, raw = make_photo(tmp_path / "IMG_1.jpg"), make_photo(tmp_path / "IMG_1.cr2")
    (result,) = sync_tags({jpeg: "Cat", raw: "Kitten"}, config).results
    assert result.sidecar == tmp_path / "IMG_1.xmp" and set(result.photos) == {jpeg, raw}
    assert keywords(result.sidecar)["TagsList"] == ["autoalbum/Cat", "autoalbum/Kitten"]


def test_labels_become_safe_keywords(tmp_path: Path) -> None:
    assert keyword("Tom & Jerry / Co|x\n<3 ") == "Tom & Jerry - Co-x <3"
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sync_tags({photo: "Tom & Jerry / Co|x\n<3 "}, config)
    assert keywords(sidecar_path(photo, config)) == ours("Tom & Jerry - Co-x <3")


def test_any_photo_name_gets_a_sidecar_or_a_reason(tmp_path: Path) -> None:
    """Names that are not UTF-8 or hold a newline get their sidecar; a name so long that
    ".xmp" would pass 255 bytes is reported, not raised; one just short of it still works."""
    folder = tmp_path / os.fsdecode(b"dir-\xe9\ncard")
    names = [b"caf\xe9.jpg", b"line\nbreak.jpg", b"-dash.jpg", b"b" * 247 + b".jpg"]
    photos = [make_photo(folder / os.fsdecode(name)) for name in names]
    too_long = make_photo(folder / ("a" * 251 + ".jpg"))
    config = tags_config(tmp_path)
    report = sync_tags({photo: os.fsdecode(b"Caf\xe9") for photo in [*photos, too_long]}, config)
    outcomes = {r.photos[0]: (r.outcome, r.reason) for r in report.results}
    assert outcomes.pop(too_long) == (Outcome.FAILED, "File name too long; left untouched")
    assert set(outcomes.values()) == {(Outcome.CREATED, "")}
    for photo in photos:
        assert keywords(Path(f"{photo}.xmp")) == ours("Caf")


# --- other tools' sidecars ----------------------------------------------------------------------


def _after(text: str, anchor: str, insertion: str) -> str:
    assert text.count(anchor) == 1, anchor
    return text.replace(anchor, anchor + insertion)


def _darktable_with(label: str) -> str:
    """DARKTABLE with exactly autoalbum's insertions for `label`, and nothing else changed."""
    text = _after(DARKTABLE, "<rdf:li>Paris</rdf:li>", f"\n     <rdf:li>{label}</rdf:li>")
    hierarchy_end = "<rdf:li>holiday</rdf:li>\n    </rdf:Bag>\n   </lr:hierarchicalSubject>"
    text = text.replace(
        hierarchy_end,
        f"<rdf:li>holiday</rdf:li>\n     <rdf:li>autoalbum|{label}</rdf:li>"
        + hierarchy_end.removeprefix("<rdf:li>holiday</rdf:li>"),
    )
    tags_list = (
        f'\n   <digiKam:TagsList xmlns:digiKam="{DIGIKAM_NS}">\n    <rdf:Seq>\n'
        f"     <rdf:li>autoalbum/{label}</rdf:li>\n    </rdf:Seq>\n   </digiKam:TagsList>"
    )
    return _after(text, "</lr:hierarchicalSubject>", tags_list)


def test_darktable_sidecar_keeps_every_byte_that_is_not_ours(tmp_path: Path) -> None:
    """What is asserted: after each sync the file is the original with only autoalbum's
    rdf:li items (and a TagsList property it adds whole) inserted; ExifTool reads every other
    tag (rating, history, the unknown namespace) as before; removal restores the original
    bytes; the sidecar's permissions stay."""
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_0001.jpg")
    sidecar = sidecar_path(photo, config)
    sidecar.write_bytes(DARKTABLE.encode())
    sidecar.chmod(0o640)
    others = everything_else(sidecar)
    assert others["XMP-xmp:Rating"] == 4 and len(others["XMP-darktable:History"]) == 3

    sync_tags({photo: "Cat"}, config)
    assert sidecar.read_bytes() == _darktable_with("Cat").encode()
    assert keywords(sidecar) == {
        "Subject": ["holiday", "Paris", "Cat"],
        "HierarchicalSubject": [
            "darktable|format|jpg", "places|France|Paris", "holiday", "autoalbum|Cat"
        ],
        "TagsList": ["autoalbum/Cat"],
    }  # fmt: skip
    assert everything_else(sidecar) == others

    sync_tags({photo: "Dog"}, config)
    assert sidecar.read_bytes() == _darktable_with("Dog").encode()
    assert everything_else(sidecar) == others

    (result,) = sync_tags({photo: None}, config).results
    assert (result.outcome, result.removed) == (Outcome.UPDATED, ("Dog",)), "never deleted"
    assert sidecar.read_bytes() == DARKTABLE.encode()
    assert sidecar.stat().st_mode & 0o777 == 0o640


def test_windows_line_ends_are_kept(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_0001.jpg")
    sidecar = sidecar_path(photo, config)
    original = DARKTABLE.replace("\n", "\r\n").encode()
    sidecar.write_bytes(original)
    sync_tags({photo: "Cat"}, config)
    assert sidecar.read_bytes() == _darktable_with("Cat").replace("\n", "\r\n").encode()
    sync_tags({photo: None}, config)
    assert sidecar.read_bytes() == original


def test_digikam_keywords_stay_and_a_shared_plain_keyword_is_theirs(tmp_path: Path) -> None:
    """digiKam's Animals/Cat also puts "Cat" in dc:subject: autoalbum's album Cat reuses it
    and, on removal, leaves it. Its stale autoalbum/Old goes."""
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_0002.jpg")
    sidecar = sidecar_path(photo, config)
    sidecar.write_bytes(DIGIKAM.encode())
    others = everything_else(sidecar)

    (result,) = sync_tags({photo: "Cat"}, config).results
    assert (result.outcome, result.added, result.removed) == (Outcome.UPDATED, ("Cat",), ("Old",))
    assert keywords(sidecar) == {
        "Subject": ["Cat", "Ann"],
        "HierarchicalSubject": ["Animals|Cat", "People|Ann", "autoalbum|Cat"],
        "TagsList": ["Animals/Cat", "People/Ann", "autoalbum/Cat"],
    }
    assert everything_else(sidecar) == others

    sync_tags({photo: None}, config)
    without_old = "".join(line for line in DIGIKAM.splitlines(keepends=True) if "Old" not in line)
    assert sidecar.read_bytes() == without_old.encode()


ODD_BUT_VALID = """\
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
><rdf:Description rdf:about="" xmlns:dc="http://example.com/not-dublin-core/"
 xmlns:DC="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmp:Rating="2" dc:note="not a subject"/></rdf:RDF></x:xmpmeta>
"""


def test_unusual_prefixes_and_an_empty_description(tmp_path: Path) -> None:
    """dc: bound to something else, Dublin Core as DC:, no line breaks between elements and a
    self-closing rdf:Description: the keywords land where ExifTool reads them."""
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_3.jpg")
    sidecar = sidecar_path(photo, config)
    sidecar.write_bytes(ODD_BUT_VALID.encode())
    others = everything_else(sidecar)
    sync_tags({photo: "Cat"}, config)
    assert keywords(sidecar) == ours("Cat")
    assert everything_else(sidecar) == others
    assert (
        b"<DC:subject><rdf:Bag><rdf:li>Cat</rdf:li></rdf:Bag></DC:subject>" in sidecar.read_bytes()
    )
    sync_tags({photo: None}, config)
    assert keywords(sidecar) == {} and everything_else(sidecar) == others


# --- hostile and broken sidecars ---------------------------------------------------------------

_OPENED: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    path = args[0] if event == "open" and args else None
    if isinstance(path, str | bytes | os.PathLike) and "xxe-secret" in os.fsdecode(path):
        _OPENED.append(os.fsdecode(path))


sys.addaudithook(_audit)  # cannot be removed; it only notes opens of the bait file below

PACKET = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:subject><rdf:Bag><rdf:li>{value}</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
HOSTILE = {
    "xxe": '<!DOCTYPE x [<!ENTITY secret SYSTEM "{bait}">]>\n' + PACKET.format(value="&secret;"),
    "external-dtd": '<!DOCTYPE x SYSTEM "{bait}">\n' + PACKET.format(value="x"),
    "parameter-entity": '<!DOCTYPE x [<!ENTITY % p SYSTEM "{bait}"> %p;]>\n'
    + PACKET.format(value="x"),
    "billion-laughs": f'<!DOCTYPE x [<!ENTITY lol0 "lol">{LAUGHS}]>\n'
    + PACKET.format(value="&lol9;"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_sidecars_are_refused_unread(tmp_path: Path, kind: str) -> None:
    bait = tmp_path / "xxe-secret.txt"
    bait.write_text("SECRET-7f3a")
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sidecar = sidecar_path(photo, config)
    sidecar.write_text(HOSTILE[kind].replace("{bait}", bait.as_uri()))
    before = fingerprint(sidecar)
    _OPENED.clear()
    (result,) = sync_tags({photo: "Cat"}, config).results
    assert result.outcome is Outcome.FAILED and "DTD" in result.reason, result.reason
    assert "left untouched" in result.reason and "SECRET" not in result.reason
    assert fingerprint(sidecar) == before
    assert not _OPENED, "the bait file was never opened"
    bait.read_text()
    assert _OPENED, "the audit hook does see opens"


def test_deep_nesting_is_fine_and_a_flood_of_elements_is_refused(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    deep, flood = make_photo(tmp_path / "deep.jpg"), make_photo(tmp_path / "flood.jpg")
    nest = '<acme:n xmlns:acme="http://example.com/acme/1.0/">' + "<acme:n>" * 20_000
    nested = PACKET.format(value="x").replace(
        "</dc:subject>", "</dc:subject>" + nest + "</acme:n>" * 20_001
    )
    sidecar_path(deep, config).write_text(nested)
    sidecar_path(flood, config).write_text(PACKET.format(value="<x:y/>" * 100_001))
    deep_result, flood_result = sync_tags({deep: "Cat", flood: "Cat"}, config).results
    assert deep_result.outcome is Outcome.UPDATED
    assert (
        flood_result.outcome is Outcome.FAILED
        and "more than 100000 elements" in flood_result.reason
    )


def test_malformed_sidecar_is_reported_and_the_rest_still_synced(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    broken, fine = make_photo(tmp_path / "broken.jpg"), make_photo(tmp_path / "fine.jpg")
    sidecar_path(broken, config).write_bytes(DARKTABLE.encode()[:-40])
    before = fingerprint(sidecar_path(broken, config))
    report = sync_tags({broken: "Cat", fine: "Cat"}, config)
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.CREATED]
    assert report.failed[0].reason.startswith("not well-formed XML (")
    assert report.lines()[0].startswith(f"skipped {tmp_path / 'broken.jpg.xmp'}: not well-formed")
    assert fingerprint(sidecar_path(broken, config)) == before
    assert "1 failed" in report.summary()


def _refusal(tmp_path: Path, case: str) -> tuple[Path, TagsConfig]:
    config = tags_config(
        tmp_path, naming="image.xmp" if case == "photo-is-xmp" else "image.ext.xmp"
    )
    photo = make_photo(tmp_path / ("IMG_1.xmp" if case == "photo-is-xmp" else "IMG_1.jpg"))
    sidecar = sidecar_path(photo, config)
    if case == "symlink":
        (tmp_path / "elsewhere.xmp").write_bytes(EMPTY_PACKET)
        sidecar.symlink_to(tmp_path / "elsewhere.xmp")
    elif case == "folder":
        sidecar.mkdir()
    elif case == "utf-16":
        sidecar.write_bytes(PACKET.format(value="x").encode("utf-16"))
    elif case == "attribute":
        sidecar.write_bytes(EMPTY_PACKET.replace(b'rdf:about=""', b'rdf:about="" dc:subject="x"'))
    elif case == "not-xmp":
        sidecar.write_bytes(b"<settings><subject>x</subject></settings>\n")
    elif case == "structured":
        sidecar.write_bytes(
            PACKET.format(value="x").replace("<rdf:Bag>", "<rdf:Bag><x:y/>").encode()
        )
    elif case == "missing-photo":
        photo.unlink()
    return photo, config


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("symlink", "symbolic link"),
        ("folder", "not a file"),
        ("utf-16", "not UTF-8"),
        ("attribute", "dc:subject is written as an attribute"),
        ("not-xmp", "no rdf:Description"),
        ("structured", "dc:subject is not a plain list of text items"),
        ("photo-is-xmp", "would be the photo itself"),
        ("missing-photo", "the photo is missing"),
    ],
)
def test_what_autoalbum_will_not_edit_is_left_alone(tmp_path: Path, case: str, reason: str) -> None:
    photo, config = _refusal(tmp_path, case)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    (result,) = sync_tags({photo: "Cat"}, config).results
    assert result.outcome is Outcome.FAILED and reason in result.reason, result.reason
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files


def test_read_only_sidecar_is_reported_not_replaced(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sync_tags({photo: "Cat"}, config)
    sidecar = sidecar_path(photo, config)
    sidecar.chmod(0o444)
    before = fingerprint(sidecar)
    assert sync_tags({photo: "Cat"}, config).results[0].outcome is Outcome.UNCHANGED
    for label in ("Dog", None):
        for dry_run in (True, False):
            (result,) = sync_tags({photo: label}, config, dry_run=dry_run).results
            assert result.outcome is Outcome.FAILED and "read-only" in result.reason
    assert fingerprint(sidecar) == before and sidecar.stat().st_mode & 0o777 == 0o444


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_reported_with_the_fix(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "photos" / "IMG_1.jpg")
    photo.parent.chmod(0o555)
    try:
        (result,) = sync_tags({photo: "Cat"}, config).results
    finally:
        photo.parent.chmod(0o755)
    assert result.outcome is Outcome.FAILED and "ReadWritePaths=" in result.reason


def test_unwritable_mirror_is_reported(tmp_path: Path) -> None:
    config = tags_config(tmp_path, "mirror")
    (tmp_path / "mirror").write_text("a file where the mirror folder should be")
    photo = make_photo(tmp_path / "IMG_1.jpg")
    (result,) = sync_tags({photo: "Cat"}, config).results
    assert result.outcome is Outcome.FAILED and result.reason.endswith("left untouched")


def test_retag_of_an_unchanged_packet_returns_the_same_bytes() -> None:
    packet = retag(EMPTY_PACKET, "autoalbum", ["Cat"]).data
    again = retag(packet, "autoalbum", ["Cat"])
    assert again.data is packet and (again.added, again.removed) == ((), ())
    assert retag(packet, "autoalbum", []).data == EMPTY_PACKET
    assert retag(packet, "other-root", []).data is packet, "other roots are not ours"
