"""Named persons in XMP sidecars: PersonInImage names and MWG face regions written, renamed and
removed, read back with ExifTool; other tools' faces and names kept byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from album_tags import exiftool, fingerprint, make_photo, tags_config
from autoalbum.tags.persons import Persons, Region, retag_persons
from autoalbum.tags.sidecars import Outcome, sidecar_path, sync_tags
from autoalbum.tags.xmp import EMPTY_PACKET

# As digiKam 8 writes faces through Exiv2 (Microsoft and MWG regions, Tom and Ann, 4000 x 3000),
# plus a Person Shown (PersonInImage) typed in Lightroom: Eve, who has no region.
FACES = """\
<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:MP="http://ns.microsoft.com/photo/1.2/"
    xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
    xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>People/Tom</rdf:li>
     <rdf:li>People/Ann</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <MP:RegionInfo rdf:parseType="Resource">
    <MPRI:Regions>
     <rdf:Bag>
      <rdf:li
       MPReg:PersonDisplayName="Tom"
       MPReg:Rectangle="0.1, 0.2, 0.1, 0.15"/>
     </rdf:Bag>
    </MPRI:Regions>
   </MP:RegionInfo>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions
     stDim:w="4000"
     stDim:h="3000"
     stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description
        mwg-rs:Name="Tom"
        mwg-rs:Type="Face">
       <mwg-rs:Area
        stArea:x="0.15"
        stArea:y="0.275"
        stArea:w="0.1"
        stArea:h="0.15"
        stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description
        mwg-rs:Name="Ann"
        mwg-rs:Type="Face">
       <mwg-rs:Area
        stArea:x="0.7"
        stArea:y="0.3"
        stArea:w="0.12"
        stArea:h="0.16"
        stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
   <Iptc4xmpExt:PersonInImage>
    <rdf:Bag>
     <rdf:li>Eve</rdf:li>
    </rdf:Bag>
   </Iptc4xmpExt:PersonInImage>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""
FOREIGN = [("Tom", 0.15, 0.275, 0.1, 0.15), ("Ann", 0.7, 0.3, 0.12, 0.16)]

Face = tuple[str, float, float, float, float]


def persons(*faces: Face, width: int = 4000, height: int = 3000) -> Persons:
    return Persons(width, height, tuple(Region(*face) for face in faces))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def read_back(sidecar: Path) -> dict[str, list[Any]]:
    """PersonInImage and the MWG regions as ExifTool reads them, flattened, absent ones left out."""
    fields = ["-XMP-iptcExt:PersonInImage", "-XMP-mwg-rs:all", "-XMP-autoalbum:all"]
    (record,) = exiftool("-G1", *fields, str(sidecar))
    return {k.split(":")[1]: _list(v) for k, v in record.items() if k != "SourceFile"}


def faces(sidecar: Path) -> list[Face]:
    """The MWG face regions ExifTool reads: name and box, each checked to be a normalized face."""
    found = read_back(sidecar)
    names = found.get("RegionName", [])
    assert found.get("RegionType", []) == ["Face"] * len(names), found
    assert found.get("RegionAreaUnit", []) == ["normalized"] * len(names), found
    boxes = (found.get(f"RegionArea{part}", []) for part in "XYWH")
    return list(zip(names, *boxes, strict=True))


def shown(sidecar: Path) -> list[str]:
    return [str(name) for name in read_back(sidecar).get("PersonInImage", [])]


def applied_to(sidecar: Path) -> tuple[Any, ...]:
    found = read_back(sidecar)
    return tuple(found[f"RegionAppliedToDimensions{part}"][0] for part in ("W", "H", "Unit"))


ANN: Face = ("Ann", 0.5, 0.4, 0.2, 0.3)
BOB: Face = ("Bob", 0.25, 0.125, 0.1, 0.1)


# --- autoalbum's own sidecars ------------------------------------------------------------------


