"""What kind of photo of people a photo is, by its faces, for naming albums of people.

An album whose photos mostly show faces (at least PEOPLE_SHARE of them) is named by these
kinds instead of by ImageNet's classes, which have none for a person ("suit", "jersey", or
"bobsled" for an astronaut): "portraits" when most hold one big face, "group photos" when most
hold three or more, else "people" (albums/names.py). Below that share the classes name it: a
dog album with some owners in it stays a dog album. Only sure faces count: the detector's
weakest finds are often patterns on clothes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction

from autoalbum.albums.names import GROUP_PHOTOS, PEOPLE, PORTRAITS
from autoalbum.faces.detector import SURE_SCORE

__all__ = ["SURE_SCORE", "photo_kind", "with_people"]

PORTRAIT_AREA = 0.04  # one face covering this share of the photo or more
GROUP = 3  # faces in a group photo
PEOPLE_SHARE = Fraction(2, 3)  # as names.NAME_SHARE: photos of people that make an album of them


def photo_kind(faces: int, biggest: float) -> str | None:
    """A photo's kind by its sure faces' count and the biggest one's share of the frame."""
    if faces >= GROUP:
        return GROUP_PHOTOS
    if faces == 1 and biggest >= PORTRAIT_AREA:
        return PORTRAITS
    return PEOPLE if faces else None


def with_people(
    votes: Sequence[Counter[int]], kinds: Sequence[Sequence[str | None]]
) -> list[Mapping[int | str, int]]:
    """Each album's votes: its photos' kinds when at least PEOPLE_SHARE of them show people,
    else its ImageNet classes. `kinds` lists each album's photos' kinds (None: no face)."""
    result: list[Mapping[int | str, int]] = []
    for album_votes, album_kinds in zip(votes, kinds, strict=True):
        shown: Counter[int | str] = Counter(kind for kind in album_kinds if kind is not None)
        if album_kinds and sum(shown.values()) >= PEOPLE_SHARE * len(album_kinds):
            result.append(shown)
        else:
            result.append(Counter[int | str](album_votes))
    return result
