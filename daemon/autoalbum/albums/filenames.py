"""Names in the album tree: album folders made file-name safe, and link entries whose clashes
get "IMG_0001 (2).JPG", compared as the file browsers of macOS and Windows compare them."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from autoalbum.durable import NAME_MAX

MAX_LABEL_CHARS = 60


def _fold(char: str) -> str:
    """Latin letters lose their accents (é -> e, ﬁ -> fi); other scripts are kept whole."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return plain if plain.isascii() else unicodedata.normalize("NFKC", char)


def _safe_label(label: str) -> str:
    folded = "".join(_fold(c) for c in unicodedata.normalize("NFC", label)).lower()
    # Everything but letters and digits, path separators and Windows' <>:"|?* included, is "_".
    words = re.sub(r"[\W_]+", "_", folded).strip("_")
    return words[:MAX_LABEL_CHARS].rstrip("_") or "album"


def folder_name(number: int, label: str, *, width: int = 2) -> str:
    """`03-egyptian_cat`: the number zero-padded to `width`, then the label made file-name safe."""
    return f"{number:0{width}d}-{_safe_label(label)}"


def name_key(name: str) -> str:
    """Names that macOS and Windows file browsers would treat as the same file."""
    return unicodedata.normalize("NFC", name).casefold()


def _within(text: str, room: int) -> str:
    """The longest start of `text` whose file-name bytes fit in `room`, whole characters only
    (an undecodable byte, a lone surrogate, counts one)."""
    used = 0
    for i, char in enumerate(text):
        used += len(os.fsencode(char))
        if used > room:
            return text[:i]
    return text


def _numbered(name: str, n: int) -> str:
    """`name (n).ext`, the stem shortened so that the whole fits in NAME_MAX bytes."""
    dot = name.rfind(".")
    stem, tail = (name[:dot], f" ({n}){name[dot:]}") if dot > 0 else (name, f" ({n})")
    if len(os.fsencode(tail)) >= NAME_MAX:  # an "extension" too long to keep
        stem, tail = name, f" ({n})"
    return _within(stem, NAME_MAX - len(os.fsencode(tail))) + tail


def free_name(name: str, taken: set[str]) -> str:
    """`name`, or the first "name (n).ext" not in `taken` (compared as file browsers do)."""
    candidate, n = name, 2
    while name_key(candidate) in taken:
        candidate, n = _numbered(name, n), n + 1
    taken.add(name_key(candidate))
    return candidate


def link_names(paths: Sequence[str | Path]) -> list[str]:
    """Entry names for `paths`, in order: the original names, clashes made unique.

    By full path, the first photo of each name keeps it; the rest get "IMG_0001 (2).JPG" and
    so on, skipping any name already taken, whatever the order of `paths`.
    """
    full = [os.fspath(path) for path in paths]
    base = [os.path.basename(path) for path in full]
    order = sorted(range(len(full)), key=full.__getitem__)
    names: dict[int, str] = {}
    taken: set[str] = set()
    for i in order:
        key = name_key(base[i])
        if key not in taken:
            names[i] = base[i]
            taken.add(key)
    for i in order:
        if i not in names:
            names[i] = free_name(base[i], taken)
    return [names[i] for i in range(len(full))]