def test_persons_are_written_read_back_and_removed(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sidecar = sidecar_path(photo, config)
    (result,) = sync_tags({photo: "Cat"}, config, persons={photo: persons(ANN, BOB)}).results
    assert (result.outcome, result.added, result.persons_added) == (
        Outcome.CREATED,
        ("Cat",),
        ("Ann", "Bob"),
    )
    assert shown(sidecar) == ["Ann", "Bob"]
    assert faces(sidecar) == [ANN, BOB]
    assert applied_to(sidecar) == (4000, 3000, "pixel")
    (record,) = exiftool("-struct", "-XMP-mwg-rs:RegionInfo", str(sidecar))
    regions = record["RegionInfo"]["RegionList"]
    assert [r["Source"] for r in regions] == ["autoalbum"] * 2, "marked, and read as a field"

    (result,) = sync_tags({photo: None}, config).results
    assert (result.outcome, result.removed, result.persons_removed) == (
        Outcome.DELETED,
        ("Cat",),
        ("Ann", "Bob"),
    )
    assert not sidecar.exists()


def test_add_rename_and_remove_a_person(tmp_path: Path) -> None:
    """Persons alone make a sidecar; each change shows in the report; the last one out
    deletes the sidecar autoalbum made."""
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sidecar = sidecar_path(photo, config)
    steps: list[tuple[tuple[Face, ...], tuple[str, ...], tuple[str, ...]]] = [
        ((ANN,), ("Ann",), ()),
        ((ANN, BOB), ("Bob",), ()),
        ((ANN, ("Robert", *BOB[1:])), ("Robert",), ("Bob",)),  # renamed
        ((("Robert", 0.3, 0.2, 0.1, 0.1),), (), ("Ann",)),  # one gone, one moved
    ]
    for wanted, added, removed in steps:
        (result,) = sync_tags({photo: None}, config, persons={photo: persons(*wanted)}).results
        assert (result.persons_added, result.persons_removed) == (added, removed)
        assert faces(sidecar) == list(wanted)
        assert shown(sidecar) == sorted(face[0] for face in wanted)
    line = sync_tags({photo: None}, config, dry_run=True).lines()
    assert line == [f"would delete {sidecar}: - person Robert"]
    (result,) = sync_tags({photo: None}, config).results
    assert result.outcome is Outcome.DELETED and not sidecar.exists()


def test_forty_faces(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo = make_photo(tmp_path / "IMG_1.jpg")
    crowd = [
        (f"Person {i:02}", (i % 8 + 0.5) / 8, (i // 8 + 0.5) / 5, 0.0625, 0.1) for i in range(40)
    ]
    wanted = {photo: persons(*crowd, width=6000, height=4000)}
    (result,) = sync_tags({photo: "Party"}, config, persons=wanted).results
    sidecar = result.sidecar
    assert len(result.persons_added) == 40 and sidecar.stat().st_size < 32_000
    assert faces(sidecar) == crowd
    assert shown(sidecar) == [face[0] for face in crowd]
    before = fingerprint(sidecar)
    again = sync_tags({photo: "Party"}, config, persons=wanted)
    assert again.having(Outcome.UNCHANGED) == again.results and fingerprint(sidecar) == before
    assert sync_tags({photo: None}, config).results[0].outcome is Outcome.DELETED


def test_a_new_size_rewrites_autoalbums_regions(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "IMG_1.jpg")
    config = tags_config(tmp_path)
    sync_tags({photo: None}, config, persons={photo: persons(ANN)})
    (result,) = sync_tags(
        {photo: None}, config, persons={photo: persons(ANN, width=3000, height=4000)}
    ).results
    assert result.outcome is Outcome.UPDATED and result.persons_added == ()
    assert applied_to(result.sidecar) == (3000, 4000, "pixel")
    assert faces(result.sidecar) == [ANN]


def test_names_are_cleaned_and_shared_sidecars_take_the_first_photos(tmp_path: Path) -> None:
    config = tags_config(tmp_path, naming="image.xmp")
    jpeg, raw = make_photo(tmp_path / "IMG_1.jpg"), make_photo(tmp_path / "IMG_1.cr2")
    wanted = {jpeg: persons(("Ann\n  Lee", *ANN[1:]), ("\x07", *BOB[1:])), raw: persons(BOB)}
    (result,) = sync_tags({jpeg: None, raw: None}, config, persons=wanted).results
    assert faces(result.sidecar) == [BOB], "IMG_1.cr2 comes first"
    (result,) = sync_tags({jpeg: None}, config, persons=wanted).results
    assert faces(result.sidecar) == [("Ann Lee", *ANN[1:])], "a name of controls only is none"


def test_boxes_and_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="not within the photo"):
        Region("Ann", 0.5, 1.2, 0.1, 0.1)
    with pytest.raises(ValueError, match="not within the photo"):
        Region("Ann", float("nan"), 0.5, 0.1, 0.1)
    with pytest.raises(ValueError, match="not a photo's size"):
        Persons(0, 3000, ())


def test_an_unchanged_packet_is_the_same_bytes() -> None:
    packet = retag_persons(EMPTY_PACKET, persons(ANN)).data
    again = retag_persons(packet, persons(ANN))
    assert again.data is packet and (again.added, again.removed) == ((), ())
    assert retag_persons(EMPTY_PACKET, None).data is EMPTY_PACKET
    assert retag_persons(packet, None).data == EMPTY_PACKET


# --- other tools' faces and names ---------------------------------------------------------------


def _with_faces(tmp_path: Path, packet: str = FACES) -> tuple[Path, Path]:
    photo = make_photo(tmp_path / "IMG_1.jpg")
    sidecar = sidecar_path(photo, tags_config(tmp_path))
    sidecar.write_bytes(packet.encode())
    return photo, sidecar


def test_other_tools_faces_and_names_are_kept_and_not_duplicated(tmp_path: Path) -> None:
    """Tom and Ann have digiKam's regions: they get none from autoalbum, only their names.
    Eve is in Lightroom's PersonInImage: she gets a region, not a second name, and keeps her
    name when autoalbum's entries go. The photo at 2000 x 1500 is the same shape as digiKam's
    4000 x 3000: autoalbum's regions join digiKam's list. Everything goes back exactly."""
    config = tags_config(tmp_path)
    photo, sidecar = _with_faces(tmp_path)
    eve: Face = ("Eve", 0.3, 0.6, 0.1, 0.125)
    wanted = {photo: persons(("Tom", 0.2, 0.3, 0.1, 0.1), ANN, eve, BOB, width=2000, height=1500)}
    (result,) = sync_tags({photo: "Cat"}, config, persons=wanted).results
    assert result.persons_added == ("Ann", "Bob", "Eve", "Tom")
    assert faces(sidecar) == [*FOREIGN, BOB, eve]
    assert shown(sidecar) == ["Eve", "Ann", "Bob", "Tom"]
    assert applied_to(sidecar) == (4000, 3000, "pixel"), "digiKam's size stays"
    assert read_back(sidecar)["PersonsAdded"] == ["Ann", "Bob", "Tom"]

    renamed = {photo: persons(("Robert", *BOB[1:]), eve, width=2000, height=1500)}
    (result,) = sync_tags({photo: "Cat"}, config, persons=renamed).results
    assert (result.persons_added, result.persons_removed) == (("Robert",), ("Ann", "Bob", "Tom"))
    assert faces(sidecar) == [*FOREIGN, eve, ("Robert", *BOB[1:])]
    assert shown(sidecar) == ["Eve", "Robert"]

    (result,) = sync_tags({photo: None}, config).results
    assert result.outcome is Outcome.UPDATED and result.persons_removed == ("Eve", "Robert")
    assert sidecar.read_bytes() == FACES.encode(), "byte for byte as digiKam wrote it"


@pytest.mark.parametrize(
    ("case", "old", "new"),
    [
        ("rotated", 'stDim:w="4000"\n     stDim:h="3000"', 'stDim:w="3000"\n     stDim:h="4000"'),
        (
            "no size",
            '<mwg-rs:AppliedToDimensions\n     stDim:w="4000"',
            '<mwg-rs:Other\n     a:w="4000"',
        ),
        (
            "unreadable list",
            "<rdf:Bag>\n      <rdf:li>\n       <rdf:D",
            "<rdf:Bag><a:x/><rdf:li><rdf:D",
        ),
    ],
)
def test_regions_of_another_frame_get_names_only(
    tmp_path: Path, case: str, old: str, new: str
) -> None:
    """Regions are fractions of their list's size: where that is not the photo's shape, or
    can't be read, autoalbum's boxes would point elsewhere; its names still go in."""
    assert FACES.count(old) == 1, case
    packet = FACES.replace(old, new).replace("<rdf:RDF ", '<rdf:RDF xmlns:a="urn:a" ')
    config = tags_config(tmp_path)
    photo, sidecar = _with_faces(tmp_path, packet)
    (result,) = sync_tags({photo: None}, config, persons={photo: persons(BOB)}).results
    assert result.outcome is Outcome.UPDATED and result.persons_added == ("Bob",)
    assert shown(sidecar) == ["Eve", "Bob"]
    assert "Bob" not in read_back(sidecar).get("RegionName", [])
    sync_tags({photo: None}, config)
    assert sidecar.read_bytes() == packet.encode()


# Regions after another tool rewrote the sidecar: Bob, autoalbum's, in that tool's own form and
# with autoalbum's mark kept; Ann, once autoalbum's too, with the mark lost.
REWRITTEN = """\
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:aa="http://autoalbum.invalid/ns/1.0/">
   <mwg-rs:Regions>
    <rdf:Description>
     <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
     <mwg-rs:RegionList>
      <rdf:Bag>
       <rdf:li>
        <rdf:Description mwg-rs:Name="Bob" mwg-rs:Type="Face" aa:Source="autoalbum">
         <mwg-rs:Area stArea:x="0.25" stArea:y="0.125" stArea:w="0.1" stArea:h="0.1"/>
        </rdf:Description>
       </rdf:li>
       <rdf:li mwg-rs:Name="Ann" mwg-rs:Type="Face"/>
      </rdf:Bag>
     </mwg-rs:RegionList>
    </rdf:Description>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_the_mark_makes_a_region_autoalbums_in_any_form(tmp_path: Path) -> None:
    config = tags_config(tmp_path)
    photo, sidecar = _with_faces(tmp_path, REWRITTEN)
    (result,) = sync_tags({photo: None}, config, persons={photo: persons(ANN)}).results
    assert result.persons_removed == ("Bob",), "Bob was autoalbum's and is not wanted now"
    assert read_back(sidecar)["RegionName"] == ["Ann"], "Ann is the other tool's: no second"
    sync_tags({photo: None}, config)
    start = REWRITTEN.index("\n       <rdf:li>\n")
    end = REWRITTEN.index("</rdf:li>", start) + len("</rdf:li>")
    assert sidecar.read_bytes().decode() == REWRITTEN[:start] + REWRITTEN[end:]


def test_autoalbums_entries_survive_a_rewrite_by_exiv2(tmp_path: Path) -> None:
    """digiKam writes sidecars through Exiv2, which rewrites the whole packet in its own form:
    autoalbum's marks come through, so its entries still go and no one else's do."""
    if shutil.which("exiv2") is None:
        pytest.skip("no exiv2 on PATH (apt-get install exiv2)")
    config = tags_config(tmp_path)
    photo, sidecar = _with_faces(tmp_path)
    sync_tags({photo: None}, config, persons={photo: persons(ANN, BOB)})
    subprocess.run(["exiv2", "-M", "set Xmp.xmp.Rating 3", str(sidecar)], check=True)
    assert b'autoalbum:Source="autoalbum"' in sidecar.read_bytes(), "in Exiv2's own form"
    (result,) = sync_tags({photo: None}, config).results
    assert result.persons_removed == ("Ann", "Bob")
    assert faces(sidecar) == FOREIGN and shown(sidecar) == ["Eve"]


def test_a_packet_near_the_limits_is_not_pushed_past_them(tmp_path: Path) -> None:
    flood = '<acme:n xmlns:acme="urn:acme">' + "<acme:m/>" * 99_900 + "</acme:n>"
    packet = EMPTY_PACKET.decode().replace("  </rdf:Description>", flood + "</rdf:Description>")
    config = tags_config(tmp_path)
    photo, sidecar = _with_faces(tmp_path, packet)
    crowd = [(f"P{i}", 0.5, 0.5, 0.1, 0.1) for i in range(40)]
    (result,) = sync_tags({photo: None}, config, persons={photo: persons(*crowd)}).results
    assert result.outcome is Outcome.FAILED, result
    assert "with autoalbum's persons it would be more than 100000 elements" in result.reason
    assert sidecar.read_bytes() == packet.encode()
