"""How should faces become persons? Clustering methods on dlib descriptors of labelled faces.

Faces come from ../shared/datasets/faces-lfw (one folder per person) through dlib itself: HOG
detector (upsampled once, so background faces are found too), 5-point landmarks, the ResNet
descriptor (no jitter), cached in --cache (lfw_faces.npz; lfw_faces_aug.npz holds two variants
of every photo, mirrored, cropped by up to 20 px a side, rescaled x0.75-1.25, brightened
x0.8-1.25, described afresh). In each photo the face nearest the centre (within 40 px) is the
labelled person's ("centre face"); the others are background faces of unknown identity.

Scores, per subset: for each labelled person, the best F1 over clusters between the person's
photos and the photos holding a face of the cluster, averaged over persons ("F1"); clusters
with faces in >= 3 photos ("folders"; near copies of one photo count once); the share of faces
left unassigned ("unassigned"); the share of folders whose centre faces belong to two or more
labelled persons ("impure"); and the share of centre faces in folders that are not their
folder's majority person ("stray"). Background faces count in F1 and unassigned, not in
impurity: a folder of a background person looks mixed by folder label although it may be pure.
Every method leaves clusters of fewer than 3 faces unassigned, as the product does.

Subsets: 20, 60 and 155 random persons, 3 seeds each (faces shuffled by the seed), 4 photos
per person (3 seeds), and the grown set: every photo with its two variants (3x the photos).
Then: nearest face against person centre for matching new faces, on held-out faces, and the
product's cluster_faces timed on synthetic libraries (--scale).

    .venv/bin/python bench/people_methods.py [--cache /tmp/faces] [--set DIR] [--scale 100000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray
from PIL import Image
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist, pdist
from sklearn.cluster import DBSCAN, HDBSCAN

from autoalbum.faces.persons import cluster_faces

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT.parent / "shared" / "datasets" / "faces-lfw"
CENTRE_RADIUS = 40  # px: the labelled person's face is the one this near the photo's centre
FOLDER_PHOTOS = 3

Labels = NDArray[np.int64]
Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Faces:
    """Faces of a labelled set; photos and persons list every photo, with or without faces."""

    descriptors: Matrix
    photo: NDArray[np.str_]  # per face
    person: NDArray[np.str_]  # per face: its photo's folder
    centre: NDArray[np.bool_]  # per face: the labelled person's own face
    photos: NDArray[np.str_]
    persons: NDArray[np.str_]

    def take(self, faces: NDArray[np.bool_], photos: NDArray[np.bool_]) -> Faces:
        return Faces(
            self.descriptors[faces], self.photo[faces], self.person[faces],
            self.centre[faces], self.photos[photos], self.persons[photos],
        )  # fmt: skip

    def shuffled(self, seed: int) -> Faces:
        order = np.random.default_rng(seed).permutation(len(self.descriptors))
        return replace(
            self, descriptors=self.descriptors[order], photo=self.photo[order],
            person=self.person[order], centre=self.centre[order],
        )  # fmt: skip


# --- descriptors with dlib, once ---------------------------------------------------------------

_models: tuple[Any, Any, Any] | None = None


def _load_models() -> None:
    global _models
    import dlib  # bench only: the product runs the same network through onnxruntime
    import face_recognition_models as files

    _models = (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(files.face_recognition_model_location()),
    )


def _variant(image: Image.Image, seed: int) -> tuple[Image.Image, tuple[float, float]]:
    """Mirrored, cropped, rescaled, brightened; and where the original centre went."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    left, top, right, bottom = (int(v) for v in rng.integers(0, 21, 4))
    image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop(
        (left, top, w - right, h - bottom)
    )
    scale = float(rng.uniform(0.75, 1.25))
    image = image.resize((round(image.size[0] * scale), round(image.size[1] * scale)))
    pixels = np.asarray(image, np.float32) * rng.uniform(0.8, 1.25) + rng.uniform(-15, 15)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image, ((w / 2 - left) * scale, (h / 2 - top) * scale)


