"""XMP packets parsed safely, each element with the byte range it occupies in the file.

Parsing goes through defusedxml's expat parser with DTDs forbidden. An XMP packet never needs a
DTD, and without one there is no entity to expand and nothing to fetch: XXE, billion laughs and
external DTDs are refused before anything is read. The parser also says where each element lies
in the file, so that an edit can replace byte ranges and leave every other byte as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser

MAX_BYTES = 16 << 20  # darktable's longest histories are a few hundred KB
MAX_ELEMENTS = 100_000  # bounds the memory a hostile packet of tiny elements can take


class XmpError(Exception):
    """A sidecar autoalbum can't edit safely; the message says why."""


@dataclass(eq=False)
class Element:
    """An element of the packet and the bytes it spans there, `data[start:end]`."""

    tag: str  # {namespace}name
    attrs: dict[str, str]
    scope: dict[str, str]  # prefix -> namespace in force inside the element
    start: int  # offset of its "<"
    end: int = -1  # offset just past its end tag
    children: list[Element] = field(default_factory=list)
    text: str = ""  # its own character data, entities decoded

    def walk(self) -> Iterator[Element]:
        """This element and all below it, in document order; no recursion, as nesting is
        unbounded."""
        pending = [self]
        while pending:
            element = pending.pop()
            yield element
            pending.extend(reversed(element.children))


def end_of_tag(data: bytes, start: int) -> int:
    """Offset just past the tag opening at `start`; a ">" inside a quoted value doesn't end it."""
    quote = 0
    for i in range(start + 1, len(data)):
        if quote:
            quote = 0 if data[i] == quote else quote
        elif data[i] in b"\"'":
            quote = data[i]
        elif data[i] == ord(">"):
            return i + 1
    raise XmpError("a tag never ends")


class _Locator:
    """A parser target that builds the element tree with each element's byte range."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.parser = DefusedXMLParser(target=self, forbid_dtd=True)
        self.stack: list[Element] = []
        self.root: Element | None = None
        self.declared: dict[str, str] = {}
        self.count = 0

    def start_ns(self, prefix: str, uri: str) -> None:
        self.declared[prefix] = uri

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        outer = (
            self.stack[-1].scope if self.stack else {"xml": "http://www.w3.org/XML/1998/namespace"}
        )
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise XmpError(f"more than {MAX_ELEMENTS} elements")
        at = self.parser.parser.CurrentByteIndex
        scope = {**outer, **self.declared} if self.declared else outer  # shared: never changed
        element = Element(tag, dict(attrs), scope, at)
        self.declared = {}
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def end(self, tag: str) -> None:
        element = self.stack.pop()
        tag_end = end_of_tag(self.source, element.start)
        if self.source[tag_end - 2 : tag_end] == b"/>":
            element.end = tag_end
            return
        at = self.parser.parser.CurrentByteIndex
        if self.source[at : at + 2] != b"</":
            raise XmpError(f"could not find the end of {tag}")
        element.end = self.source.index(b">", at) + 1

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1].text += text

    def close(self) -> Element | None:
        return self.root


_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")


def parse(data: bytes) -> Element:
    """The element tree of an XMP packet, or XmpError saying why it is refused."""
    if len(data) > MAX_BYTES:
        raise XmpError(f"larger than {MAX_BYTES >> 20} MB")
    declared = _ENCODING.match(data)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (
        declared and declared[1].lower() not in (b"utf-8", b"utf8", b"us-ascii")
    ):
        raise XmpError("not UTF-8 (autoalbum only edits UTF-8 sidecars)")
    locator = _Locator(data)
    try:
        locator.parser.feed(data)
        root = locator.parser.close()
    except DTDForbidden:
        raise XmpError(
            "it declares a DTD (<!DOCTYPE>), which XMP never has: refused unread, "
            "no entity expanded, nothing fetched"
        ) from None
    except DefusedXmlException as error:
        raise XmpError(f"refused: {error}") from None
    except ParseError as error:
        raise XmpError(f"not well-formed XML ({error})") from None
    if not isinstance(root, Element):
        raise XmpError("not XML")
    return root
