"""XMP packets with autoalbum's keywords edited in place, every other byte kept.

A packet is parsed safely into elements that know their byte ranges (packet.py), so an edit
replaces only autoalbum's rdf:li items, or a whole property that holds nothing but them.
Everything else (other tools' keywords, ratings, edit history, unknown namespaces, comments,
whitespace, quoting) stays exactly as the other tool wrote it, and taking autoalbum's keywords
out again gives back the original bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from xml.sax.saxutils import escape

from autoalbum.tags.packet import MAX_BYTES, MAX_ELEMENTS, Element, XmpError, end_of_tag, parse

# The tags' one way in: sidecars take the packet's limits and error from here too.
__all__ = ["EMPTY_PACKET", "MAX_BYTES", "MAX_ELEMENTS", "Retagged", "XmpError", "retag"]

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"

# A sidecar autoalbum creates; one left exactly like this holds nothing and may be deleted.
EMPTY_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="autoalbum">\n'
    f' <rdf:RDF xmlns:rdf="{RDF}">\n'
    '  <rdf:Description rdf:about=""\n'
    f'    xmlns:dc="{DC}"\n'
    f'    xmlns:lr="{LR}"\n'
    f'    xmlns:digiKam="{DIGIKAM}">\n'
    "  </rdf:Description>\n"
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>\n'
).encode()


@dataclass(frozen=True)
class _Field:
    uri: str
    name: str
    prefix: str  # the usual prefix, for a property autoalbum adds
    container: str  # rdf:Bag or rdf:Seq
    separator: str  # between the root and the label; "" for the plain label

    @property
    def tag(self) -> str:
        return f"{{{self.uri}}}{self.name}"

    def value(self, root: str, label: str) -> str:
        return f"{root}{self.separator}{label}" if self.separator else label

    def is_ours(self, root: str, text: str) -> bool:
        return bool(self.separator) and (text == root or text.startswith(root + self.separator))


SUBJECT = _Field(DC, "subject", "dc", "Bag", "")
HIERARCHY = _Field(LR, "hierarchicalSubject", "lr", "Bag", "|")
TAGS_LIST = _Field(DIGIKAM, "TagsList", "digiKam", "Seq", "/")
FIELDS = (SUBJECT, HIERARCHY, TAGS_LIST)
_CONTAINERS = {f"{{{RDF}}}{name}" for name in ("Bag", "Seq", "Alt")}


_RDF_TAG, _DESCRIPTION, _LI = (f"{{{RDF}}}{name}" for name in ("RDF", "Description", "li"))
_BY_TAG = {f.tag: f for f in FIELDS}


@dataclass(frozen=True)
class Retagged:
    """A packet whose autoalbum keywords were brought to a set of labels."""

    data: bytes  # the same object as the input when nothing changed
    added: tuple[str, ...]  # labels that gained keywords
    removed: tuple[str, ...]  # labels whose keywords went


@dataclass(frozen=True)
class _Property:
    description: Element
    element: Element
    items: list[Element]  # its rdf:li


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _plain(item: Element) -> str | None:
    """An item's keyword; None for one with attributes or structure, never autoalbum's."""
    return item.text if not item.children and not item.attrs else None


def _items(fld: _Field, element: Element) -> list[Element]:
    """The rdf:li items of a keyword property; XmpError for a shape autoalbum doesn't edit."""
    containers = element.children
    if (
        element.text.strip()
        or any(name.startswith(f"{{{RDF}}}") for name in element.attrs)
        or len(containers) != 1
        or containers[0].tag not in _CONTAINERS
        or containers[0].text.strip()
        or any(item.tag != _LI for item in containers[0].children)
    ):
        raise XmpError(f"{fld.prefix}:{fld.name} is not a plain list of keywords")
    return containers[0].children


def _properties(descriptions: list[Element]) -> dict[_Field, _Property]:
    found: dict[_Field, _Property] = {}
    for description in descriptions:
        if attribute := next((f for f in FIELDS if f.tag in description.attrs), None):
            raise XmpError(f"{attribute.prefix}:{attribute.name} is written as an attribute")
        for child in description.children:
            if (fld := _BY_TAG.get(child.tag)) is None:
                continue
            if fld in found:
                raise XmpError(f"{fld.prefix}:{fld.name} appears twice")
            found[fld] = _Property(description, child, _items(fld, child))
    return found


def _leaves(root: str, properties: dict[_Field, _Property]) -> tuple[set[str], set[str]]:
    """The labels autoalbum's hierarchical keywords name now, and the last parts of everyone
    else's: a plain dc:subject keyword is autoalbum's only when it is one and not the other."""
    claimed: set[str] = set()
    foreign: set[str] = set()
    for fld in (HIERARCHY, TAGS_LIST):
        for item in properties[fld].items if fld in properties else ():
            if (text := _plain(item)) is None:
                continue
            if fld.is_ours(root, text):
                claimed.update([text[len(root) + 1 :]] if text != root else [])
            else:
                foreign.add(text.rsplit(fld.separator, 1)[-1])
    return claimed, foreign


def _plan(
    items: list[Element], ours: Callable[[str], bool], wanted: list[str]
) -> tuple[list[Element], list[str]]:
    """The items to drop and the values to add so that autoalbum's are exactly `wanted`."""
    drop: list[Element] = []
    kept: set[str] = set()
    for item in items:
        text = _plain(item)
        if text is None or not ours(text):
            continue
        if text in wanted and text not in kept:
            kept.add(text)
        else:
            drop.append(item)
    present = {_plain(item) for item in items if item not in drop}
    return drop, [value for value in wanted if value not in present]


def _space_before(data: bytes, at: int) -> int:
    while at > 0 and data[at - 1] in b" \t\r\n":
        at -= 1
    return at


