"""The search index (library/search_index.py) against today's exhaustive search, for `similar`
and `duplicates`, on real embeddings and on stand-in libraries of 100,000 and 1,000,000.

    .venv/bin/python bench/search.py [--sizes 100000,1000000] [--exact-up-to 110000]
                                     [--baseline 737802c] [--queries 200]

real: a catalog of every Lite0 embedding cached by bench/cluster_methods.py and
bench/grown_sets.py (~/.cache/autoalbum/bench/*.npz: the shared sets, their mirror images and
their augmented copies, 38,530 photos). `similar`'s recall@10 against exact float32 search
(the query a photo of the library, left out), through the index and by today's scan of every
code; near-duplicate pairs (similarity >= 0.90) found through the index against today's
all-pairs comparison of the codes, with the seconds of each.

stand-ins, per size: a catalog of bench/recluster.py's CNN-like vectors (d=1280) in which one
photo in COPY_EVERY is a near copy of another (noise of norm 0.1 to 0.5: similarity about
0.89-0.995), written as the indexer writes it and cached in
~/.cache/autoalbum/bench/search-<n>/. Then, each beside today's method in the same run (the
--baseline commit's code in a git worktree, for whole processes):
- the index: build seconds, peak RSS and bytes per photo;
- `similar`: the search itself (in process, median over queries, index and re-scoring; today's
  scan of every code), recall@10 against that scan, and the whole `autoalbum similar` process
  for a photo of the library and for an image outside it (the model loaded);
- `duplicates`: the whole process, seconds and peak RSS (today's only up to --exact-up-to: it
  compares every pair), and pair recall against the exact all-pairs method up to
  --exact-up-to; at every size, the recall of the planted copies that are near;
- a restart 10,000 arrivals behind the index's file: `autoalbum similar` (it scans those rows)
  and bringing the file up to date, against building it anew.
"""

from __future__ import annotations

import argparse
import glob
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).parent))

from autoalbum.clustering.near_copies import NEAR_DUPLICATE_SIMILARITY
from autoalbum.embedding.embedder import normalise
from autoalbum.embedding.model import cache_dir
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.codes import Codes
from autoalbum.library.near_pairs import cell_pairs
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.search import Search, most_similar, scored, similar_pairs
from autoalbum.library.search_index import META_NAME, SearchIndex, parts
from autoalbum.library.stores import Stores
from daemon_runs import HERE_CODE, checkout, code_env
from recluster import synthetic_chunks

DIM = 1280
CLUSTERS = 50
COPY_EVERY = 25  # one stand-in photo in this many is a near copy of another
BEHIND = 10_000  # arrivals the restart's index file lags by
T = NEAR_DUPLICATE_SIMILARITY

Matrix = NDArray[np.float32]


def path_of(content: int) -> Path:
    return Path(f"/home/user/Pictures/{2000 + content % 25}/IMG_{content:08d}.JPG")


def write_catalog(state: Path, chunks: Iterator[Matrix]) -> None:
    """Contents, each with one present file, as the indexer writes them."""
    state.mkdir(parents=True, exist_ok=True)
    with Catalog(state / CATALOG_NAME) as catalog:
        for vectors in chunks:
            with catalog.transaction():
                catalog.set_meta("dim", str(DIM))
                first = catalog.last_vector_id() + 1
                for i, vector in enumerate(vectors, start=first):
                    content = catalog.add_content(f"{i:032x}", vector, 0, f"{i:031x}q")
                    record = FileRecord(path_of(content), 3_000_000, 1, f"{i:032x}", Status.OK,
                                        None, content)  # fmt: skip
                    catalog.put_file(record)


def stand_ins(n: int, seed: int = 0) -> Iterator[Matrix]:
    """bench/recluster.py's vectors, one in COPY_EVERY replaced by a near copy of another row
    of its chunk."""
    for start, (rows, _) in synthetic_chunks(n, DIM, CLUSTERS, seed):
        rng = np.random.default_rng([seed, start])
        copies = np.arange(COPY_EVERY - 1, len(rows), COPY_EVERY)
        sources = (copies - 1 - rng.integers(0, COPY_EVERY - 1, len(copies))).clip(0)
        noise = rng.standard_normal((len(copies), DIM)).astype(np.float32)
        size = rng.uniform(0.1, 0.5, (len(copies), 1)).astype(np.float32)
        noisy = rows[sources] + size * noise / np.float32(np.sqrt(DIM))
        rows[copies] = normalise(np.maximum(noisy, 0.0))
        yield rows


