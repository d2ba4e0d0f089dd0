"""Vectors stored as 8-bit codes (library/codes.py): what they cost and what they change.

    .venv/bin/python bench/vectors.py quality [--sample 5000] [--queries 1000]
    .venv/bin/python bench/vectors.py codec
    .venv/bin/python bench/vectors.py storage [--sizes 20000,100000]
    .venv/bin/python bench/vectors.py recluster [--sizes 100000,1000000] [--compare-up-to 100000]

quality: on the Lite0 embeddings of every labelled set cached by bench/cluster_methods.py
(~/.cache/autoalbum/bench/<set>.raw-flip.npz; a set it has not cached is skipped), and on a
mixture of them all: the default clustering (k auto, spectral; seeds 0 to --seeds - 1) of the
float32 vectors, of their codes and of the float32 vectors moved by random noise of norm NOISE
(the clustering's own sensitivity): the k each found, the NMI of each with the float32
clustering and against the labels (means over seeds); then, since the choice of k is chaotic at
the 1e-3 level, the NMI against the labels at the true k (cluster.k fixed to the number of
classes, spectral; seeds 0 to --fixed-seeds - 1) of each, and the largest difference of a seed's
codes from its float32; then on the mixture the recall@10 of `similar`'s search over codes
against exact float32 search (the query photo in the library).

codec: how the codes of those embeddings (every photo of every set, and all together) are
stored: bytes per stored code, bytes per photo in a real SQLite table of them at 4 KB and 8 KB
pages, and seconds to unpack a million, for codes as they are, zlib at levels 1, 6 and 9, zlib
with a fixed preset dictionary (the bytes 0-255: nothing trained), and raw deflate with only
run-length matching or only Huffman coding (codes.pack, the product's).

storage: a real catalog of n synthetic photos (bench/recluster.py's CNN-like vectors, d=1280,
a file row each with a 40-byte path), written as the indexer writes it, without VACUUM; bytes
per photo of the whole file and of each table and index (SQLite's dbstat), against the same rows
in the schema-5 layout (float16 vectors in the contents rows; the FAISS file came on top), and
how long that catalog takes to migrate when it is opened.

recluster: such a catalog, then `autoalbum recluster`'s work (Library.recluster, k auto) in a
fresh process: seconds and peak RSS (VmHWM); then in another fresh process that imports
only the library (as the daemon, less its model): seconds to open the library, and its RSS
after filing 128 new photos into their albums as the daemon does (peak and current). Up to
--compare-up-to photos, the albums are compared (NMI) with the clustering of the float32
vectors as it ran before codes.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.kmeans import Clustering
from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import normalise
from autoalbum.embedding.model import cache_dir
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.codes import Codes, encode, pack, unpack
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.schema import MIGRATIONS

sys.path.insert(0, str(Path(__file__).parent))

SETS = ("catsdogs", "flowers17", "hymenoptera", "mnist", "cifar10")
DIM = 1280
CLUSTERS = 50
NOISE = 1e-3  # L2 norm of the random perturbation the clustering is also compared under


def _unit(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    return normalise(np.asarray(vectors, dtype=np.float32))


def labelled_sets(
    sample: int, rng: np.random.Generator
) -> list[tuple[str, NDArray[np.float32], NDArray[np.int64]]]:
    """(name, the product's vectors, labels) of each cached set: the raw half of the cached
    features (the other half is the mirror image's), normalised as the embedder does."""
    parts: list[tuple[str, NDArray[np.float32], NDArray[np.int64]]] = []
    for name in SETS:
        cache = cache_dir() / "bench" / f"{name}.raw-flip.npz"
        if not cache.is_file():
            print(f"{name}: not cached, skipped (run bench/cluster_methods.py first)")
            continue
        stored = np.load(cache)
        raw = np.split(stored["features"].astype(np.float32), 2, axis=1)[0]
        labels = stored["labels"].astype(np.int64)
        if len(raw) > sample:
            rows = np.sort(rng.choice(len(raw), sample, replace=False))
            raw, labels = raw[rows], labels[rows]
        parts.append((name, _unit(raw), labels))
    return parts


def quality(args: argparse.Namespace) -> None:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from autoalbum.clustering.cluster import cluster

    rng = np.random.default_rng(0)
    parts = labelled_sets(args.sample, rng)
    offsets = np.cumsum([0] + [int(p[2].max()) + 1 for p in parts])
    mixture = (
        "mixture",
        np.vstack([p[1] for p in parts]),
        np.concatenate([p[2] + o for p, o in zip(parts, offsets, strict=False)]),
    )
    print(f"{'set':<12} {'n':>6} {'k f32':>9} {'k codes':>9} {'NMI f32-codes':>14} "
          f"{'f32-noisy':>10} {'NMI truth f32':>14} {'codes':>6} {'noisy':>6} | "
          f"{'true k':>6} {'NMI@k f32':>9} {'codes':>6} {'noisy':>6} "
          f"{'max|codes-f32|':>14}")  # fmt: skip
    for name, x, truth in [*parts, mixture]:
        noise = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
        noisy = _unit(x + NOISE / np.sqrt(x.shape[1]) * noise)
        variants = {"f32": x, "codes": Codes.of(np.arange(len(x)), x), "noisy": noisy}
        found: dict[str, list[Clustering]] = {"f32": [], "codes": [], "noisy": []}
        at_k: dict[str, list[float]] = {"f32": [], "codes": [], "noisy": []}
        k_true = len(np.unique(truth))
        for seed in range(max(args.seeds, args.fixed_seeds)):
            for variant, data in variants.items():
                if seed < args.seeds:
                    found[variant].append(cluster(data, None, seed=seed)[0])
                if seed < args.fixed_seeds:
                    fixed = cluster(data, k_true, seed=seed)[0]
                    at_k[variant].append(nmi(truth, fixed.labels))
        ks = {v: "/".join(str(c.k) for c in fits) for v, fits in found.items()}
        agree = {
            v: np.mean([nmi(a.labels, b.labels) for a, b in zip(found["f32"], fits, strict=True)])
            for v, fits in found.items()
        }
        scores = {v: np.mean([nmi(truth, c.labels) for c in fits]) for v, fits in found.items()}
        fixed_k = {v: float(np.mean(values)) for v, values in at_k.items()}
        apart = np.max(np.abs(np.subtract(at_k["codes"], at_k["f32"])))
        print(
            f"{name:<12} {len(x):>6} {ks['f32']:>9} {ks['codes']:>9} {agree['codes']:>14.4f} "
            f"{agree['noisy']:>10.4f} {scores['f32']:>14.4f} {scores['codes']:>6.4f} "
            f"{scores['noisy']:>6.4f} | {k_true:>6} {fixed_k['f32']:>9.4f} "
            f"{fixed_k['codes']:>6.4f} {fixed_k['noisy']:>6.4f} {apart:>14.4f}",
            flush=True,
        )
    recall(mixture[1], args.queries, rng)


def recall(x: NDArray[np.float32], queries: int, rng: np.random.Generator) -> None:
    """Recall@10 of the search over codes against exact float32 search, the query a photo of
    the library (so its own vector is a code too, and it is left out of both lists)."""
    from autoalbum.library.search import most_similar

    codes = Codes.of(np.arange(len(x), dtype=np.int64), x)
    picked = rng.choice(len(x), queries, replace=False)
    hits = []
    for row in picked:
        exact = x @ x[row]
        exact[row] = -np.inf
        truth = set(np.argpartition(-exact, 10)[:10].tolist())
        query = _unit(codes.take(np.array([row])))[0]
        found, _ = most_similar([codes], query, 10, skip=int(row))
        hits.append(len(truth & set(found.tolist())) / 10)
    print(f"recall@10 over {len(x):,} real embeddings, {queries} queries: {np.mean(hits):.4f} "
          f"(worst query {np.min(hits):.1f})")  # fmt: skip


_Packer = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]


def _deflate(level: int, strategy: int = zlib.Z_DEFAULT_STRATEGY, zdict: bytes = b"") -> _Packer:
    """Raw deflate (no zlib header or checksum) at this level and strategy."""
    extra = {"zdict": zdict} if zdict else {}

    def packed(code: bytes) -> bytes:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy, **extra)
        return packer.compress(code) + packer.flush()

    def unpacked(blob: bytes) -> bytes:
        unpacker = zlib.decompressobj(-15, **extra)
        return unpacker.decompress(blob) + unpacker.flush()

    return packed, (unpacked if zdict else lambda blob: zlib.decompress(blob, -15, 2048))


