"""Persons from face descriptors: average linkage cut at an absolute distance, then matching.

Two clusters merge while the mean squared distance between their faces is under
CLUSTER_DISTANCE squared (average linkage on squared euclidean distances). That mean is
||mean_a - mean_b||^2 + var_a + var_b, so it comes from each cluster's count, sum and sum of
squared norms: no pair of faces is ever held. Merges go in rounds: clusters that are each
other's nearest merge (for this linkage that alone would give exactly the greedy hierarchy),
and so does a cluster no other finds nearest with its own nearest, which takes a few rounds
where the exact order needs one per face on a big person's fringe (on LFW the two differ by
under 0.02 F1). Candidate pairs come from a FAISS k-NN graph of the faces, then from one of the
clusters. Faces left out then join a person whose centre is within MATCH_DISTANCE. 100,000
synthetic faces take about 7 s and 300 MB on two cores.

Measured on dlib descriptors of LFW (bench/people_methods.py): a person's mean squared
distance does not grow with their number of faces, and merging needs a whole cluster near,
not one face, so the outcome hardly moves with the library: mean best-match F1 0.960, 0.950,
0.951 for 20, 60, 155 persons and 0.934 with every photo there three times, with at most 2.3%
of folders mixing two persons. Chinese whispers (dlib's recipe) at 0.5 scored 0.952, 0.968,
0.898 (5% of folders mixed), at 0.6 0.48; Immich-like DBSCAN at 0.5 0.908 (5% mixed), being
chains of single faces, which grow more likely with every person added. HDBSCAN led on the
plain set (0.972) but fell to 0.19 with the near copies: its density scale moved with the set.
The weak spot here is persons with 4 photos (0.835): three of their faces must lie close.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

log = logging.getLogger(__name__)

# Faces join while their mean distance is under this. On LFW's 155 persons, 0.50 put two persons
# in 3 folders of 168 (0.9% of faces misplaced; one is dlib taking Hu Jintao for Wen Jiabao);
# 0.54 did so in 7 of 158 for the same F1 (exact linkage, no matching), 0.60 in 14 of 149.
CLUSTER_DISTANCE = 0.50
# A face joins a person whose centre lies nearer than this. Held-out LFW faces: 96% joined the
# right person, 0.1% a wrong one, 1.9% of unknown persons' faces a known person. The nearest
# single face does worse at every distance: 0.50 for as many right, but 6.7% of unknowns join.
MATCH_DISTANCE = 0.45
# Fewer faces are no person (a folder needs 3 photos) and stay unassigned, unless a user named
# them: a face far from everyone is never forced into a person.
MIN_FACES = 3
NEIGHBOURS = 16  # k of the face k-NN graph, candidate merges only: on LFW 16 and 32 give the same
EXACT_SEARCH_MAX = 20_000  # above this many vectors, an IVF index replaces exact search
IVF_LISTS, IVF_PROBES, IVF_TRAINING = 512, 8, 16  # lists, lists searched, samples per list
EDGE_CHUNK = 65_536  # edges whose linkage is computed at once: bounds the memory

Matrix = NDArray[np.float32]
Labels = NDArray[np.int64]
Edges = NDArray[np.int64]  # (e, 2) cluster or face indices, each row sorted, rows unique


@dataclass
class _Clusters:
    """Each cluster's size, sum and sum of squared norms; `named` marks must-link groups."""

    count: NDArray[np.float64]
    total: NDArray[np.float64]
    squares: NDArray[np.float64]
    named: NDArray[np.bool_]

    def moments(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each cluster's centre and mean squared distance of its faces from it."""
        count = np.maximum(self.count, 1)
        centres = self.total / count[:, None]
        return centres, np.maximum(self.squares / count - (centres**2).sum(1), 0.0)


def cluster_faces(
    descriptors: Matrix,
    *,
    cluster_distance: float = CLUSTER_DISTANCE,
    match_distance: float = MATCH_DISTANCE,
    min_faces: int = MIN_FACES,
    must_link: Sequence[Sequence[int]] = (),
    cannot_link: Sequence[tuple[int, int]] = (),
) -> Labels:
    """A person number per face (0, 1, ... by first face), -1 for faces that join no one.

    Each must_link group (overlapping groups are joined) is one person, kept whatever its size
    and never merged with another group; faces in a cannot_link pair never share a person.
    """
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    n = len(x)
    groups = _group_of(n, must_link)
    cannot = _unique_pairs(_faces(n, cannot_link, "cannot_link"))
    if (groups[cannot[:, 0]] == groups[cannot[:, 1]]).any():
        raise ValueError("a cannot_link pair lies inside one must_link group")
    if n == 0:
        return np.zeros(0, np.int64)
    named = np.zeros(n, bool)
    named[[face for group in must_link for face in group]] = True
    clusters = _initial_clusters(x, groups, named)
    edges = _unique_pairs(groups[_neighbour_pairs(x, cluster_distance)])
    owner = _agglomerate(groups, clusters, edges, groups[cannot], cluster_distance**2)
    labels = _attach(x, _drop_small(owner, named, min_faces), match_distance)
    labels = _numbered(_undo_conflicts(labels, owner, cannot))
    log.debug("%d faces: %d persons, %d unassigned", n, labels.max() + 1, (labels < 0).sum())
    return labels


def nearest_person(
    descriptor: Matrix,
    person_descriptors: Matrix,
    person_ids: NDArray[np.int64],
    *,
    match_distance: float = MATCH_DISTANCE,
) -> int | None:
    """The person whose centre is nearest the face, if nearer than match_distance.

    person_descriptors are the faces of the known persons, person_ids whose each one is (faces
    with a negative id, such as cluster_faces' unassigned ones, are left out).
    """
    found = nearest_persons(
        np.asarray(descriptor, np.float32).reshape(1, -1),
        person_descriptors,
        person_ids,
        match_distance=match_distance,
    )
    return None if found[0] < 0 else int(found[0])


def nearest_persons(
    descriptors: Matrix,
    person_descriptors: Matrix,
    person_ids: NDArray[np.int64],
    *,
    match_distance: float = MATCH_DISTANCE,
) -> Labels:
    """nearest_person for many faces: a person id each, -1 where none is near enough."""
    ids = np.asarray(person_ids, np.int64)
    held = ids >= 0
    if not held.any() or len(descriptors) == 0:
        return np.full(len(descriptors), -1, np.int64)
    people, rows = np.unique(ids[held], return_inverse=True)
    centres = _centres(np.asarray(person_descriptors)[held], rows)
    distance, index = _nearest_centre(np.asarray(descriptors, np.float32), centres)
    return np.where(distance < match_distance**2, people[index], -1).astype(np.int64)


# --- the graph -------------------------------------------------------------------------------


def _search(base: Matrix, queries: Matrix, k: int) -> tuple[Matrix, NDArray[np.int64]]:
    """k nearest rows of base per query (squared distances), exact for small bases."""
    d = base.shape[1]
    if len(base) <= EXACT_SEARCH_MAX:
        index: faiss.Index = faiss.IndexFlatL2(d)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, IVF_LISTS)
        index.cp.max_points_per_centroid = IVF_TRAINING  # faiss samples with a fixed seed
        index.train(base)
        index.nprobe = IVF_PROBES
    index.add(base)
    distance, found = index.search(queries, min(k, len(base)))
    return distance, found.astype(np.int64)


