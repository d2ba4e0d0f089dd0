"""Album names at the level people speak, from the ImageNet top-1 classes of their photos.

Each album is named after the narrowest WordNet synset that covers at least NAME_SHARE of its
votes: a leaf class when one clearly dominates ("tabby"), else the hypernym its classes share
("dog" for a dozen breeds). Synsets too abstract or too technical to name an album are passed
over; when nothing else covers that share, the most common class names the album. Labels are
then made unique by what sets clashing albums apart ("dog (terrier)"), with a number only as a
last resort. The hierarchy is imagenet_hierarchy.tsv, made from WordNet 3.0 by
scripts/imagenet_hierarchy.py.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib import resources

UNLABELLED = "album"
# A synset names an album when at least this share of its photos' top-1 classes fall under it.
NAME_SHARE = Fraction(2, 3)
# A qualifier must cover this much more of its album than of any album it is told apart from.
QUALIFIER_MARGIN = Fraction(1, 5)

# Synsets never used as a name: too abstract to tell an album apart ("entity", "artifact") or
# not the word people use ("placental", "hunting dog"); naming passes on to their hypernyms.
PASSED_OVER = frozenset(
    {
        "n00001740",  # entity
        "n00001930",  # physical entity
        "n00002137",  # abstraction
        "n00002684",  # object
        "n00003553",  # whole
        "n00004258",  # living thing
        "n00004475",  # organism
        "n00007347",  # causal agent
        "n00019128",  # natural object
        "n00020090",  # substance
        "n00020827",  # matter
        "n00021939",  # artifact
        "n03575240",  # instrumentality
        "n03183080",  # device
        "n03094503",  # container
        "n03122748",  # covering
        "n03100490",  # conveyance
        "n03076708",  # commodity
        "n03093574",  # consumer goods
        "n04341686",  # structure
        "n03294048",  # equipment
        "n03563967",  # implement
        "n03574816",  # instrument
        "n15046900",  # solid
        "n13086908",  # plant part
        "n13087625",  # plant organ
        "n11675842",  # reproductive structure
        "n01466257",  # chordate
        "n01471682",  # vertebrate
        "n01886756",  # placental
        "n01661818",  # diapsid
        "n01473806",  # aquatic vertebrate
        "n02206270",  # hymenopterous insect
        "n02087122",  # hunting dog
        "n02103406",  # working dog
        "n02098550",  # sporting dog
    }
)

Votes = Mapping[int, int] | Mapping[str, int] | Mapping[int | str, int]

# Albums of people (faces/kinds.py): names ImageNet lacks, under one synset of their own, so
# that an album of mostly portraits is "portraits", of mixed photos of people "people".
PEOPLE = "people"
PORTRAITS = "portraits"
GROUP_PHOTOS = "group photos"
_PEOPLE_SYNSETS = {PEOPLE: (), PORTRAITS: (PEOPLE,), GROUP_PHOTOS: (PEOPLE,)}


@dataclass(frozen=True)
class Hierarchy:
    """The ImageNet-1k classes and the WordNet synsets above them."""

    names: Mapping[str, str]  # wnid -> name
    classes: Sequence[str]  # class id -> wnid
    leaves: frozenset[str]  # the classes' wnids
    above: Mapping[str, frozenset[str]]  # wnid -> itself and every synset above it
    size: Mapping[str, int]  # wnid -> how many ImageNet classes lie under it
    by_name: Mapping[str, tuple[str, ...]]  # name -> the wnids of that name, classes first

    def up(self, wnid: str) -> frozenset[str]:
        """A synset and all above it; a name ImageNet lacks stands alone."""
        return self.above.get(wnid, frozenset({wnid}))

    def is_leaf(self, wnid: str) -> bool:
        """An ImageNet class, or a name ImageNet lacks."""
        return wnid in self.leaves or wnid not in self.names


@cache
def hierarchy() -> Hierarchy:
    """The table shipped with the package, read once."""
    text = resources.files(__package__).joinpath("imagenet_hierarchy.tsv").read_text("utf-8")
    names: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    classes: dict[int, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            wnid, up, index, name = line.split("\t")
            names[wnid], parents[wnid] = name, up.split(",") if up else []
            if index:
                classes[int(index)] = wnid
    for synset, above_it in _PEOPLE_SYNSETS.items():
        names[synset], parents[synset] = synset, list(above_it)
    leaves = frozenset(classes.values()) | {PORTRAITS, GROUP_PHOTOS}
    above = {wnid: _above(wnid, parents) for wnid in names}
    by_name: dict[str, list[str]] = defaultdict(list)
    for wnid in sorted(names, key=lambda w: (w not in leaves, w)):
        by_name[names[wnid]].append(wnid)
    return Hierarchy(
        names=names,
        classes=[classes[i] for i in range(len(classes))],
        leaves=leaves,
        above=above,
        size=Counter(wnid for leaf in leaves for wnid in above[leaf]),
        by_name={name: tuple(wnids) for name, wnids in by_name.items()},
    )


def _above(wnid: str, parents: Mapping[str, list[str]]) -> frozenset[str]:
    seen = {wnid}
    stack = [wnid]
    while stack:
        for parent in parents[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return frozenset(seen)


def _leaf(key: int | str, tree: Hierarchy) -> str:
    """The synset of a class id or class name; a name ImageNet lacks stands for itself."""
    if isinstance(key, int):
        return tree.classes[key]
    if key in _PEOPLE_SYNSETS:
        return key
    wnids = tree.by_name.get(key, ())
    return wnids[0] if wnids and wnids[0] in tree.leaves else key


def coverage(votes: Votes) -> dict[str, Fraction]:
    """Share of the votes under each synset (a name ImageNet lacks counts as its own synset)."""
    tree = hierarchy()
    counts: dict[str, int] = defaultdict(int)
    for key, count in votes.items():
        leaf = _leaf(key, tree)
        for wnid in tree.up(leaf):
            counts[wnid] += count
    total = sum(votes.values())
    return {wnid: Fraction(count, total) for wnid, count in counts.items()}


def _name_of(wnid: str) -> str:
    return hierarchy().names.get(wnid, wnid)


def _specificity(wnid: str, shares: Mapping[str, Fraction]) -> tuple[int, Fraction, int, str]:
    """Sort key: fewest ImageNet classes under it, largest share, deepest (espresso before
    coffee, which holds only espresso), then the name."""
    tree = hierarchy()
    return (tree.size.get(wnid, 1), -shares[wnid], -len(tree.up(wnid)), _name_of(wnid))


def _subject(votes: Votes) -> str | None:
    """The synset an album is named after; None when it has no votes."""
    if not votes or not sum(votes.values()):
        return None
    shares = coverage(votes)
    covering = [w for w, s in shares.items() if s >= NAME_SHARE and w not in PASSED_OVER]
    if covering:
        return min(covering, key=lambda w: _specificity(w, shares))
    # Nothing nameable covers the album: its most common class is the least bad name.
    tree = hierarchy()
    leaves = {_leaf(key, tree) for key in votes}
    return min(leaves, key=lambda w: (-shares[w], _name_of(w)))


def _label(subject: str | None) -> str:
    return UNLABELLED if subject is None else _name_of(subject)


def album_name(votes: Votes) -> str:
    """One album's name, not yet made unique among its neighbours."""
    return _label(_subject(votes))