def packers() -> dict[str, _Packer]:
    return {
        "as they are (before)": (bytes, bytes),
        "zlib level 1": _deflate(1),
        "zlib level 6": _deflate(6),
        "zlib level 9": _deflate(9),
        "zlib 9, zdict 0-255": _deflate(9, zdict=bytes(range(256))),
        "deflate RLE only": _deflate(9, zlib.Z_RLE),
        "Huffman only (pack)": (pack, unpack),
    }


def stored_bytes(blobs: list[bytes], page_size: int) -> float:
    """Bytes per row of a vectors table of these blobs in a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "v.sqlite", isolation_level=None)
        db.execute(f"PRAGMA page_size={page_size}")
        db.execute("CREATE TABLE vectors (content_id INTEGER PRIMARY KEY, code BLOB NOT NULL)")
        db.execute("BEGIN")
        db.executemany("INSERT INTO vectors VALUES (?, ?)", enumerate(blobs, start=1))
        db.execute("COMMIT")
        found = db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'vectors'").fetchone()
        db.close()
    return float(found[0]) / len(blobs)


def codec(args: argparse.Namespace) -> None:
    parts = labelled_sets(10**9, np.random.default_rng(0))
    sets = [(name, encode(x)) for name, x, _ in parts]
    sets.append(("all", np.vstack([codes for _, codes in sets])))
    print(f"{'packing':<22} {'set':<12} {'code B':>7} {'4 KB pages':>10} {'8 KB':>6} "
          f"{'unpack s/1M':>11} {'pack us':>7}")  # fmt: skip
    for label, (packed, unpacked) in packers().items():
        for name, codes in sets:
            rows = [code.tobytes() for code in codes]
            started = time.perf_counter()
            blobs = [packed(row) for row in rows]
            packing = (time.perf_counter() - started) / len(rows)
            started = time.perf_counter()
            for _ in range(3):
                back = [unpacked(blob) for blob in blobs]
            unpacking = (time.perf_counter() - started) / 3 / len(rows)
            assert back == rows, f"{label} lost bytes"
            print(
                f"{label:<22} {name:<12} {np.mean([len(b) for b in blobs]):>7.0f} "
                f"{stored_bytes(blobs, 4096):>10.0f} {stored_bytes(blobs, 8192):>6.0f} "
                f"{unpacking * 1e6:>11.1f} {packing * 1e6:>7.1f}",
                flush=True,
            )


def write_catalog(state: Path, n: int, *, schema5: bool = False) -> float:
    """A catalog of n synthetic photos, as the indexer writes it (or as schema 5 did)."""
    from recluster import synthetic_chunks

    started = time.perf_counter()
    if schema5:
        db = sqlite3.connect(state / CATALOG_NAME, isolation_level=None)
        db.executescript("".join(MIGRATIONS[v] for v in range(1, 6)) + "PRAGMA user_version=5;")
        db.execute("PRAGMA journal_mode=WAL")
    for start, (vectors, _) in synthetic_chunks(n, DIM, CLUSTERS):
        if schema5:
            db.execute("BEGIN")
            for i, vector in enumerate(vectors, start=start + 1):
                db.execute(
                    "INSERT INTO contents (hash, vector, top_class, quick) VALUES (?, ?, ?, ?)",
                    (f"{i:032x}", vector.astype("<f2").tobytes(), i % 1000, f"{i:031x}q"),
                )
                db.execute(
                    "INSERT INTO files (path, size, mtime_ns, hash, status, content_id, "
                    "updated_at) VALUES (?, 3000000, 1, ?, 'ok', ?, 0)",
                    (_path(i), f"{i:032x}", i),
                )
            db.execute("COMMIT")
            continue
        with Catalog(state / CATALOG_NAME) as catalog, catalog.transaction():
            catalog.set_meta("dim", str(DIM))
            for i, vector in enumerate(vectors, start=start + 1):
                content = catalog.add_content(f"{i:032x}", vector, i % 1000, f"{i:031x}q")
                record = FileRecord(
                    Path(_path(i).decode()), 3_000_000, 1, f"{i:032x}", Status.OK, None, content
                )
                catalog.put_file(record)
    if schema5:
        db.close()
    return time.perf_counter() - started


def _path(i: int) -> bytes:
    return f"/home/user/Pictures/{2000 + i % 25}/{i % 12:02d}/IMG_{i:08d}.JPG".encode()


def table_bytes(path: Path, *names: str) -> int:
    db = sqlite3.connect(path)
    marks = ",".join("?" * len(names))
    found = db.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names)
    total = int(found.fetchone()[0] or 0)
    db.close()
    return total


def tables(path: Path, n: int) -> None:
    """Bytes per photo of each table and index of the catalog, largest first."""
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name HAVING SUM(pgsize) > ? ORDER BY 2 DESC",
        (n,),
    ).fetchall()
    db.close()
    print("  " + ", ".join(f"{name} {size / n:,.0f}" for name, size in rows))


def storage(args: argparse.Namespace) -> None:
    for n in args.sizes:
        for schema5 in (False, True):
            with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
                seconds = write_catalog(Path(folder), n, schema5=schema5)
                path = Path(folder) / CATALOG_NAME
                size = path.stat().st_size
                vectors = table_bytes(path, "contents") if schema5 else table_bytes(path, "vectors")
                layout = "schema 5 (float16 in contents)" if schema5 else "codes (vectors table)"
                what = "contents table incl. vectors" if schema5 else "vectors table"
                print(
                    f"n={n:,} {layout}: catalog {size / n:,.0f} B/photo, {what} "
                    f"{vectors / n:,.0f} B/photo (written in {seconds:.0f} s)",
                    flush=True,
                )
                if not schema5:
                    tables(path, n)
                if schema5:
                    started = time.perf_counter()
                    Catalog(path).close()
                    seconds = time.perf_counter() - started
                    size = path.stat().st_size
                    print(
                        f"  migrated to codes on open in {seconds:.1f} s: {size / n:,.0f} B/photo"
                    )


def _config(state: Path, nested: bool = True) -> Config:
    return Config(
        library=LibraryConfig(folders=(state / "photos",), albums=state / "albums", state=state),
        cluster=ClusterConfig(k="auto", nested=nested),
    )


def recluster_child(state: Path, nested: bool = True) -> None:
    """In a fresh process: the recluster (with sub-albums, or flat) and its peak RSS."""
    from autoalbum.library.library import Library

    def model() -> None:
        raise AssertionError("a recluster needs no model")

    config = _config(state, nested)
    with Library(config, model) as library:  # type: ignore[arg-type, return-value]
        started = time.perf_counter()
        report = library.recluster(write=False)
        seconds = time.perf_counter() - started
        peak = _peak()
        ids = library.catalog.content_ids(live_only=True)
        albums = library.catalog.album_ids(ids)
        shown = len(library.catalog.albums())
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "k": report.albums, "shown": shown,
                      "albums": [a or 0 for a in albums]}))  # fmt: skip


def arrive_child(state: Path) -> None:
    """In a fresh process with only the library imported: open it, file 128 new photos."""
    from autoalbum.library.library import Library

    def model() -> None:
        raise AssertionError("filing stored vectors needs no model")

    started = time.perf_counter()
    with Library(_config(state), model) as library:  # type: ignore[arg-type, return-value]
        opened = time.perf_counter() - started
        first = library.catalog.vectors(library.catalog.content_ids()[:128])  # like its photos
        with library.catalog.transaction():
            for i, vector in enumerate(first):
                content = library.catalog.add_content(f"new{i}", vector, 1, None)
                path = Path(f"/new/{i}.jpg")
                library.catalog.put_file(
                    FileRecord(path, 1, 1, f"new{i}", Status.OK, None, content)
                )
        started = time.perf_counter()
        filed = library.assign_new()
        seconds = time.perf_counter() - started
    peak = _peak()
    print(json.dumps({"open": opened, "filed": filed, "seconds": seconds, "peak_rss": peak,
                      "rss": _rss()}))  # fmt: skip


def _child(mode: str, state: Path, *extra: str) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, mode, str(state), *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return found


def _peak() -> int:
    """This process's peak RSS (VmHWM; ru_maxrss would count the parent's, as Linux carries it
    across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def recluster(args: argparse.Namespace) -> None:
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
            state = Path(folder)
            seconds = write_catalog(state, n)
            size = (state / CATALOG_NAME).stat().st_size
            print(f"n={n:,}: catalog written in {seconds:.0f} s ({size / n:,.0f} B/photo)")
            flat = _child("_recluster", state, "flat")
            print(f"  recluster without sub-albums: {flat['seconds']:.1f} s, k={flat['k']}, "
                  f"peak RSS {flat['peak_rss'] / 1e9:.2f} GB", flush=True)  # fmt: skip
            found = _child("_recluster", state)
            ratio = found["seconds"] / flat["seconds"]
            print(f"  recluster: {found['seconds']:.1f} s ({ratio:.2f}x without), k={found['k']} "
                  f"({found['shown']} albums and sub-albums), peak RSS "
                  f"{found['peak_rss'] / 1e9:.2f} GB", flush=True)  # fmt: skip
            daemon = _child("_arrive", state)
            print(f"  a fresh process: library open in {daemon['open']:.2f} s, "
                  f"{daemon['filed']} photos filed in {daemon['seconds']:.2f} s; RSS "
                  f"{daemon['rss'] / 1e6:.0f} MB, peak {daemon['peak_rss'] / 1e6:.0f} MB",
                  flush=True)  # fmt: skip
            if n <= args.compare_up_to:
                compare(n, np.asarray(found["albums"]))


