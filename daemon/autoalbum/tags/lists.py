"""Properties that are lists of text items (keywords, person names), edited item by item.

autoalbum's items are added after the last item there, taken out alone, and a property that
holds nothing but autoalbum's is written afresh or taken out whole; the other items, and every
byte around them, stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar
from xml.sax.saxutils import escape

from autoalbum.tags.packet import Element, XmpError
from autoalbum.tags.splice import (
    CONTAINERS,
    LI,
    RDF,
    Edit,
    Render,
    bound,
    declare,
    gap,
    line,
    removal,
    step,
    written_name,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ListField:
    uri: str
    name: str
    prefix: str  # the usual prefix, for a property autoalbum adds
    container: str  # Bag or Seq

    @property
    def tag(self) -> str:
        return f"{{{self.uri}}}{self.name}"

    @property
    def title(self) -> str:
        return f"{self.prefix}:{self.name}"


@dataclass(frozen=True)
class ListProperty:
    description: Element
    element: Element
    items: list[Element]  # its rdf:li


def plain(item: Element) -> str | None:
    """An item's text; None for one with attributes or structure, never autoalbum's."""
    return item.text if not item.children and not item.attrs else None


def _items(fld: ListField, element: Element) -> list[Element]:
    """The rdf:li items of a list property; XmpError for a shape autoalbum doesn't edit."""
    containers = element.children
    if (
        element.text.strip()
        or any(name.startswith(f"{{{RDF}}}") for name in element.attrs)
        or len(containers) != 1
        or containers[0].tag not in CONTAINERS
        or containers[0].text.strip()
        or any(item.tag != LI for item in containers[0].children)
    ):
        raise XmpError(f"{fld.title} is not a plain list of text items")
    return containers[0].children


def find(
    descriptions: list[Element], fields: tuple[ListField, ...]
) -> dict[ListField, ListProperty]:
    """Where the packet holds each of `fields`; XmpError for one written twice or oddly."""
    by_tag = {fld.tag: fld for fld in fields}
    found: dict[ListField, ListProperty] = {}
    for description in descriptions:
        if attribute := next((f for f in fields if f.tag in description.attrs), None):
            raise XmpError(f"{attribute.title} is written as an attribute")
        for child in description.children:
            if (fld := by_tag.get(child.tag)) is None:
                continue
            if fld in found:
                raise XmpError(f"{fld.title} appears twice")
            found[fld] = ListProperty(description, child, _items(fld, child))
    return found


def plan(
    ours: list[tuple[Element, T]], wanted: list[T], others: Collection[T] = ()
) -> tuple[list[Element], list[T]]:
    """autoalbum's items (each with its value) to drop and the values to add so that its
    values are exactly `wanted`; a value another tool's item holds (`others`) is not added."""
    drop: list[Element] = []
    kept: set[T] = set()
    for item, value in ours:
        if value in wanted and value not in kept:
            kept.add(value)
        else:
            drop.append(item)
    return drop, [value for value in wanted if value not in kept and value not in others]


def fresh(fld: ListField, values: list[str]) -> Render:
    """A new property element holding `values`."""

    def render(scope: dict[str, str], before: str) -> str:
        inner, declarations = declare(scope, {fld.uri: fld.prefix, RDF: "rdf"})
        name, rdf = f"{bound(inner, fld.uri)}:{fld.name}", bound(inner, RDF)
        li, container = f"{rdf}:li", f"{rdf}:{fld.container}"
        down = before + step(before)
        items = "".join(f"{down}{step(before)}<{li}>{escape(value)}</{li}>" for value in values)
        body = f"{down}<{container}>{items}{down}</{container}>"
        return f"<{name}{declarations}>{body}{before}</{name}>"

    return render


def _edit(
    data: bytes, fld: ListField, prop: ListProperty, drop: list[Element], add: list[str]
) -> list[Edit]:
    """Drop items and add values; only what changes is touched, down to the whitespace."""
    kept = [item for item in prop.items if item not in drop]
    element = prop.element
    if not kept and not add:
        return [removal(data, element)]
    if not kept:  # nothing but autoalbum's in it: write it afresh
        text = fresh(fld, add)(prop.description.scope, line(gap(data, element)))
        return [Edit(element.start, element.end, text)]
    edits = [removal(data, item) for item in drop]
    if add:
        last = kept[-1]
        before, li = gap(data, last), written_name(data, last)
        text = "".join(f"{before}<{li}>{escape(value)}</{li}>" for value in add)
        edits.append(Edit(last.end, last.end, text))
    return edits


def bring(
    data: bytes,
    fld: ListField,
    prop: ListProperty | None,
    ours: Callable[[str], bool],
    wanted: list[str],
) -> tuple[list[Edit], list[Render]]:
    """The edits that make autoalbum's items of `fld` exactly `wanted`, and the new property
    to add where the packet has none."""
    texts = [(item, plain(item)) for item in (prop.items if prop else [])]
    mine = [(item, text) for item, text in texts if text is not None and ours(text)]
    others = {text for _, text in texts if text is not None and not ours(text)}
    drop, add = plan(mine, wanted, others)
    if prop is None:
        return [], [fresh(fld, add)] if add else []
    return (_edit(data, fld, prop, drop, add) if drop or add else []), []
