"""A photo's named persons in its XMP sidecar, beside other tools' faces, every other byte kept.

Each named person goes in twice: the name in Iptc4xmpExt:PersonInImage, and the face as an MWG
region (mwg-rs:Regions, which digiKam reads and Immich imports): type Face, the name, and the
box's centre and size as fractions of the photo as displayed (after EXIF orientation), whose
size in pixels is the regions' mwg-rs:AppliedToDimensions.

autoalbum knows its own entries again from the sidecar alone:
- a region is autoalbum's when its structure holds autoalbum:Source, a field in autoalbum's own
  namespace that readers pass over; every other region is another tool's;
- a PersonInImage name is autoalbum's when autoalbum:PersonsAdded, the list autoalbum keeps of
  the names it added there, holds it. A name that was there before (Lightroom's Person Shown,
  a digiKam face) is not added again, and never taken out.
Other tools' regions and names are never touched, and a person another tool's region names
gets no second region. A tool that rewrites the sidecar without autoalbum's marks makes
autoalbum's entries its own: they stay, and are not duplicated.

Regions are fractions of AppliedToDimensions, one size for a whole list. autoalbum adds its
regions to another tool's list only when that size has the photo's shape (the aspect ratio
within 1%: the same picture at another resolution, a raw file beside its JPEG). Otherwise (a
crop, a size taken before rotation, no size, a list autoalbum can't read) its boxes would
point elsewhere, and it writes the names alone. A list of nothing but autoalbum's regions is
autoalbum's: written afresh when anything in it changes, taken out whole when none is left.
Taking out all of autoalbum's entries gives back the original bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

from autoalbum.tags.lists import ListField, ListProperty, bring, find, plain, plan
from autoalbum.tags.packet import Element, XmpError, parse
from autoalbum.tags.splice import (
    CONTAINERS,
    DESCRIPTION,
    LI,
    RDF,
    Edit,
    Render,
    apply,
    bound,
    declare,
    descriptions,
    gap,
    insert_properties,
    line,
    removal,
    step,
)
from autoalbum.tags.xmp import Retagged

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
AUTOALBUM = "http://autoalbum.invalid/ns/1.0/"  # .invalid: a name no other tool can hold

PERSON_IN_IMAGE = ListField(IPTC_EXT, "PersonInImage", "Iptc4xmpExt", "Bag")
PERSONS_ADDED = ListField(AUTOALBUM, "PersonsAdded", "autoalbum", "Bag")
SPACES = {RDF: "rdf", MWG_RS: "mwg-rs", ST_DIM: "stDim", ST_AREA: "stArea", AUTOALBUM: "autoalbum"}
SHAPE_TOLERANCE = 0.01  # relative difference of aspect ratios still taken as the same picture


def _tag(uri: str, local: str) -> str:
    return f"{{{uri}}}{local}"


REGIONS, SIZE, REGION_LIST, NAME, AREA = (
    _tag(MWG_RS, local)
    for local in ("Regions", "AppliedToDimensions", "RegionList", "Name", "Area")
)
SOURCE = _tag(AUTOALBUM, "Source")

Key = tuple[str | None, ...]  # fields as written (None: absent): a region's name, x, y, w, h


@dataclass(frozen=True)
class Region:
    """One named face: its box's centre (x, y) and size (w, h) as fractions of the photo as
    displayed."""

    name: str
    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        if not all(0.0 <= value <= 1.0 for value in (self.x, self.y, self.w, self.h)):
            raise ValueError(f"{self.name}'s box is not within the photo: {self}")

    @property
    def key(self) -> Key:
        return (self.name, *(_number(v) for v in (self.x, self.y, self.w, self.h)))


@dataclass(frozen=True)
class Persons:
    """The named persons in one photo: their faces, and the photo's size in pixels as displayed
    (after EXIF orientation)."""

    width: int
    height: int
    regions: tuple[Region, ...]

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"not a photo's size: {self.width} x {self.height}")

    @property
    def size(self) -> Key:
        return (str(self.width), str(self.height), "pixel")


def _number(value: float) -> str:
    """A fraction as written: six decimals at most, no trailing zeros."""
    return f"{abs(value):.6f}".rstrip("0").rstrip(".")  # abs: no -0


@dataclass(frozen=True)
class _Regions:
    """The packet's mwg-rs:Regions, as far as autoalbum reads it."""

    description: Element
    element: Element
    size: Key  # AppliedToDimensions: w, h, unit
    bag: Element | None  # its RegionList's rdf:Bag; None where autoalbum can't read it
    ours: list[tuple[Element, Key]]
    foreign: list[str | None]  # the names other tools' regions carry

    @property
    def mine(self) -> bool:
        """Whether it holds nothing but autoalbum's regions."""
        return self.bag is not None and bool(self.ours) and not self.foreign

    def fits(self, persons: Persons) -> bool:
        """Whether another tool's regions here are fractions of the photo as displayed too."""
        width, height, unit = self.size
        try:
            ratio = float(width or "") / float(height or "")
        except (ValueError, ZeroDivisionError):
            return False
        wanted = persons.width / persons.height
        close = math.isclose(ratio, wanted, rel_tol=SHAPE_TOLERANCE)
        return self.bag is not None and bool(self.foreign) and unit in (None, "pixel") and close


