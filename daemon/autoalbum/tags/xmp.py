"""XMP packets with autoalbum's keywords edited in place, every other byte kept.

A packet is parsed safely into elements that know their byte ranges (packet.py), so an edit
replaces only autoalbum's rdf:li items, or a whole property that holds nothing but them
(lists.py, splice.py; persons.py edits persons the same way).
Everything else (other tools' keywords, ratings, edit history, unknown namespaces, comments,
whitespace, quoting) stays exactly as the other tool wrote it, and taking autoalbum's keywords
out again gives back the original bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from autoalbum.tags.lists import ListField, ListProperty, bring, find, plain
from autoalbum.tags.packet import MAX_BYTES, MAX_ELEMENTS, XmpError, parse
from autoalbum.tags.splice import RDF, Edit, Render, apply, descriptions, insert_properties

# The tags' one way in: sidecars take the packet's limits and error from here too.
__all__ = ["EMPTY_PACKET", "MAX_BYTES", "MAX_ELEMENTS", "Retagged", "XmpError", "retag"]

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
class _Keywords(ListField):
    """A keyword field, and how autoalbum's keywords are written in it."""

    separator: str = ""  # between the root and the label; "" for the plain label

    def value(self, root: str, label: str) -> str:
        """The entry of a label, a path of levels (`dog/retriever`) for a sub-album's."""
        if not self.separator:
            return label
        return self.separator.join([root, *label.split("/")])

    def label(self, root: str, text: str) -> str:
        """The label (its path, levels between /) an entry of ours names."""
        return "/".join(text[len(root) + 1 :].split(self.separator))

    def is_ours(self, root: str, text: str) -> bool:
        return bool(self.separator) and (text == root or text.startswith(root + self.separator))


SUBJECT = _Keywords(DC, "subject", "dc", "Bag")
HIERARCHY = _Keywords(LR, "hierarchicalSubject", "lr", "Bag", "|")
TAGS_LIST = _Keywords(DIGIKAM, "TagsList", "digiKam", "Seq", "/")
FIELDS = (SUBJECT, HIERARCHY, TAGS_LIST)


@dataclass(frozen=True)
class Retagged:
    """A packet whose autoalbum entries were brought to what is wanted: the keywords of a set
    of labels (retag), or the names of a photo's persons (persons.py)."""

    data: bytes  # the same object as the input when nothing changed
    added: tuple[str, ...]  # labels (names) that gained entries
    removed: tuple[str, ...]  # labels (names) whose entries went


def _leaves(root: str, properties: dict[ListField, ListProperty]) -> tuple[set[str], set[str]]:
    """The labels autoalbum's hierarchical keywords name now, and the last parts of everyone
    else's: a plain dc:subject keyword is autoalbum's only when it is one and not the other."""
    claimed: set[str] = set()
    foreign: set[str] = set()
    for fld in (HIERARCHY, TAGS_LIST):
        for item in properties[fld].items if fld in properties else ():
            if (text := plain(item)) is None:
                continue
            if fld.is_ours(root, text):
                claimed.update([fld.label(root, text)] if text != root else [])
            else:
                foreign.add(text.rsplit(fld.separator, 1)[-1])
    return claimed, foreign


def retag(data: bytes, root: str, labels: Collection[str]) -> Retagged:
    """`data` with autoalbum's keywords (those under `root`) brought to exactly `labels`;
    XmpError when the packet can't be edited safely."""
    found = descriptions(parse(data))
    properties = find(found, FIELDS)
    claimed, foreign = _leaves(root, properties)
    levels = {level for path in claimed for level in path.split("/")}
    ours: dict[_Keywords, Callable[[str], bool]] = {
        SUBJECT: lambda text: text in levels and text not in foreign,
        HIERARCHY: lambda text: HIERARCHY.is_ours(root, text),
        TAGS_LIST: lambda text: TAGS_LIST.is_ours(root, text),
    }
    edits: list[Edit] = []
    new: list[Render] = []
    for fld in FIELDS:
        if fld is SUBJECT:  # each level of a sub-album's path, as Lightroom exports them
            wanted = sorted({level for label in labels for level in label.split("/")})
        else:
            wanted = [fld.value(root, label) for label in sorted(labels)]
        changes, added = bring(data, fld, properties.get(fld), ours[fld], wanted)
        edits, new = edits + changes, new + added
    home = next(iter(properties.values())).description if properties else found[0]
    edits += insert_properties(data, home, new)
    return Retagged(
        apply(data, edits),
        tuple(sorted(set(labels) - claimed)),
        tuple(sorted(claimed - set(labels))),
    )