def album_names(votes: Sequence[Votes], fixed: Mapping[int, str] | None = None) -> list[str]:
    """Unique names for albums with these votes; `fixed` albums keep the names given."""
    fixed = fixed or {}
    subjects = [_subject(v) for v in votes]
    names = [fixed.get(i) or _label(s) for i, s in enumerate(subjects)]
    clashes: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        clashes[base_name(name)].append(i)
    for group in clashes.values():
        if len(group) > 1:
            for i in group:
                if i not in fixed:
                    names[i] = _qualified(names[i], subjects[i], votes, i, group)
    return _numbered(names, fixed)


def _qualified(
    name: str, subject: str | None, votes: Sequence[Votes], i: int, group: Sequence[int]
) -> str:
    """`dog (terrier)`: what most sets album i apart from the others in its group, either a
    kind of its subject or an ImageNet class; the name unchanged when nothing does."""
    if subject is None:
        return name
    tree = hierarchy()
    mine = coverage(votes[i])
    others = [coverage(votes[j]) for j in group if j != i]
    margins = {
        wnid: share - max(other.get(wnid, Fraction(0)) for other in others)
        for wnid, share in mine.items()
        if (tree.is_leaf(wnid) or subject in tree.up(wnid))
        and wnid not in tree.up(subject)
        and wnid not in PASSED_OVER
        and _name_of(wnid) != name
    }
    apart = [w for w, margin in margins.items() if margin >= QUALIFIER_MARGIN]
    if not apart:
        return name
    # Equal margins: the synset that says the most about the album (terrier, not Norfolk terrier).
    best = min(apart, key=lambda w: (-margins[w], -mine[w], *_specificity(w, mine)))
    return f"{name} ({_name_of(best)})"


def _numbered(names: list[str], fixed: Mapping[int, str]) -> list[str]:
    """Number what is still not unique: `album`, `album 2`, ... (fixed names stay as they are)."""
    taken = set(fixed.values())
    unique = []
    for i, name in enumerate(names):
        label, n = name, 1
        while i not in fixed and label in taken:
            n += 1
            label = f"{name} {n}"
        taken.add(label)
        unique.append(label)
    return unique


def base_name(label: str) -> str:
    """What a label names before any qualifier or number: `dog (terrier) 2` -> `dog`."""
    return re.sub(r"( \(.*\))?( \d+)?$", "", label) or label


def still_fits(label: str, votes: Votes, share: Fraction | float) -> bool:
    """Does the synset a label names still cover at least `share` of these votes?"""
    if not votes or not sum(votes.values()):
        return True
    shares = coverage(votes)
    tree = hierarchy()
    base = base_name(label)
    wnids = tree.by_name.get(base, (base,))
    return max(shares.get(w, Fraction(0)) for w in wnids) >= share


def narrower(label: str, parent: str) -> str:
    """A sub-album's name inside its parent: "retriever", not "dog (retriever)"."""
    prefix = f"{parent} ("
    if label.startswith(prefix) and label.endswith(")") and len(label) > len(prefix) + 1:
        return label[len(prefix) : -1]
    return label


# Between the names of an album's path in a sub-album's label (library/tagging.py, its record
# in the catalog, tags/sidecars.py): a character no album name holds.
LABEL_PATH_SEPARATOR = "\x1f"


def label_path(names: Sequence[str]) -> str:
    """A sub-album's label as tags record it: its albums' names, outermost first."""
    return LABEL_PATH_SEPARATOR.join(names)