def _struct(element: Element) -> Element:
    """The element holding a structure's fields: its one rdf:Description, or itself (fields
    as attributes, or as children under rdf:parseType="Resource")."""
    children = element.children
    return children[0] if len(children) == 1 and children[0].tag == DESCRIPTION else element


def _child(struct: Element | None, tag: str) -> Element | None:
    return next((c for c in struct.children if c.tag == tag), None) if struct else None


def _field(struct: Element | None, tag: str) -> str | None:
    """A simple field's value, written as an attribute or as an element."""
    if struct is not None and tag in struct.attrs:
        return struct.attrs[tag]
    child = _child(struct, tag)
    return child.text if child is not None and not child.children else None


def _fields(element: Element | None, uri: str, names: str) -> Key:
    struct = _struct(element) if element is not None else None
    return tuple(_field(struct, _tag(uri, name)) for name in names.split())


def _read(description: Element, element: Element) -> _Regions:
    struct = _struct(element)
    listing = _child(struct, REGION_LIST)
    bags = listing.children if listing is not None else []
    bag = bags[0] if len(bags) == 1 and bags[0].tag in CONTAINERS else None
    if bag is not None and any(item.tag != LI for item in bag.children):
        bag = None
    ours: list[tuple[Element, Key]] = []
    foreign: list[str | None] = []
    for item in bag.children if bag is not None else []:
        fields = _struct(item)
        if _field(fields, SOURCE) is None:
            foreign.append(_field(fields, NAME))
        else:
            box = _fields(_child(fields, AREA), ST_AREA, "x y w h")
            ours.append((item, (_field(fields, NAME), *box)))
    size = _fields(_child(struct, SIZE), ST_DIM, "w h unit")
    return _Regions(description, element, size, bag, ours, foreign)


def _regions(found: list[Element]) -> _Regions | None:
    """The packet's mwg-rs:Regions; XmpError when it has two."""
    held = [(d, child) for d in found for child in d.children if child.tag == REGIONS]
    if len(held) > 1:
        raise XmpError("mwg-rs:Regions appears twice")
    return _read(*held[0]) if held else None


def _wanted(persons: Persons | None, regions: _Regions | None) -> list[Region]:
    """The regions autoalbum's are to be, one per box, none for a name another tool's region
    has, none where another tool's regions are of another frame."""
    if persons is None:
        return []
    if regions is not None and not regions.mine and not regions.fits(persons):
        return []
    taken = set(regions.foreign) if regions else set()
    unique = {r.key: r for r in persons.regions if r.name not in taken}
    return [unique[key] for key in sorted(unique, key=str)]


def _item(region: Region) -> Render:
    """One of autoalbum's regions, as an rdf:li of a RegionList."""

    def render(scope: dict[str, str], before: str) -> str:
        inner, declarations = declare(scope, SPACES)
        rdf, mwg, area, ours = (bound(inner, uri) for uri in (RDF, MWG_RS, ST_AREA, AUTOALBUM))
        box = "".join(f' {area}:{k}="{v}"' for k, v in zip("xywh", region.key[1:], strict=True))
        fields = (
            f"<{mwg}:Type>Face</{mwg}:Type>",
            f"<{mwg}:Name>{escape(region.name)}</{mwg}:Name>",
            f'<{mwg}:Area{box} {area}:unit="normalized"/>',
            f"<{ours}:Source>autoalbum</{ours}:Source>",
        )
        down = before + step(before)
        body = "".join(down + field for field in fields)
        return f'<{rdf}:li {rdf}:parseType="Resource"{declarations}>{body}{before}</{rdf}:li>'

    return render


