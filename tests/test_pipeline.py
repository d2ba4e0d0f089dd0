"""The decode-and-embed pipeline on real files: order, failures and fingerprints."""

from __future__ import annotations

from pathlib import Path

from autoalbum.embedding.fingerprint import fingerprint_file
from autoalbum.embedding.pipeline import embed_paths
from colour_library import ColourEmbedder, photo


def test_fingerprints_come_with_the_vectors(tmp_path: Path) -> None:
    paths = [photo(tmp_path / f"p{i}.png", "red", i) for i in range(5)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    paths.insert(2, broken)
    gone = tmp_path / "gone.jpg"
    result = embed_paths([*paths, gone], ColourEmbedder(), batch_size=2, fingerprint=True)
    assert result.paths == [p for p in paths if p != broken]
    assert result.fingerprints == [fingerprint_file(p) for p in result.paths]
    assert len(result.vectors) == 5
    failed = {f.path: f.fingerprint for f in result.failures}
    assert failed == {broken: fingerprint_file(broken), gone: None}


def test_no_fingerprints_unless_asked(tmp_path: Path) -> None:
    paths = [photo(tmp_path / f"p{i}.png", "blue", i) for i in range(3)]
    result = embed_paths(paths, ColourEmbedder())
    assert result.paths == paths and result.fingerprints == []