def planted(n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The content ids (1-based) of each planted copy and its source, as stand_ins made them."""
    firsts, seconds = [], []
    for start, (rows, _) in synthetic_chunks(n, DIM, CLUSTERS, 0):
        rng = np.random.default_rng([0, start])
        copies = np.arange(COPY_EVERY - 1, len(rows), COPY_EVERY)
        sources = (copies - 1 - rng.integers(0, COPY_EVERY - 1, len(copies))).clip(0)
        firsts.append(start + sources + 1)
        seconds.append(start + copies + 1)
    return np.concatenate(firsts), np.concatenate(seconds)


def stand_in_state(n: int) -> Path:
    state = cache_dir() / "bench" / f"search-{n}"
    if (state / "done").is_file():
        return state
    shutil.rmtree(state, ignore_errors=True)
    started = time.perf_counter()
    write_catalog(state, stand_ins(n))
    (state / "done").write_text("")
    print(f"wrote a catalog of {n:,} stand-in photos in {time.perf_counter() - started:.0f} s")
    return state


def drop_index(state: Path) -> None:
    for path in state.glob("search-index*"):
        path.unlink()


def config_file(state: Path, root: Path) -> Path:
    (root / "photos").mkdir(parents=True, exist_ok=True)
    path = root / "autoalbum.yaml"
    path.write_text(f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
                    f"  state: {state}\n")  # fmt: skip
    return path


def measured(command: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of a child process; GNU time runs it, since this
    process's own size would count as the child's peak if it forked it directly."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], env=env,
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    seconds, kilobytes = done.stderr.decode().strip().splitlines()[-1].split()
    return float(seconds), int(kilobytes) / 1024, done.stdout.decode()


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "autoalbum.cli", args[0], "--config", str(config), *args[1:]]


def row(what: str, now: str, before: str = "") -> None:
    print(f"  {what:<46} {now:>22} {before:>22}", flush=True)


# real embeddings


def real_vectors() -> Matrix:
    parts_: list[Matrix] = []
    for name in sorted(glob.glob(str(cache_dir() / "bench" / "*.npz"))):
        if "/search-" in name:
            continue
        stored = np.load(name)
        if "vectors" in stored.files:
            parts_.append(stored["vectors"].astype(np.float32))
        else:
            parts_.extend(np.split(stored["features"].astype(np.float32), 2, axis=1))
    return normalise(np.vstack(parts_)) if parts_ else np.zeros((0, DIM), np.float32)


def real(args: argparse.Namespace, work: Path) -> None:
    x = real_vectors()
    if not len(x):
        print("real: no cached embeddings (run bench/cluster_methods.py and bench/nesting.py)")
        return
    state = work / "real"
    write_catalog(state, iter([x]))
    codes = Codes.of(np.arange(1, len(x) + 1, dtype=np.int64), x)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(x), min(args.queries, len(x)), replace=False)
    stores = Stores(state, check=False)
    search = Search(stores, None)  # type: ignore[arg-type]
    search.similar(path_of(1), 10)  # builds the index
    hits_index, hits_scan = [], []
    for row_ in picked:
        exact = x @ x[row_]
        exact[row_] = -np.inf
        truth = set((np.argpartition(-exact, 10)[:10] + 1).tolist())
        found = {int(n.path.stem.split("_")[1]) for n in search.similar(path_of(row_ + 1), 10)}
        hits_index.append(len(truth & found) / 10)
        query = normalise(codes.take(np.array([row_])))[0]
        scanned, _ = most_similar([codes], query, 10, skip=int(row_ + 1))
        hits_scan.append(len(truth & set(scanned.tolist())) / 10)
    print(f"\nreal embeddings: {len(x):,} photos, {len(picked)} queries")
    row("", "index", "today (scan)")
    row("similar recall@10 vs exact float32", f"{np.mean(hits_index):.4f}",
        f"{np.mean(hits_scan):.4f}")  # fmt: skip
    started = time.perf_counter()
    exact_first, exact_second = similar_pairs(codes, T)
    exact_seconds = time.perf_counter() - started
    started = time.perf_counter()
    opened = SearchIndex(stores.catalog, state).read(mapped=True)
    first, second = cell_pairs([codes], len(codes), parts(opened.index), T, lambda _: None)
    first, second, _ = scored(first, second, lambda r: Codes(r, codes.codes[r]), T)
    index_seconds = time.perf_counter() - started
    truth_pairs = set(zip(exact_first.tolist(), exact_second.tolist(), strict=True))
    found_pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    recall = len(truth_pairs & found_pairs) / max(1, len(truth_pairs))
    row(f"near pairs (>= {T}) found", f"{len(found_pairs):,} ({recall:.4f})",
        f"{len(truth_pairs):,}")  # fmt: skip
    row("near pairs seconds", f"{index_seconds:.1f}", f"{exact_seconds:.1f}")
    stores.close()


# stand-ins


@contextmanager
def baseline_code(ref: str | None, work: Path) -> Iterator[Path | None]:
    if ref is None:
        yield None
        return
    with checkout(ref, work / "baseline") as daemon:
        yield daemon


def median_similar(
    config: Path, env: dict[str, str], image: Path, repeats: int = 3
) -> tuple[float, float]:
    runs = [measured(cli(config, "similar", str(image), "-n", "10"), env) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def stand_in(n: int, args: argparse.Namespace, work: Path, baseline: Path | None) -> None:
    state = stand_in_state(n)
    drop_index(state)
    root = work / f"lib-{n}"
    config = config_file(state, root)
    now_env = code_env(HERE_CODE)
    before_env = code_env(baseline) if baseline is not None else None
    print(f"\n{n:,} stand-in photos (one in {COPY_EVERY} a near copy)")
    row("", "index", "today")

    build = [sys.executable, "-c", "import sys; from pathlib import Path; "
             "from autoalbum.library.catalog import Catalog; "
             "from autoalbum.library.search_index import SearchIndex; "
             f"c = Catalog(Path({str(state / CATALOG_NAME)!r}), check=False); "
             f"SearchIndex(c, Path({str(state)!r})).refresh()"]  # fmt: skip
    build_seconds, build_rss, _ = measured(build, now_env)
    index_file = next(state.glob("search-index.*.faiss"))
    row("index build", f"{build_seconds:.1f} s, {build_rss:.0f} MB", "none")
    row("index bytes per photo", f"{index_file.stat().st_size / n:.0f}",
        f"catalog {(state / CATALOG_NAME).stat().st_size / n:.0f}")  # fmt: skip

    stores = Stores(state, check=False)
    search = Search(stores, None)  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    queries = rng.choice(np.arange(1, n + 1), args.queries, replace=False)
    search.similar(path_of(int(queries[0])), 10)
    timings, hits, scan_times = [], [], []
    ids = stores.catalog.content_ids(live_only=True)
    for number, content in enumerate(queries):
        started = time.perf_counter()
        found = search.similar(path_of(int(content)), 10)
        timings.append(time.perf_counter() - started)
        if number < args.scans:
            query = normalise(stores.catalog.vectors([int(content)]))[0]
            started = time.perf_counter()
            truth, _ = most_similar(stores.catalog.code_chunks(ids), query, 10, skip=int(content))
            scan_times.append(time.perf_counter() - started)
            got = {int(f.path.stem.split("_")[1]) for f in found}
            hits.append(len(set(truth.tolist()) & got) / 10)
    row("similar: the search, median", f"{statistics.median(timings) * 1000:.1f} ms",
        f"{statistics.median(scan_times) * 1000:.0f} ms")  # fmt: skip
    row(f"similar recall@10 vs the scan ({len(hits)} queries)", f"{np.mean(hits):.4f}", "1")

    inside = path_of(int(queries[1]))
    outside = work / "outside.jpg"
    if not outside.exists():
        from PIL import Image
        from skimage import data

        Image.fromarray(data.chelsea()).save(outside)  # type: ignore[no-untyped-call]
    for label, image in (("a library photo", inside), ("an outside image", outside)):
        now = median_similar(config, now_env, image)
        before = median_similar(config, before_env, image) if before_env else None
        row(f"similar process, {label}", f"{now[0]:.2f} s, {now[1]:.0f} MB",
            f"{before[0]:.2f} s, {before[1]:.0f} MB" if before else "")  # fmt: skip

    now_dup = measured(cli(config, "duplicates"), now_env)
    before_dup = (
        measured(cli(config, "duplicates"), before_env)
        if before_env and n <= args.exact_up_to
        else None
    )
    row("duplicates process", f"{now_dup[0]:.0f} s, {now_dup[1]:.0f} MB",
        f"{before_dup[0]:.0f} s, {before_dup[1]:.0f} MB" if before_dup else "not run")  # fmt: skip
    row("duplicate groups", now_dup[2].strip().splitlines()[-1],
        before_dup[2].strip().splitlines()[-1] if before_dup else "")  # fmt: skip

    opened = SearchIndex(stores.catalog, state).read(mapped=True)
    first, second = cell_pairs(stores.catalog.code_chunks(ids), len(ids), parts(opened.index), T,
                               lambda _: None)  # fmt: skip
    first, second, _ = scored(first, second, lambda r: stores.catalog.codes_of(ids[r]), T)
    found_pairs = set(zip((ids[first]).tolist(), (ids[second]).tolist(), strict=True))
    sources, copies = planted(n)
    near = [
        (int(a), int(b))
        for a, b, s in zip(sources, copies, _pair_similarity(stores, sources, copies), strict=True)
        if s >= T and a != b
    ]
    row("planted near copies found", f"{sum(p in found_pairs for p in near) / len(near):.4f}",
        f"of {len(near):,}")  # fmt: skip
    if n <= args.exact_up_to:
        codes = stores.catalog.codes(ids)
        started = time.perf_counter()
        exact_first, exact_second = similar_pairs(codes, T)
        exact_seconds = time.perf_counter() - started
        exact = set(zip(ids[exact_first].tolist(), ids[exact_second].tolist(), strict=True))
        recall = len(exact & found_pairs) / max(1, len(exact))
        row("near pairs vs exact all pairs", f"{recall:.4f} of {len(exact):,}",
            f"exact {exact_seconds:.0f} s")  # fmt: skip
        del codes
    stores.close()

    behind = work / f"behind-{n}"
    shutil.copytree(state, behind)
    write_catalog(behind, stand_ins(BEHIND, seed=7))
    behind_config = config_file(behind, work / f"lib-behind-{n}")
    tail = median_similar(behind_config, now_env, inside)
    row(f"similar process, index {BEHIND:,} behind", f"{tail[0]:.2f} s, {tail[1]:.0f} MB")
    with Catalog(behind / CATALOG_NAME, check=False) as catalog:
        started = time.perf_counter()
        SearchIndex(catalog, behind).refresh()
        row("bring the file up to date", f"{time.perf_counter() - started:.1f} s",
            f"build {build_seconds:.1f} s")  # fmt: skip
    shutil.rmtree(behind)
    assert (state / META_NAME).exists()


def _pair_similarity(stores: Stores, first: NDArray[np.int64], second: NDArray[np.int64]) -> Matrix:
    out = np.empty(len(first), np.float32)
    for at in range(0, len(first), 20_000):
        a = normalise(stores.catalog.vectors(first[at : at + 20_000]))
        b = normalise(stores.catalog.vectors(second[at : at + 20_000]))
        out[at : at + len(a)] = np.einsum("ij,ij->i", a, b)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--exact-up-to", type=int, default=110_000)
    parser.add_argument(
        "--baseline", help="a commit to time whole processes against (git worktree)"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scans", type=int, default=5, help="queries also scanned, for recall")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoalbum-search-") as temp:
        work = Path(temp)
        if not args.skip_real:
            real(args, work)
        with baseline_code(args.baseline, work) as baseline:
            for size in (int(s) for s in args.sizes.split(",")):
                stand_in(size, args, work, baseline)


if __name__ == "__main__":
    main()