def compare(n: int, albums: NDArray[np.int64]) -> None:
    """NMI of the library's albums against the clustering of the float32 vectors, as a
    recluster ran before codes (one float32 matrix), and against the synthetic truth."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from autoalbum.clustering.cluster import cluster
    from recluster import synthetic

    x, truth = synthetic(n, DIM, CLUSTERS)
    started = time.perf_counter()
    dense, _ = cluster(x, None)
    print(f"  float32 clustering as before: {time.perf_counter() - started:.1f} s, k={dense.k}; "
          f"NMI albums vs float32 labels {nmi(dense.labels, albums):.4f}; against the truth: "
          f"albums {nmi(truth, albums):.4f}, float32 {nmi(truth, dense.labels):.4f}")  # fmt: skip


def main() -> None:
    if sys.argv[1:2] in (["_recluster"], ["_arrive"]):
        if sys.argv[1] == "_recluster":
            recluster_child(Path(sys.argv[2]), nested=sys.argv[3:4] != ["flat"])
        else:
            arrive_child(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["quality", "codec", "storage", "recluster"])
    parser.add_argument("--sample", type=int, default=5000, help="most photos per set")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3, help="clustering seeds, averaged")
    parser.add_argument("--fixed-seeds", type=int, default=5, help="seeds at the true k")
    parser.add_argument(
        "--sizes", type=lambda text: [int(s) for s in text.split(",")], default=None
    )
    parser.add_argument("--compare-up-to", type=int, default=100_000)
    parser.add_argument("--tmp", default=None, help="folder for the catalogs (default: /tmp)")
    args = parser.parse_args()
    if args.part == "quality":
        quality(args)
    elif args.part == "codec":
        codec(args)
    elif args.part == "storage":
        args.sizes = args.sizes or [20_000, 100_000]
        storage(args)
    else:
        args.sizes = args.sizes or [100_000, 1_000_000]
        recluster(args)


if __name__ == "__main__":
    main()
