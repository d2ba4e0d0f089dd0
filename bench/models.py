"""The bundled models side by side: embedding speed on this CPU and album quality per labelled set.

Speed: the same pre-decoded photos, resized once to each model's input size, embedded in
batches of 32; the models take turns, round after round, and each keeps its best round, so
that a loaded machine slows them alike (compare the ratios, not the absolute numbers). Quality:
`autoalbum evaluate SET --k TRUE_K --model NAME --json` on every labelled set, in a fresh cache
so that every model embeds in this run (its img/s includes decoding).

    .venv/bin/python bench/models.py [--datasets ../shared/datasets] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.bundled import MODELS
from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.embedding.images import load_for_model
from autoalbum.embedding.scan import find_images

DEFAULT_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SETS = {"catsdogs": 2, "flowers17": 17, "hymenoptera": 2, "mnist": 10, "cifar10": 10}
BATCH = 32


def embedding_speed(
    embedders: dict[str, OnnxEmbedder], photos: list[Path], rounds: int
) -> dict[str, float]:
    """Best images per second of each model over `rounds` turns on the same decoded photos."""
    batches: dict[str, list[NDArray[np.uint8]]] = {}
    for name, embedder in embedders.items():
        pixels = np.stack([load_for_model(p, embedder.input_size) for p in photos])
        batches[name] = [pixels[i : i + BATCH] for i in range(0, len(pixels), BATCH)]
        embedder.embed(batches[name][0])  # warm up: the first run allocates
    best = dict.fromkeys(embedders, 0.0)
    for _ in range(rounds):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            for batch in batches[name]:
                embedder.embed(batch)
            best[name] = max(best[name], len(photos) / (time.perf_counter() - started))
    return best


def evaluate(folder: Path, k: int, model: str, cache: Path) -> dict[str, object]:
    """autoalbum evaluate's JSON for one set and model, run as a user runs it."""
    env = dict(os.environ, AUTOALBUM_CACHE=str(cache), AUTOALBUM_CONFIG=str(cache / "none.yaml"))
    command = [sys.executable, "-m", "autoalbum.cli", "evaluate", str(folder), "--k", str(k)]
    command += ["--model", model, "--device", "cpu", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=128, help="photos in the speed test")
    args = parser.parse_args()
    sets = {name: k for name, k in SETS.items() if (args.datasets / name).is_dir()}
    embedders = {name: OnnxEmbedder(bundled_model_spec(name), Device.CPU) for name in MODELS}
    photos = find_images([args.datasets / "catsdogs"])[: args.photos]
    speed = embedding_speed(embedders, photos, args.rounds)
    print(f"embedding {len(photos)} pre-decoded catsdogs photos, batches of {BATCH}, "
          f"best of {args.rounds} rounds, {os.cpu_count()} cores:")  # fmt: skip
    for name, rate in speed.items():
        size = embedders[name].input_size
        print(f"  {name}  {size} px  {rate:6.1f} img/s  {rate / speed['lite0']:.2f}x lite0")
    header = "".join(f" | {name} NMI / acc / img/s" for name in MODELS)
    print(f"\n| set (true k){header} |\n|---{'|---' * len(MODELS)}|")
    with tempfile.TemporaryDirectory() as cache:
        for name, k in sets.items():
            cells = []
            for model in MODELS:
                result = evaluate(args.datasets / name, k, model, Path(cache))
                rate = result["images_per_second"]
                cells.append(
                    f"{result['nmi']:.3f} / {result['hungarian_accuracy']:.3f} / {rate:.0f}"
                )
            print(f"| {name} ({k}) | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
