"""Candidate pairs of near duplicates at a million photos: a join inside the search index's cells.

Asking the index for each photo's near photos (a range search per photo) scans about 16,000
4-bit codes a photo at a million: 10 minutes on 2 cores. Near duplicates are very close, so
they share a cell of the index, or sit in nearby ones. The join uses the index's trained parts
only, its projection and its cells, and compares with matrix products instead of code scans:

1. every photo's vector is projected (256 dimensions, normalised; kept as float16) and the
   PROBES cells nearest it are found; the first is its own;
2. per cell, the photos that probe it are compared with the photos it holds, one matrix
   product, and the pairs whose projected similarity reaches the threshold are candidates (the
   caller scores them exactly). A near pair's projected similarity is at least its own (the
   dimensions left out hold mostly noise): a margin of 0.01 or 0.02 below the threshold found
   no more of the exact method's pairs on the real embeddings, only more candidates.

The work is n x PROBES x (n / cells) x 256 multiply-adds, in BLAS; memory is the projections
(512 bytes a photo) and each cell's block, never an n x n one. Pair recall against the exact
all-pairs method, measured by bench/search.py: see the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.embedder import normalise
from autoalbum.faiss_gpu import inner_products
from autoalbum.library.codes import Codes

PROBES = 16  # cells each photo is compared in: its own and the 15 nearest
BLOCK = 8_192  # probing photos compared with a cell at a time

Rows = NDArray[np.int64]


def cell_pairs(
    chunks: Iterable[Codes],
    count: int,
    parts: tuple[NDArray[np.float32], Any],
    min_similarity: float,
    advance: Callable[[int], None],
    use_gpu: bool = False,
) -> tuple[Rows, Rows]:
    """Row pairs (i < j, rows in the order of `chunks`, `count` in all) whose projected
    similarity is at least `min_similarity` (module doc); `parts` is the index's projection
    and cell quantizer (search_index.parts). `advance` counts each photo twice: projected,
    then compared in its cell. The products run on a GPU where `use_gpu` and
    FAISS sees one (faiss_gpu.py)."""
    projection, quantizer = parts
    probes = min(PROBES, int(quantizer.ntotal))
    projected = np.empty((count, projection.shape[0]), dtype=np.float16)
    cells = np.empty((count, probes), dtype=np.int32)
    at = 0
    for chunk in chunks:
        rows = normalise(normalise(chunk.take(np.arange(len(chunk)))) @ projection.T)
        projected[at : at + len(chunk)] = rows
        cells[at : at + len(chunk)] = quantizer.search(rows, probes)[1]
        at += len(chunk)
        advance(len(chunk))
    count_cells = int(quantizer.ntotal)
    held, held_bounds = _by_cell(cells[:, 0], count_cells)  # each photo in its own cell
    probing, probe_bounds = _by_cell(cells.ravel(), count_cells)  # and in each it probes
    radius = np.float32(min_similarity)
    firsts, seconds = [], []
    for cell in range(count_cells):
        members = held[held_bounds[cell] : held_bounds[cell + 1]]
        if not len(members):
            continue
        advance(len(members))
        block = projected[members].astype(np.float32)
        askers = probing[probe_bounds[cell] : probe_bounds[cell + 1]] // probes  # their rows
        for start in range(0, len(askers), BLOCK):
            asking = askers[start : start + BLOCK]
            products = inner_products(projected[asking].astype(np.float32), block, use_gpu)
            a, b = np.nonzero(products >= radius)
            left, right = asking[a], members[b]
            keep = left != right
            firsts.append(np.minimum(left[keep], right[keep]))
            seconds.append(np.maximum(left[keep], right[keep]))
    empty = np.empty(0, dtype=np.int64)
    first = np.concatenate([empty, *firsts]).astype(np.int64)
    keys = np.unique(first * count + np.concatenate([empty, *seconds]))  # each pair once
    return keys // count, keys % count


def _by_cell(cell_of: NDArray[np.int32], cells: int) -> tuple[NDArray[np.int32], Rows]:
    """The positions of `cell_of` grouped by cell, and where each cell's group starts (cell c:
    order[bounds[c] : bounds[c + 1]])."""
    order = np.argsort(cell_of, kind="stable").astype(np.int32)
    return order, np.searchsorted(cell_of[order], np.arange(cells + 1))
