"""PNG plots for `evaluate --plots`: the elbow curve, a t-SNE map and album contact sheets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from autoalbum.clustering.choose_k import silhouette
from autoalbum.clustering.kmeans import kmeans

THUMB = 96
SHEET_COLUMNS = 8
SHEET_MAX = 48


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def elbow(vectors: NDArray[np.float32], k_range: tuple[int, int], chosen: int, out: Path) -> Path:
    """Inertia and silhouette against k, the chosen k marked."""
    ks = list(range(k_range[0], min(k_range[1], len(vectors) - 1) + 1))
    sample = np.random.default_rng(0).permutation(len(vectors))[:2000]
    distances = np.clip(1.0 - vectors[sample] @ vectors[sample].T, 0, 2).astype(np.float32)
    inertias, silhouettes = [], []
    for k in ks:
        fit = kmeans(vectors, k, n_init=2)
        inertias.append(fit.inertia)
        silhouettes.append(silhouette(distances, fit.labels[sample]))
    plt = _pyplot()
    figure, left = plt.subplots(figsize=(8, 5))
    left.plot(ks, inertias, "o-", color="tab:blue", label="inertia")
    left.set_xlabel("k (number of albums)")
    left.set_ylabel("inertia (sum of squared distances)", color="tab:blue")
    right = left.twinx()
    right.plot(ks, silhouettes, "s--", color="tab:orange", label="silhouette")
    right.set_ylabel("silhouette (cosine)", color="tab:orange")
    left.axvline(chosen, color="grey", linestyle=":", label=f"chosen k = {chosen}")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    figure.legend(handles=handles, loc="lower center", ncol=3)
    figure.subplots_adjust(bottom=0.25)
    left.set_title("Elbow curve: inertia and silhouette against k")
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def tsne_points(vectors: NDArray[np.float32]) -> NDArray[np.float64]:
    """2-D t-SNE coordinates of `vectors` (PCA to 50 dimensions first); needs 3 or more rows."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

    reduced = PCA(n_components=min(50, len(vectors) - 1), random_state=0).fit_transform(vectors)
    perplexity = max(2.0, min(30.0, (len(vectors) - 1) / 3))
    # One OpenMP thread: on a busy 2-core machine a second one, spinning at each of t-SNE's
    # barriers, took 10.6 s instead of 0.3 s for 30 points and 72 s instead of 48 s for 1,360.
    with threadpool_limits(limits=1, user_api="openmp"):
        points: NDArray[np.float64] = TSNE(
            perplexity=perplexity, random_state=0, init="pca"
        ).fit_transform(reduced)
    return points


def embedding_map(
    vectors: NDArray[np.float32], albums: Sequence[int | str], labels: Sequence[str], out: Path
) -> Path:
    """A 2-D t-SNE map coloured by album and, beside it, by true label."""
    points = tsne_points(vectors)
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(13, 6))
    names = sorted(set(labels))
    colourings = (
        ("by album", [str(a) for a in albums]),
        ("by true label", list(labels)),
    )
    palette = plt.get_cmap("tab20")
    for axis, (title, groups) in zip(axes, colourings, strict=True):
        values = np.array(groups)
        legend = sorted(set(groups), key=lambda g: (len(g), g)) if title == "by album" else names
        for index, group in enumerate(legend):
            mask = values == group
            axis.scatter(
                points[mask, 0], points[mask, 1], s=8, color=palette(index % 20), label=group
            )
        axis.set_title(f"t-SNE of the embeddings, {title}")
        axis.set_xticks([])
        axis.set_yticks([])
        if len(legend) <= 20:
            axis.legend(fontsize=7, loc="best", markerscale=1.5)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def contact_sheet(paths: Sequence[Path], out: Path) -> Path:
    """Thumbnails in the given order (nearest the album centre first), 8 to a row."""
    shown = list(paths)[:SHEET_MAX]
    rows = max(1, -(-len(shown) // SHEET_COLUMNS))
    sheet = Image.new("RGB", (SHEET_COLUMNS * THUMB, rows * THUMB), "white")
    for index, path in enumerate(shown):
        with Image.open(path) as image:
            image.draft("RGB", (THUMB, THUMB))
            thumb = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (THUMB, THUMB))
        sheet.paste(thumb, ((index % SHEET_COLUMNS) * THUMB, (index // SHEET_COLUMNS) * THUMB))
    sheet.save(out)
    return out
