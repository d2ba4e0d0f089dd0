"""Edits to a parsed XMP packet as byte ranges, each matching the whitespace beside it.

Keywords and persons are edited the same way: an item or property autoalbum adds repeats the
line break and indentation of its neighbour, and one it takes out goes with the whitespace
before it, so that taking out what was added gives back the original bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoalbum.tags.packet import Element, XmpError, end_of_tag

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDF_TAG, DESCRIPTION, LI = (f"{{{RDF}}}{name}" for name in ("RDF", "Description", "li"))
CONTAINERS = {f"{{{RDF}}}{name}" for name in ("Bag", "Seq", "Alt")}

# A new property: its text, given the scope it goes into and the line break and indentation
# before it (none in a packet written on one line).
Render = Callable[[dict[str, str], str], str]


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def descriptions(root: Element) -> list[Element]:
    """The packet's rdf:Description elements; XmpError when it has none."""
    found = [
        child
        for element in root.walk()
        if element.tag == RDF_TAG
        for child in element.children
        if child.tag == DESCRIPTION
    ]
    if not found:
        raise XmpError("no rdf:Description to hold keywords (not an XMP packet)")
    return found


def space_before(data: bytes, at: int) -> int:
    while at > 0 and data[at - 1] in b" \t\r\n":
        at -= 1
    return at


def gap(data: bytes, element: Element) -> str:
    """The whitespace before `element`: what an item or property added beside it repeats."""
    return data[space_before(data, element.start) : element.start].decode()


def line(gap: str) -> str:
    """The line break and indentation that end `gap`."""
    if "\n" not in gap:
        return gap
    return ("\r\n" if "\r\n" in gap else "\n") + gap.rsplit("\n", 1)[1]


def step(line: str) -> str:
    """One more level of indentation below `line`; none in a packet written on one line."""
    return " " if "\n" in line else ""


def removal(data: bytes, element: Element) -> Edit:
    """Take `element` out with the whitespace before it."""
    return Edit(space_before(data, element.start), element.end, "")


def prefix(scope: dict[str, str], uri: str, usual: str) -> tuple[str, str]:
    """The prefix for `uri` in `scope`, and the declaration to write where it has none. A
    declaration goes on the element autoalbum adds, so the rest of the packet is never
    touched. The default namespace never serves: attributes would not be in it."""
    if scope.get(usual) == uri:
        return usual, ""
    bound = [name for name, known in scope.items() if known == uri and name]
    return (bound[0], "") if bound else (usual, f' xmlns:{usual}="{uri}"')


def declare(scope: dict[str, str], spaces: dict[str, str]) -> tuple[dict[str, str], str]:
    """The scope inside an element that declares what `spaces` (uri -> usual prefix) lacks in
    `scope`, and those declarations."""
    inner, text = dict(scope), ""
    for uri, usual in spaces.items():
        name, declaration = prefix(inner, uri, usual)
        inner[name], text = uri, text + declaration
    return inner, text


def bound(scope: dict[str, str], uri: str) -> str:
    """The prefix `scope` binds to `uri` (declare() saw to it that one does)."""
    return next(name for name, known in scope.items() if known == uri and name)


def written_name(data: bytes, element: Element) -> str:
    """The element's name as the packet writes it, prefix and all."""
    return data[element.start + 1 :].split(None, 1)[0].split(b"/", 1)[0].split(b">", 1)[0].decode()


def insert_properties(data: bytes, home: Element, renders: list[Render]) -> list[Edit]:
    """Insert new properties after the last child of `home` (opening it if it is empty)."""
    if not renders:
        return []
    tag_end = end_of_tag(data, home.start)
    if home.children:
        at, before = home.children[-1].end, gap(data, home.children[-1])
    else:
        outer = line(gap(data, home))
        at, before = tag_end, outer + step(outer)
    text = "".join(before + render(home.scope, line(before)) for render in renders)
    if data[tag_end - 2 : tag_end] != b"/>":
        return [Edit(at, at, text)]
    closing = f">{text}{line(gap(data, home))}</{written_name(data, home)}>"
    return [Edit(tag_end - 2, tag_end, closing)]


def apply(data: bytes, edits: list[Edit]) -> bytes:
    """`data` with the edits made; the same object when there are none."""
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