def _fresh(persons: Persons, regions: list[Region]) -> Render:
    """A new mwg-rs:Regions holding nothing but autoalbum's regions."""

    def render(scope: dict[str, str], before: str) -> str:
        inner, declarations = declare(scope, SPACES)
        rdf, mwg, dim = (bound(inner, uri) for uri in (RDF, MWG_RS, ST_DIM))
        one = step(before)
        down, two, three = before + one, before + 2 * one, before + 3 * one
        size = f'{dim}:w="{persons.width}" {dim}:h="{persons.height}" {dim}:unit="pixel"'
        items = "".join(three + _item(region)(inner, three) for region in regions)
        return (
            f'<{mwg}:Regions {rdf}:parseType="Resource"{declarations}>'
            f"{down}<{mwg}:AppliedToDimensions {size}/>"
            f"{down}<{mwg}:RegionList>{two}<{rdf}:Bag>{items}{two}</{rdf}:Bag>"
            f"{down}</{mwg}:RegionList>{before}</{mwg}:Regions>"
        )

    return render


def _rewrite(
    data: bytes, regions: _Regions, persons: Persons | None, wanted: list[Region]
) -> list[Edit]:
    """autoalbum's own mwg-rs:Regions brought to `wanted`: kept, written afresh or taken out."""
    element = regions.element
    if persons is None or not wanted:
        return [removal(data, element)]
    same = sorted((key for _, key in regions.ours), key=str) == [r.key for r in wanted]
    if same and regions.size == persons.size:
        return []
    text = _fresh(persons, wanted)(regions.description.scope, line(gap(data, element)))
    return [Edit(element.start, element.end, text)]


def _merge(data: bytes, regions: _Regions, wanted: list[Region]) -> list[Edit]:
    """autoalbum's regions in another tool's list brought to `wanted`, item by item."""
    by_key = {region.key: region for region in wanted}
    drop, add = plan(regions.ours, list(by_key))
    edits = [removal(data, item) for item in drop]
    if add and regions.bag is not None:  # another tool's region is always left to follow
        last = [item for item in regions.bag.children if item not in drop][-1]
        before = gap(data, last)
        text = "".join(before + _item(by_key[key])(regions.bag.scope, line(before)) for key in add)
        edits.append(Edit(last.end, last.end, text))
    return edits


def _bring_regions(
    data: bytes, regions: _Regions | None, persons: Persons | None, wanted: list[Region]
) -> tuple[list[Edit], list[Render]]:
    if regions is None:
        return [], [_fresh(persons, wanted)] if persons and wanted else []
    if regions.mine:
        return _rewrite(data, regions, persons, wanted), []
    return _merge(data, regions, wanted), []


def _bring_names(
    data: bytes, lists: dict[ListField, ListProperty], names: list[str]
) -> tuple[list[Edit], list[Render], set[str], set[str]]:
    """The edits that make autoalbum's PersonInImage names `names`, and the names autoalbum's
    list holds before and after."""
    record, shown = lists.get(PERSONS_ADDED), lists.get(PERSON_IN_IMAGE)
    recorded = {text for item in (record.items if record else []) if (text := plain(item))}
    present = {text for item in (shown.items if shown else []) if (text := plain(item))}
    others = present - recorded
    added = [name for name in names if name not in others]
    edits, new = bring(data, PERSON_IN_IMAGE, shown, lambda text: text in recorded, names)
    more_edits, more_new = bring(data, PERSONS_ADDED, record, lambda _text: True, added)
    return edits + more_edits, new + more_new, recorded, set(added)


def retag_persons(data: bytes, persons: Persons | None) -> Retagged:
    """`data` with autoalbum's person names and face regions brought to `persons` (None: no
    named person); XmpError when the packet can't be edited safely."""
    found = descriptions(parse(data))
    lists = find(found, (PERSON_IN_IMAGE, PERSONS_ADDED))
    regions = _regions(found)
    wanted = _wanted(persons, regions)
    names = sorted({region.name for region in persons.regions}) if persons else []
    edits, new, recorded, added = _bring_names(data, lists, names)
    region_edits, region_new = _bring_regions(data, regions, persons, wanted)
    home = next(
        (prop.description for prop in lists.values()), regions.description if regions else found[0]
    )
    edits += region_edits + insert_properties(data, home, new + region_new)
    before = recorded | {key[0] for _, key in regions.ours if key[0]} if regions else recorded
    after = added | {region.name for region in wanted}
    edited = _readable(apply(data, edits), data)
    return Retagged(edited, tuple(sorted(after - before)), tuple(sorted(before - after)))


def _readable(edited: bytes, data: bytes) -> bytes:
    """`edited`, or XmpError where autoalbum's additions would take it past what parse()
    reads again (dozens of faces are far from that; a packet near the limits is not)."""
    if len(edited) > len(data):
        try:
            parse(edited)
        except XmpError as error:
            raise XmpError(f"with autoalbum's persons it would be {error}") from None
    return edited