def _gap(data: bytes, element: Element) -> str:
    """The whitespace before `element`: what an item or property added beside it repeats."""
    return data[_space_before(data, element.start) : element.start].decode()


def _line(gap: str) -> str:
    """The line break and indentation that end `gap`."""
    if "\n" not in gap:
        return gap
    return ("\r\n" if "\r\n" in gap else "\n") + gap.rsplit("\n", 1)[1]


def _prefix(scope: dict[str, str], uri: str, usual: str) -> tuple[str, str]:
    """The prefix for `uri` in `scope`, and the declaration to write where it has none. A
    declaration goes on the property itself, so the rest of the packet is never touched."""
    if scope.get(usual) == uri:
        return usual, ""
    bound = [prefix for prefix, known in scope.items() if known == uri]
    return (bound[0], "") if bound else (usual, f' xmlns:{usual}="{uri}"')


def _name(prefix: str, local: str) -> str:
    return f"{prefix}:{local}" if prefix else local


def _fresh(fld: _Field, values: list[str], scope: dict[str, str], line: str) -> str:
    """A new property element holding `values`; `line` is the break and indentation before it
    (none in a packet written on one line)."""
    prefix, declaration = _prefix(scope, fld.uri, fld.prefix)
    rdf = _prefix(scope, RDF, "rdf")[0]  # bound: the scope is an rdf:Description's
    name, container, li = _name(prefix, fld.name), _name(rdf, fld.container), _name(rdf, "li")
    step = " " if "\n" in line else ""
    inner = line + step
    items = "".join(f"{inner}{step}<{li}>{escape(value)}</{li}>" for value in values)
    return f"<{name}{declaration}>{inner}<{container}>{items}{inner}</{container}>{line}</{name}>"


def _edit_property(
    data: bytes, fld: _Field, prop: _Property, drop: list[Element], add: list[str]
) -> list[_Edit]:
    """Drop items and add values; only what changes is touched, down to the whitespace."""
    kept = [item for item in prop.items if item not in drop]
    element = prop.element
    if not kept and not add:
        return [_Edit(_space_before(data, element.start), element.end, "")]
    if not kept:  # nothing but autoalbum's in it: write it afresh
        line = _line(_gap(data, element))
        text = _fresh(fld, add, prop.description.scope, line)
        return [_Edit(element.start, element.end, text)]
    edits = [_Edit(_space_before(data, item.start), item.end, "") for item in drop]
    if add:
        last = kept[-1]
        gap, li = _gap(data, last), _name(_prefix(last.scope, RDF, "rdf")[0], "li")
        text = "".join(f"{gap}<{li}>{escape(value)}</{li}>" for value in add)
        edits.append(_Edit(last.end, last.end, text))
    return edits


def _add_properties(data: bytes, home: Element, new: list[tuple[_Field, list[str]]]) -> list[_Edit]:
    """Insert new properties after the last child of `home` (opening it if it is empty)."""
    if not new:
        return []
    tag_end = end_of_tag(data, home.start)
    if home.children:
        at, gap = home.children[-1].end, _gap(data, home.children[-1])
    else:
        line = _line(_gap(data, home))
        at, gap = tag_end, line + " " if "\n" in line else line
    text = "".join(gap + _fresh(fld, values, home.scope, _line(gap)) for fld, values in new)
    if data[tag_end - 2 : tag_end] != b"/>":
        return [_Edit(at, at, text)]
    qname = data[home.start + 1 :].split(None, 1)[0].split(b"/", 1)[0].decode()
    closing = f">{text}{_line(_gap(data, home))}</{qname}>"
    return [_Edit(tag_end - 2, tag_end, closing)]


def _apply(data: bytes, edits: list[_Edit]) -> bytes:
    if not edits:
        return data
    pieces, at = [], 0
    for edit in sorted(edits, key=lambda edit: (edit.start, edit.end)):
        if edit.start < at:
            raise XmpError("overlapping edits (a bug in autoalbum)")
        pieces += [data[at : edit.start], edit.text.encode()]
        at = edit.end
    pieces.append(data[at:])
    return b"".join(pieces)


def retag(data: bytes, root: str, labels: Collection[str]) -> Retagged:
    """`data` with autoalbum's keywords (those under `root`) brought to exactly `labels`;
    XmpError when the packet can't be edited safely."""
    descriptions = [
        child
        for element in parse(data).walk()
        if element.tag == _RDF_TAG
        for child in element.children
        if child.tag == _DESCRIPTION
    ]
    if not descriptions:
        raise XmpError("no rdf:Description to hold keywords (not an XMP packet)")
    properties = _properties(descriptions)
    claimed, foreign = _leaves(root, properties)
    ours: dict[_Field, Callable[[str], bool]] = {
        SUBJECT: lambda text: text in claimed and text not in foreign,
        HIERARCHY: lambda text: HIERARCHY.is_ours(root, text),
        TAGS_LIST: lambda text: TAGS_LIST.is_ours(root, text),
    }
    edits: list[_Edit] = []
    new: list[tuple[_Field, list[str]]] = []
    for fld in FIELDS:
        wanted = [fld.value(root, label) for label in sorted(labels)]
        prop = properties.get(fld)
        drop, add = _plan(prop.items if prop else [], ours[fld], wanted)
        if prop is not None:
            edits += _edit_property(data, fld, prop, drop, add) if drop or add else []
        elif add:
            new.append((fld, add))
    home = next(iter(properties.values())).description if properties else descriptions[0]
    edits += _add_properties(data, home, new)
    return Retagged(
        _apply(data, edits),
        tuple(sorted(set(labels) - claimed)),
        tuple(sorted(claimed - set(labels))),
    )