def _neighbour_pairs(x: Matrix, radius: float) -> Edges:
    """Pairs of faces, each among the other's NEIGHBOURS nearest, nearer than radius."""
    distance, found = _search(x, x, NEIGHBOURS + 1)
    rows = np.repeat(np.arange(len(x)), found.shape[1])
    keep = (found.ravel() >= 0) & (distance.ravel() < radius * radius)
    return np.stack([rows[keep], found.ravel()[keep]], axis=1)


def _unique_pairs(pairs: Edges) -> Edges:
    """Rows sorted within, self pairs dropped, duplicates dropped."""
    pairs = np.sort(pairs.reshape(-1, 2), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return pairs
    width = int(pairs.max()) + 1
    keys = np.sort(pairs[:, 0] * width + pairs[:, 1])
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return np.stack([keys // width, keys % width], axis=1)


# --- agglomeration -----------------------------------------------------------------------------


def _faces(n: int, pairs: Sequence[Sequence[int]], name: str) -> Edges:
    """Pairs of face indices as an (e, 2) array; ValueError if one is not a face."""
    out = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(out) and (out.min() < 0 or out.max() >= n):
        raise ValueError(f"{name} names a face outside 0..{n - 1}")
    return out


def _group_of(n: int, must_link: Sequence[Sequence[int]]) -> Labels:
    """A starting cluster per face: must_link groups (joined where they overlap), else itself."""
    links = [(group[0], face) for group in must_link if len(group) for face in group]
    pairs = _faces(n, links, "must_link")
    if not len(pairs):
        return np.arange(n, dtype=np.int64)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    components: Labels = connected_components(graph, directed=False)[1].astype(np.int64)
    return components


def _initial_clusters(x: Matrix, groups: Labels, named: NDArray[np.bool_]) -> _Clusters:
    """The sums of each starting cluster."""
    m = int(groups.max()) + 1
    values = x.astype(np.float64)
    total = np.zeros((m, x.shape[1]))
    np.add.at(total, groups, values)
    return _Clusters(
        count=np.bincount(groups, minlength=m).astype(np.float64),
        total=total,
        squares=np.bincount(groups, (values**2).sum(1), minlength=m).astype(np.float64),
        named=np.bincount(groups, named, minlength=m) > 0,
    )


def _agglomerate(
    groups: Labels, clusters: _Clusters, edges: Edges, cannot: Edges, limit: float
) -> Labels:
    """Merge clusters along edges under limit until none are left; a cluster per face.

    When the face graph offers no more merges, the cluster centres' own k-NN adds candidates
    once: two halves of one person need not hold a pair of faces that are k-NN of each other.
    """
    owner = np.arange(len(clusters.count), dtype=np.int64)
    cannot = _unique_pairs(cannot)
    edges, linkage = _allowed(edges, clusters, cannot, limit)
    refreshed = False
    while True:
        parent = _merge_round(edges, linkage, clusters, cannot, limit)
        if (parent != np.arange(len(parent))).any():
            owner, cannot = parent[owner], _unique_pairs(parent[cannot])
            edges, linkage = _rewire(edges, linkage, parent, clusters, cannot, limit)
            refreshed = False
        elif refreshed:
            return owner[groups]
        else:
            edges = _unique_pairs(np.concatenate([edges, _centre_pairs(owner, clusters)]))
            edges, linkage = _allowed(edges, clusters, cannot, limit)
            refreshed = True


def _merge_round(
    edges: Edges, linkage: NDArray[np.float64], clusters: _Clusters, cannot: Edges, limit: float
) -> Labels:
    """One round of merges, as a parent per cluster.

    Clusters that are each other's nearest merge. Then each leaf (a cluster no other finds
    nearest) joins what its nearest has become, if still under limit: otherwise a big cluster
    would take its fringe one face per round. Leaves named by a user or in a cannot_link pair
    wait for a pair of their own, so that two of them never join one cluster at once.
    """
    m = len(clusters.count)
    best = _nearest(edges, linkage, m)
    has = np.flatnonzero(best >= 0)
    first = has[(best[best[has]] == has) & (has < best[has])]
    parent = np.arange(m, dtype=np.int64)
    _fold(clusters, parent, first, best[first])
    pointed = clusters.named.copy()
    pointed[cannot.ravel()] = True
    pointed[best[has]] = True
    leaves = has[~pointed[has]]
    targets = parent[best[leaves]]
    near = _linkage(np.stack([leaves, targets], axis=1), clusters) < limit
    _fold(clusters, parent, targets[near], leaves[near])
    return parent


def _fold(clusters: _Clusters, parent: Labels, into: Labels, gone: Labels) -> None:
    """Add each gone cluster's sums to its into cluster (several may share one) and point it."""
    for values in (clusters.count, clusters.total, clusters.squares):
        np.add.at(values, into, values[gone])
        values[gone] = 0
    np.logical_or.at(clusters.named, into, clusters.named[gone])
    parent[gone] = into


def _nearest(edges: Edges, linkage: NDArray[np.float64], m: int) -> Labels:
    """Each cluster's nearest neighbour along edges (ties: the smaller index), else -1."""
    source = np.concatenate([edges[:, 0], edges[:, 1]])
    target = np.concatenate([edges[:, 1], edges[:, 0]])
    both = np.concatenate([linkage, linkage])
    least = np.full(m, np.inf)
    np.minimum.at(least, source, both)
    tied = both == least[source]
    best = np.full(m, m, np.int64)
    np.minimum.at(best, source[tied], target[tied])
    return np.where(best < m, best, -1)


def _rewire(
    edges: Edges,
    linkage: NDArray[np.float64],
    parent: Labels,
    clusters: _Clusters,
    cannot: Edges,
    limit: float,
) -> tuple[Edges, NDArray[np.float64]]:
    """Edges after a round: those touching a merged cluster recomputed, the rest kept."""
    changed = np.zeros(len(parent), bool)
    changed[parent[parent != np.arange(len(parent))]] = True
    edges = np.sort(parent[edges], axis=1)
    moved = changed[edges[:, 0]] | changed[edges[:, 1]]
    fresh, fresh_linkage = _allowed(_unique_pairs(edges[moved]), clusters, cannot, limit)
    return (
        np.concatenate([edges[~moved], fresh]),
        np.concatenate([linkage[~moved], fresh_linkage]),
    )


def _linkage(edges: Edges, clusters: _Clusters) -> NDArray[np.float64]:
    """Mean squared distance between the faces of each edge's two clusters."""
    centres, spread = clusters.moments()
    centres = centres.astype(np.float32)
    out = spread[edges[:, 0]] + spread[edges[:, 1]]
    for start in range(0, len(edges), EDGE_CHUNK):
        a, b = edges[start : start + EDGE_CHUNK].T
        out[start : start + len(a)] += ((centres[a] - centres[b]) ** 2).sum(1)
    return out


def _allowed(
    edges: Edges, clusters: _Clusters, cannot: Edges, limit: float
) -> tuple[Edges, NDArray[np.float64]]:
    """Edges that may still merge, with their linkage: under limit (a merged cluster's linkage
    averages its parts', so an edge over it never comes back under), not between two named
    groups, not across a cannot_link pair."""
    linkage = _linkage(edges, clusters)
    keep = linkage < limit
    keep &= ~(clusters.named[edges[:, 0]] & clusters.named[edges[:, 1]])
    if len(cannot) and len(edges):
        keep &= ~_contains(cannot, edges)
    return edges[keep], linkage[keep]


def _contains(table: Edges, rows: Edges) -> NDArray[np.bool_]:
    """Whether each of rows is a row of table (both with sorted, non-negative rows)."""
    width = int(max(table.max(), rows.max())) + 1
    return np.isin(rows[:, 0] * width + rows[:, 1], table[:, 0] * width + table[:, 1])


def _centre_pairs(owner: Labels, clusters: _Clusters) -> Edges:
    """Each cluster of two or more faces with its NEIGHBOURS nearest by linkage: the squared
    distance of [centre, 0] to [centre, sqrt(spread)] is the linkage less the query's spread."""
    alive = np.unique(owner)
    alive = alive[clusters.count[alive] >= 2]
    if len(alive) < 2:
        return np.zeros((0, 2), np.int64)
    centres, spread = (values[alive] for values in clusters.moments())
    root = np.sqrt(spread)[:, None]
    base = np.hstack([centres, root]).astype(np.float32)
    queries = np.hstack([centres, np.zeros_like(root)]).astype(np.float32)
    found = _search(base, queries, NEIGHBOURS + 1)[1]
    rows = np.repeat(np.arange(len(alive)), found.shape[1])
    keep = found.ravel() >= 0
    return _unique_pairs(alive[np.stack([rows[keep], found.ravel()[keep]], axis=1)])


# --- persons from clusters ---------------------------------------------------------------------


def _drop_small(owner: Labels, named: NDArray[np.bool_], min_faces: int) -> Labels:
    """Clusters of fewer than min_faces faces, unless named by a user, become -1."""
    size = np.bincount(owner)
    held = np.bincount(owner, named, minlength=len(size)) > 0
    return np.where((size[owner] >= min_faces) | held[owner], owner, -1)


def _attach(x: Matrix, labels: Labels, match_distance: float) -> Labels:
    """Unassigned faces join the person whose centre is within match_distance."""
    loose, held = labels < 0, labels >= 0
    if not loose.any() or not held.any():
        return labels
    out = labels.copy()
    out[loose] = nearest_persons(x[loose], x[held], labels[held], match_distance=match_distance)
    return out


def _undo_conflicts(labels: Labels, owner: Labels, cannot: Edges) -> Labels:
    """Faces attached into a person holding a face they cannot share one with stay apart."""
    if not len(cannot):
        return labels
    a, b = cannot.T
    clash = (labels[a] == labels[b]) & (labels[a] >= 0)
    attached = (labels >= 0) & (labels != owner)
    out = labels.copy()
    for ends in (a[clash], b[clash]):
        out[ends[attached[ends]]] = -1
    return out


def _numbered(labels: Labels) -> Labels:
    """Persons renumbered 0, 1, ... in the order of their first face."""
    held = labels >= 0
    if not held.any():
        return labels
    persons, first, rows = np.unique(labels[held], return_index=True, return_inverse=True)
    rank = np.empty(len(persons), np.int64)
    rank[np.argsort(first)] = np.arange(len(persons))
    out = np.full(len(labels), -1, np.int64)
    out[held] = rank[rows]
    return out


def _centres(descriptors: NDArray[np.generic], rows: Labels) -> Matrix:
    """Mean descriptor per person row."""
    values = np.asarray(descriptors, np.float64)
    total = np.zeros((int(rows.max()) + 1, values.shape[1]))
    np.add.at(total, rows, values)
    return (total / np.bincount(rows)[:, None]).astype(np.float32)


def _nearest_centre(queries: Matrix, centres: Matrix) -> tuple[Matrix, Labels]:
    """Squared distance to, and index of, each query's nearest centre."""
    distance, found = _search(np.ascontiguousarray(centres), np.ascontiguousarray(queries), 1)
    return distance[:, 0], found[:, 0]
