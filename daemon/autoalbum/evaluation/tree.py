"""`autoalbum evaluate --tree`: how well the folders of an existing tree match a folder's labels.

The tree is any folder autoalbum describes with index.json (the Events tree, an album tree); its
folders are scored as they are, nothing is clustered. Labels are the photos' first-level
subfolders of the labelled folder, as for albums. Only photos both in the labelled folder and
known to the tree's index count; a labelled photo in no folder (an event too small for one, a
photo without a date) is scored as a folder of its own, so leaving photos out costs
completeness, never homogeneity.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn import metrics

from autoalbum.albums.sidecar import read_tree
from autoalbum.errors import AutoalbumError
from autoalbum.evaluation.labelled import labelled_images
from autoalbum.printable import printable

UNFILED = ""  # the folder name of photos in no folder


@dataclass(frozen=True)
class LabelRow:
    label: str
    size: int
    folder: str  # the folder most of the label went to; UNFILED for none
    share: float


@dataclass(frozen=True)
class TreeEvaluation:
    images: int  # labelled images scored
    classes: int
    folders: int  # the tree's folders holding at least one of them
    unfiled: int  # of them in no folder, each scored as a folder of its own
    homogeneity: float
    completeness: float
    v_measure: float
    nmi: float
    ari: float
    per_class: tuple[LabelRow, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def tree_folders(tree: Path) -> dict[str, str]:
    """Each photo of the tree (its real path) -> its folder; the first folder if in several."""
    try:
        read = read_tree(tree)
    except ValueError as error:
        raise AutoalbumError(f"{tree}: {error}") from error
    if read is None:
        raise AutoalbumError(f"{tree} has no index.json; --tree needs an Events or album tree")
    index, members = read
    folder_of: dict[str, str] = {}
    for shelf in index.albums:
        for linked in members[shelf.number]:
            folder_of.setdefault(os.path.realpath(linked.path), shelf.folder)
    return folder_of


def evaluate_tree(tree: Path, folder: Path) -> TreeEvaluation:
    """Score the tree's folders against the labels of the photos under `folder`."""
    folder_of = tree_folders(tree)
    paths, names = labelled_images(folder)
    found = [folder_of.get(os.path.realpath(p), UNFILED) for p in paths]
    if all(f == UNFILED for f in found):
        raise AutoalbumError(f"none of the {len(paths)} images under {folder} is in {tree}")
    classes = sorted(set(names))
    truth = np.array([classes.index(n) for n in names], dtype=np.int64)
    folders = sorted({f for f in found if f != UNFILED})
    # Each unfiled photo its own cluster: numbers after the folders'.
    numbers = np.array(
        [folders.index(f) if f != UNFILED else len(folders) + i for i, f in enumerate(found)],
        dtype=np.int64,
    )
    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(
        truth, numbers
    )
    return TreeEvaluation(
        images=len(paths),
        classes=len(classes),
        folders=len(folders),
        unfiled=found.count(UNFILED),
        homogeneity=float(homogeneity),
        completeness=float(completeness),
        v_measure=float(v_measure),
        nmi=float(metrics.normalized_mutual_info_score(truth, numbers)),
        ari=float(metrics.adjusted_rand_score(truth, numbers)),
        per_class=_per_class(classes, names, found),
    )


def _per_class(classes: list[str], names: list[str], found: list[str]) -> tuple[LabelRow, ...]:
    rows = []
    for label in classes:
        where = Counter(f for n, f in zip(names, found, strict=True) if n == label)
        folder, count = where.most_common(1)[0]
        rows.append(LabelRow(label, where.total(), folder, count / where.total()))
    return tuple(rows)


def format_tree_table(result: TreeEvaluation) -> str:
    """The scores and where each label mostly went, as aligned text."""
    rows = [
        ("images", f"{result.images} in {result.classes} labels"),
        ("folders", str(result.folders)),
        ("in no folder", f"{result.unfiled} (each scored as a folder of its own)"),
        ("homogeneity", f"{result.homogeneity:.3f}"),
        ("completeness", f"{result.completeness:.3f}"),
        ("V-measure", f"{result.v_measure:.3f}"),
        ("NMI", f"{result.nmi:.3f}"),
        ("ARI", f"{result.ari:.3f}"),
    ]
    lines = [f"{name:<26}{value}" for name, value in rows]
    lines.append(f"\n{'label':<24}{'images':>7}  {'mostly in folder':<32}{'share':>6}")
    lines += [
        f"{printable(row.label):<24}{row.size:>7}  "
        f"{printable(row.folder or '(no folder)'):<32}{row.share:>6.2f}"
        for row in result.per_class
    ]
    return "\n".join(lines)
