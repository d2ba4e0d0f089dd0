"""Faces found and described: the ONNX graph built from dlib's weights against dlib itself, the
weights reader on bad files, EXIF orientation, crowds, descriptor codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoalbum.embedding.images import decode_image
from autoalbum.faces import codes, descriptor_model
from autoalbum.faces.detector import landmarks_file
from autoalbum.faces.dlib_file import DlibFileError, read_layers
from autoalbum.faces.finder import FaceFinder
from face_photos import astronaut, coffee, crowd, grace, group, save, variants


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return FaceFinder()


def test_the_onnx_graph_gives_dlibs_own_descriptors(finder: FaceFinder) -> None:
    dlib = pytest.importorskip("dlib")
    model = dlib.face_recognition_model_v1(str(descriptor_model.weights_file()))
    chips = [
        face.chip for image in (grace(), astronaut(), group()) for face in finder.find(image).faces
    ]
    assert len(chips) == 4
    ours = finder.describer.describe(np.stack(chips))
    theirs = np.array([model.compute_face_descriptor(chip) for chip in chips])
    assert np.abs(ours - theirs).max() < 1e-4


def test_the_reader_refuses_what_is_not_dlibs_network(tmp_path: Path) -> None:
    cut = tmp_path / "cut.dat"
    cut.write_bytes(descriptor_model.weights_file().read_bytes()[:300_000])
    with pytest.raises(DlibFileError):
        descriptor_model.build_graph(read_layers(cut))
    with pytest.raises(DlibFileError, match="no dlib network"):
        read_layers(landmarks_file())  # a dlib file, but a shape predictor
    with pytest.raises(DlibFileError, match="cannot read"):
        read_layers(tmp_path / "missing.dat")


def test_faces_are_found_upright_whatever_the_exif_orientation(
    finder: FaceFinder, tmp_path: Path
) -> None:
    boxes = []
    for orientation in (1, 3, 6, 8):
        image = decode_image(save(grace(), tmp_path / f"{orientation}.jpg", orientation), 640)
        found = finder.find(image)
        assert found.size == (512, 600)
        assert len(found.faces) == 1
        box = found.faces[0].box
        boxes.append((box.left, box.top, box.right, box.bottom))
    assert np.ptp(np.array(boxes), axis=0).max() < 0.02


def test_a_crowd_is_found_at_a_larger_detection_size() -> None:
    found = FaceFinder(1600).find(crowd(40))
    assert len(found.faces) == 40
    described = FaceFinder(1600).describe([found])[0]
    assert len(described.faces) == 40
    spread = np.linalg.norm(described.faces[0].descriptor - described.faces[-1].descriptor)
    assert spread < 0.1  # one face, pasted 40 times


def test_codes_keep_distances_within_a_percent_of_dlibs_threshold(finder: FaceFinder) -> None:
    faces = [f for image in (grace(), astronaut(), group()) for f in finder.find(image).faces]
    exact = finder.describe([finder.find(grace()), finder.find(astronaut())])
    vectors = np.stack([f.descriptor for photo in exact for f in photo.faces])
    assert len(faces) == 4
    rng = np.random.default_rng(0)
    vectors = np.vstack([vectors, vectors + rng.normal(0, 0.05, vectors.shape)]).astype(np.float32)
    restored = codes.decode(codes.encode(vectors))
    before = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    after = np.linalg.norm(restored[:, None] - restored[None], axis=2)
    assert np.abs(before - after).max() < 0.006


def test_sort_names_an_album_of_faces_by_them(tmp_path: Path, embedder: object) -> None:
    from autoalbum.albums.sorter import SortOptions, sort_photos
    from autoalbum.embedding.embedder import OnnxEmbedder

    assert isinstance(embedder, OnnxEmbedder)
    for i, image in enumerate([*variants(grace(), 4), *variants(astronaut(), 4)]):
        save(image, tmp_path / "photos" / f"face{i}.jpg")
    for i in range(6):
        save(coffee().rotate(i * 15), tmp_path / "photos" / f"coffee{i}.jpg")
    labels = {
        album.label: {m.path.name for m in album.members}
        for album in sort_photos(
            [tmp_path / "photos"], tmp_path / "albums", embedder, SortOptions(k=2)
        ).albums
    }
    faces = next(label for label, names in labels.items() if "face0.jpg" in names)
    assert faces in ("portraits", "people")
    plain = sort_photos(
        [tmp_path / "photos"], tmp_path / "albums2", embedder, SortOptions(k=2, faces=False)
    )
    assert faces not in {album.label for album in plain.albums}
