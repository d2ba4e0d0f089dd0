"""Images per second of `autoalbum sort` against the tutorials' way, in one run.

The baseline is how the tutorials embed photos: fully decode each file, resize it to 224x224,
and call `session.run` once per image, with the same ONNX model. autoalbum's pipeline decodes in
a thread pool (JPEGs at reduced scale in the DCT domain) while the model embeds whole batches,
then clusters and writes the album tree. Both are timed on the same files, best of --repeat;
`sort` twice: looking for faces (its default, to name albums of people) and with --no-faces.
faces-lfw (photos of people) shows the cost of faces where there are faces to describe.

    .venv/bin/python bench/throughput.py [--datasets ../shared/datasets] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from autoalbum.albums.sorter import SortOptions, sort_photos
from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.embedding.scan import find_images

DEFAULT_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def tutorial_baseline(paths: list[Path], model: Path) -> None:
    """Full decode, resize, one session.run per image: the tutorials' loop."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for path in paths:
        image = Image.open(path).convert("RGB").resize((224, 224))
        session.run(None, {"image": np.asarray(image)[None]})


def autoalbum_sort(folder: Path, embedder: OnnxEmbedder, k: int, faces: bool) -> None:
    with tempfile.TemporaryDirectory() as out:
        sort_photos([folder], Path(out) / "albums", embedder, SortOptions(k=k, faces=faces))


def best_seconds(run: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(name: str, folder: Path, embedder: OnnxEmbedder, k: int, repeat: int) -> None:
    paths = find_images([folder])
    baseline = best_seconds(lambda: tutorial_baseline(paths, embedder.spec.path), repeat)
    ours = best_seconds(lambda: autoalbum_sort(folder, embedder, k, faces=True), repeat)
    plain = best_seconds(lambda: autoalbum_sort(folder, embedder, k, faces=False), repeat)
    n = len(paths)
    print(
        f"{name:<10} {n:>6} {n / baseline:>14.1f} {n / ours:>10.1f} {n / plain:>12.1f} "
        f"{baseline / ours:>8.2f}x {baseline / plain:>8.2f}x {plain / ours:>9.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    embedder = OnnxEmbedder(bundled_model_spec(), Device.CPU)
    print(f"provider {embedder.provider}; best of {args.repeat} runs each")
    print(
        f"{'set':<10} {'images':>6} {'baseline img/s':>14} {'sort img/s':>10} "
        f"{'no faces':>12} {'ratio':>9} {'no faces':>9} {'faces cost':>10}"
    )
    for name, k in (("bigimages", 2), ("catsdogs", 2), ("faces-lfw", 20)):
        folder = args.datasets / name
        if folder.is_dir():
            measure(name, folder, embedder, k, args.repeat)
        else:
            print(f"{name:<10} skipped: {folder} not found")


if __name__ == "__main__":
    main()