def _describe(job: tuple[str, int]) -> tuple[str, list[tuple[NDArray[np.float32], bool]]]:
    """The photo's faces (descriptor, is the centre face); seed >= 0 describes a variant."""
    path, seed = job
    assert _models is not None
    detector, landmarks, network = _models
    image = Image.open(path).convert("RGB")
    centre = (image.size[0] / 2, image.size[1] / 2)
    if seed >= 0:
        image, centre = _variant(image, seed)
    pixels = np.ascontiguousarray(np.asarray(image))
    found = []
    for box in detector(pixels, 1):
        descriptor = network.compute_face_descriptor(pixels, landmarks(pixels, box), 0)
        off = np.hypot(box.center().x - centre[0], box.center().y - centre[1])
        found.append((np.array(descriptor, np.float32), float(off)))
    nearest = min(range(len(found)), key=lambda i: found[i][1], default=-1)
    name = path if seed < 0 else f"{path}#aug{seed % 2}"
    return name, [(d, i == nearest and off < CENTRE_RADIUS) for i, (d, off) in enumerate(found)]


def build_cache(folder: Path, out: Path, variants: bool) -> None:
    """Describe every photo (or two variants of each) with dlib and save the faces."""
    paths = [(str(p), p.parent.name) for p in sorted(folder.glob("*/*.jpg"))]
    jobs = [(path, 2 * i + k) for i, (path, _) in enumerate(paths) for k in (0, 1)]
    jobs = jobs if variants else [(path, -1) for path, _ in paths]
    started = time.perf_counter()
    with Pool(2, initializer=_load_models) as pool:
        results = pool.map(_describe, jobs, chunksize=8)
    labels = [paths[i // 2 if variants else i][1] for i in range(len(jobs))]
    rows = [
        (d, name, label, c)
        for (name, fs), label in zip(results, labels, strict=True)
        for d, c in fs
    ]
    np.savez_compressed(
        out, descriptors=np.array([r[0] for r in rows]), photos=np.array([r[1] for r in rows]),
        labels=np.array([r[2] for r in rows]), main=np.array([r[3] for r in rows]),
        all_photos=np.array([name for name, _ in results]), all_labels=np.array(labels),
    )  # fmt: skip
    print(
        f"described {len(jobs)} photos, {len(rows)} faces in {time.perf_counter() - started:.0f} s"
    )


def load(cache: Path, folder: Path, variants: bool) -> Faces:
    """The cached faces, described first if the cache is missing."""
    if not cache.is_file():
        build_cache(folder, cache, variants)
    stored = np.load(cache)
    if "all_photos" in stored:
        photos, persons = stored["all_photos"], stored["all_labels"]
    else:  # caches made before photos without faces were listed
        paths = sorted(folder.glob("*/*.jpg"))
        suffixes = ["#aug0", "#aug1"] if variants else [""]
        photos = np.array([f"{p}{s}" for p in paths for s in suffixes])
        persons = np.array([p.parent.name for p in paths for _ in suffixes])
    return Faces(
        stored["descriptors"].astype(np.float64), stored["photos"], stored["labels"],
        stored["main"], photos, persons,
    )  # fmt: skip


# --- the methods compared --------------------------------------------------------------------


def small_dropped(labels: Labels, least: int = FOLDER_PHOTOS) -> Labels:
    """Clusters of fewer than `least` faces (and noise) become -1; the rest renumbered."""
    labels = np.asarray(labels, np.int64)
    keep = labels >= 0
    sizes = np.bincount(labels[keep]) if keep.any() else np.zeros(0, np.int64)
    keep[keep] = sizes[labels[keep]] >= least
    out = np.full(len(labels), -1, np.int64)
    out[keep] = np.unique(labels[keep], return_inverse=True)[1]
    return out


def chinese_whispers(x: Matrix, threshold: float, seed: int, rounds: int = 100) -> Labels:
    """dlib's recipe: an edge (self edges too) where distance < threshold; each node in random
    order takes the label most common among its neighbours, until none changes."""
    graph = sparse.csr_matrix(cdist(x, x) < threshold)
    labels = np.arange(len(x))
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        changed = 0
        for node in rng.permutation(len(x)):
            around = labels[graph.indices[graph.indptr[node] : graph.indptr[node + 1]]]
            values, counts = np.unique(around, return_counts=True)
            best = values[np.argmax(counts)]
            changed += best != labels[node]
            labels[node] = best
        if not changed:
            break
    return small_dropped(labels)


def immich(x: Matrix, max_distance: float, min_faces: int = 3) -> Labels:
    """Immich's face clustering, sequential in face order: a face with >= min_faces faces
    (itself included) within max_distance joins the person of its nearest such face that has
    one, or starts a person; the others, deferred, only join a neighbour's person."""
    distance = cdist(x, x)
    labels, deferred, persons = np.full(len(x), -1, np.int64), [], 0
    for face in range(len(x)):
        near = np.flatnonzero(distance[face] <= max_distance)
        if len(near) < min_faces:
            deferred.append(face)
            continue
        held = [n for n in near[np.argsort(distance[face, near])] if labels[n] >= 0]
        labels[face] = labels[held[0]] if held else persons
        persons += not held
    for face in deferred:
        near = np.flatnonzero(distance[face] <= max_distance)
        held = [n for n in near[np.argsort(distance[face, near])] if labels[n] >= 0]
        labels[face] = labels[held[0]] if held else -1
    return small_dropped(labels)


def photoprism(x: Matrix, cluster: float = 0.64, match: float = 0.46, core: int = 4) -> Labels:
    """PhotoPrism's constants: DBSCAN at its cluster distance with its core size, then faces
    left out join the nearest cluster centre within its match distance."""
    labels = DBSCAN(eps=cluster, min_samples=core).fit_predict(x).astype(np.int64)
    if labels.max() >= 0 and (labels < 0).any():
        centres = np.stack([x[labels == c].mean(0) for c in range(labels.max() + 1)])
        loose = np.flatnonzero(labels < 0)
        distance = cdist(x[loose], centres)
        nearest = distance.argmin(1)
        near = distance[np.arange(len(loose)), nearest] < match
        labels[loose[near]] = nearest[near]
    return small_dropped(labels)


def hierarchy(x: Matrix, method: str, threshold: float, squared: bool = False) -> Labels:
    """scipy's agglomerative clustering cut at a distance (squared distances: cut at t^2)."""
    tree = linkage(pdist(x, "sqeuclidean" if squared else "euclidean"), method)
    cut = threshold**2 if squared else threshold
    return small_dropped(fcluster(tree, cut, "distance").astype(np.int64) - 1)


def hdbscan(x: Matrix) -> Labels:
    return small_dropped(HDBSCAN(min_cluster_size=3, min_samples=1, copy=True).fit_predict(x))


def product(x: Matrix) -> Labels:
    return cluster_faces(x.astype(np.float32))


METHODS: dict[str, Callable[[Matrix, int], Labels]] = {
    "chinese whispers 0.5": lambda x, seed: chinese_whispers(x, 0.5, seed),
    "chinese whispers 0.6": lambda x, seed: chinese_whispers(x, 0.6, seed),
    "immich 0.45": lambda x, _: immich(x, 0.45),
    "immich 0.5": lambda x, _: immich(x, 0.5),
    "immich 0.55": lambda x, _: immich(x, 0.55),
    "photoprism 0.64/0.46": lambda x, _: photoprism(x),
    "average 0.55": lambda x, _: hierarchy(x, "average", 0.55),
    "complete 0.6": lambda x, _: hierarchy(x, "complete", 0.6),
    "complete 0.7": lambda x, _: hierarchy(x, "complete", 0.7),
    "hdbscan 3": lambda x, _: hdbscan(x),
    "average d^2 0.5 (exact)": lambda x, _: hierarchy(x, "average", 0.5, squared=True),
    "average d^2 0.54 (exact)": lambda x, _: hierarchy(x, "average", 0.54, squared=True),
    "cluster_faces (product)": lambda x, _: product(x),
}


# --- scoring -----------------------------------------------------------------------------------


def score(faces: Faces, labels: Labels) -> dict[str, float]:
    """F1, folders, unassigned, impure and stray as the module docstring defines them."""
    photo_index = {p: i for i, p in enumerate(faces.photos)}
    person_names, photo_person = np.unique(faces.persons, return_inverse=True)
    source = np.unique([p.split("#")[0] for p in faces.photos], return_inverse=True)[1]
    held = labels >= 0
    face_photo = np.array([photo_index[p] for p in faces.photo], np.int64)
    pairs = np.unique(np.stack([labels[held], face_photo[held]], axis=1), axis=0)
    clusters = int(labels.max()) + 1 if held.any() else 0
    cluster_size = np.bincount(pairs[:, 0], minlength=clusters)
    person_size = np.bincount(photo_person, minlength=len(person_names))
    overlap = sparse.coo_matrix(
        (np.ones(len(pairs)), (photo_person[pairs[:, 1]], pairs[:, 0])),
        shape=(len(person_names), clusters),
    ).toarray()
    f1 = 2 * overlap / (person_size[:, None] + cluster_size[None, :] + 1e-12)
    best = f1.max(axis=1) if clusters else np.zeros(len(person_names))
    sources = np.unique(np.stack([pairs[:, 0], source[pairs[:, 1]]], axis=1), axis=0)
    folders = np.flatnonzero(np.bincount(sources[:, 0], minlength=clusters) >= FOLDER_PHOTOS)
    impure = stray = inside = 0
    for folder in folders:
        counts = np.unique(faces.person[(labels == folder) & faces.centre], return_counts=True)[1]
        impure += len(counts) > 1
        stray += counts.sum() - counts.max() if len(counts) else 0
        inside += counts.sum()
    return {
        "F1": float(best.mean()), "folders": float(len(folders)),
        "unassigned": float(1 - held.mean()), "impure": impure / max(len(folders), 1),
        "stray": stray / max(inside, 1),
    }  # fmt: skip


def subsets(plain: Faces, grown: Faces) -> Iterator[tuple[str, int, Faces]]:
    """(name, seed, faces) for each subset the module docstring lists."""
    people = np.unique(plain.persons)
    for count in (20, 60, len(people)):
        for seed in range(3):
            chosen = np.random.default_rng(seed).choice(people, count, replace=False)
            subset = plain.take(np.isin(plain.person, chosen), np.isin(plain.persons, chosen))
            yield f"{count} persons", seed, subset.shuffled(seed)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        kept = np.concatenate(
            [rng.choice(plain.photos[plain.persons == p], 4, False) for p in people]
        )
        subset = plain.take(np.isin(plain.photo, kept), np.isin(plain.photos, kept))
        yield "4 photos/person", seed, subset.shuffled(seed)
    yield "grown 3x", 0, grown.shuffled(0)


def compare(plain: Faces, grown: Faces, methods: list[str]) -> None:
    """The table: each method's scores on each subset, averaged over seeds."""
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for name, seed, faces in subsets(plain, grown):
        sizes[name] = (len(np.unique(faces.persons)), len(faces.descriptors))
        for method in methods:
            started = time.perf_counter()
            labels = METHODS[method](faces.descriptors, seed)
            scores = score(faces, labels) | {"seconds": time.perf_counter() - started}
            results.setdefault((name, method), []).append(scores)
    print(f"{'subset':16} {'method':26} persons  faces    F1  folders unassigned impure  stray  s")
    for (name, method), runs in results.items():
        mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
        print(
            f"{name:16} {method:26} {sizes[name][0]:7} {sizes[name][1]:6} {mean['F1']:5.3f} "
            f"{mean['folders']:8.1f} {mean['unassigned']:10.3f} {mean['impure']:6.3f} "
            f"{mean['stray']:6.3f} {mean['seconds']:4.1f}"
        )


# --- matching new faces, and distances ---------------------------------------------------------


def pair_distances(plain: Faces) -> None:
    """Same-person and different-person distances of centre faces: what a threshold admits."""
    x, person = plain.descriptors[plain.centre], plain.person[plain.centre]
    distance = pdist(x)
    rows, cols = np.triu_indices(len(x), 1)
    same = person[rows] == person[cols]
    print("\ndistance  same person within  different persons within (pairs)")
    for t in (0.4, 0.45, 0.5, 0.55, 0.6, 0.64):
        genuine, impostor = (distance[same] < t).mean(), (distance[~same] < t)
        print(f"{t:8.2f}  {genuine:18.3f}  {impostor.mean():.2e} ({impostor.sum()})")


def matching(plain: Faces, seeds: int = 3) -> None:
    """A new face joins the nearest face's or the nearest centre's person within a distance:
    half of 2/3 of the persons' centre faces known, the rest and 1/3 unknown persons asked."""
    x, person = plain.descriptors[plain.centre], plain.person[plain.centre]
    people = np.unique(person)
    totals: dict[tuple[str, float], NDArray[np.float64]] = {}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        unknown = rng.choice(people, len(people) // 3, replace=False)
        known = np.zeros(len(x), bool)
        for p in np.setdiff1d(people, unknown):
            rows = rng.permutation(np.flatnonzero(person == p))
            known[rows[: len(rows) // 2]] = True
        names, ids = np.unique(person[known], return_inverse=True)
        centres = np.stack([x[known][ids == i].mean(0) for i in range(len(names))])
        asked, is_known = ~known, np.isin(person[~known], names)
        truth = np.searchsorted(names, person[asked])
        for way, distance, owner in (
            ("nearest face", cdist(x[asked], x[known]), ids),
            ("nearest centre", cdist(x[asked], centres), np.arange(len(names))),
        ):
            pick = distance.argmin(1)
            near, right = distance[np.arange(len(pick)), pick], owner[pick] == truth
            for t in (0.4, 0.45, 0.5, 0.55):
                row = np.array([
                    (right & (near < t))[is_known].mean(), (~right & (near < t))[is_known].mean(),
                    (near < t)[~is_known].mean(),
                ])  # fmt: skip
                totals[(way, t)] = totals.get((way, t), 0) + row / seeds
    print("\nmatching        distance  known: right  wrong   unknown persons: joined")
    for (way, t), (right, wrong, joined) in totals.items():
        print(f"{way:15} {t:8.2f}  {right:12.3f} {wrong:6.3f} {joined:25.3f}")


def scale(n: int) -> None:
    """cluster_faces on n synthetic faces: persons of Zipf sizes, 20% strangers."""
    rng = np.random.default_rng(0)
    sizes = rng.zipf(1.6, n)
    sizes = sizes[sizes < n // 10][: n // 50]
    sizes = np.maximum(1, sizes * int(n * 0.8) // sizes.sum())
    strangers = n - int(sizes.sum())
    centres = rng.normal(0, 1 / np.sqrt(256), (len(sizes) + strangers, 128))
    truth = np.concatenate(
        [np.repeat(np.arange(len(sizes)), sizes), len(sizes) + np.arange(strangers)]
    )
    x = (centres[truth] + rng.normal(0, 0.3 / np.sqrt(128), (n, 128))).astype(np.float32)
    started = time.perf_counter()
    labels = cluster_faces(x)
    seconds = time.perf_counter() - started
    print(f"\ncluster_faces on {n} synthetic faces: {seconds:.1f} s, {labels.max() + 1} persons")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faces"))
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--scale", type=int, default=0, help="also time this many faces")
    parser.add_argument(
        "--methods", type=lambda text: text.split(","), default=list(METHODS),
        help=f"comma-separated, of: {', '.join(METHODS)}",
    )  # fmt: skip
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    plain = load(args.cache / "lfw_faces.npz", args.set, variants=False)
    extra = load(args.cache / "lfw_faces_aug.npz", args.set, variants=True)
    grown = Faces(
        *(
            np.concatenate([a, b])
            for a, b in zip(vars(plain).values(), vars(extra).values(), strict=True)
        )
    )
    compare(plain, grown, args.methods)
    pair_distances(plain)
    matching(plain)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
