"""The report's People section on a real library with real faces (face_photos.py), rendered in
headless Chromium; the scene model is the colour stand-in, which persons don't depend on."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image

from autoalbum.cli import main
from autoalbum.config import Config, PeopleConfig
from autoalbum.faces.detector import FaceDetector
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.library import Library
from autoalbum.report.build import write_report
from autoalbum.report.collection import ReportError, from_library
from autoalbum.report.thumbnails import THUMB_SIDE
from colour_library import ColourEmbedder, colour_photos, config
from face_photos import astronaut, grace, group, noise, save, variants
from test_report import Page, read_page, render

pytest.importorskip("skimage.data")


def _config(root: Path, **people: object) -> Config:
    return dataclasses.replace(config(root), people=PeopleConfig(**people))  # type: ignore[arg-type]


def _index(root: Path) -> None:
    model = ColourEmbedder()
    with Library(_config(root), lambda: model) as library:
        assert not library.index_files().failed


def _config_file(root: Path) -> Path:
    """The YAML of `_config(root)`, for the command line."""
    path = root / "autoalbum.yaml"
    path.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 2\n"
    )
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four photos of each of two people and one of both; Grace's biggest face is in a photo
    stored turned (EXIF orientation 6). The detector also finds unsure "faces" on Eileen's
    suit, and they make a third person: one with no sure face."""
    root = tmp_path_factory.mktemp("people")
    photos = root / "photos"
    for i, image in enumerate(variants(grace(), 4)):
        if i == 0:
            image = image.resize((image.width * 13 // 10, image.height * 13 // 10))
        save(image, photos / f"grace{i}.jpg", orientation=6 if i == 0 else 1)
    for i, image in enumerate(variants(astronaut(), 4)):
        save(image, photos / "trip" / f"eileen{i}.jpg")
    save(group(), photos / "group.jpg")
    save(noise((300, 200)), photos / "noise.jpg")
    _index(root)
    return root


@pytest.fixture(scope="module")
def report(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", "--config", str(_config_file(library)), "--out", str(out)]) == 0
    return out


def _expected(root: Path) -> list[tuple[str, int, int]]:
    """(title, photos, faces) of the persons with a People folder, from the catalog."""
    with Catalog(root / "state" / CATALOG_NAME) as catalog:
        counts = catalog.person_counts()
        persons = [(p.title, counts.get(p.id, (0, 0))) for p in catalog.persons() if not p.hidden]
    return [(title, photos, faces) for title, (faces, photos) in persons if photos >= 3]


def _people(page: Page) -> list[tuple[dict[str, str | None], list[str]]]:
    """Each person's crop and caption pieces: title, counts, "from ", the photo."""
    images = page.images.get("people", [])
    captions = [c for c in page.captions if len(c) == 4 and c[2] == "from "]
    assert len(captions) == len(images)
    return list(zip(images, captions, strict=True))


def _linked(report: Path, link: str | None) -> Path:
    assert link is not None and not os.path.isabs(link)
    return Path(os.path.normpath(report / unquote(link)))


def test_people_shows_each_person_with_counts(report: Path, library: Path) -> None:
    page = read_page((report / "index.html").read_text(encoding="utf-8"))
    people = _people(page)
    shown = [(str(img["alt"]), caption[1]) for img, caption in people]
    expected = _expected(library)
    assert sorted(shown) == sorted((t, f"{p} photos, {f} faces") for t, p, f in expected)
    assert [counts for _, counts in shown][:2] == ["5 photos, 5 faces"] * 2, "Grace, Eileen"
    photos = [int(counts.split()[0]) for _, counts in shown]
    assert photos == sorted(photos, reverse=True), "most photos first"
    assert any(h.startswith(f"People {len(expected)} persons") for h in page.headings)
    assert "#people" in page.links


def test_each_crop_links_to_the_persons_folder(report: Path, library: Path) -> None:
    page = read_page((report / "index.html").read_text(encoding="utf-8"))
    sources = set()
    for img, (title, _, _, name) in _people(page):
        folder = _linked(report, img["link"])
        assert folder == library / "People" / title and folder.is_dir()
        assert any(link.is_symlink() for link in folder.iterdir())
        photo = next(_linked(report, a) for a in page.links if a.endswith(name))
        assert photo.is_file() and photo.is_relative_to(library / "photos")
        sources.add(name)
    assert {"grace0.jpg", "group.jpg"} <= sources, "the biggest sure faces of Grace and Eileen"


def test_crops_are_square_upright_faces(report: Path) -> None:
    page = read_page((report / "index.html").read_text(encoding="utf-8"))
    crops = {}
    for img, caption in _people(page):
        path = report / str(img["src"])
        assert path.parent == report / "thumbs" and path.is_file()
        with Image.open(path) as crop:
            assert crop.size == (THUMB_SIDE, THUMB_SIDE)
            crops[caption[3]] = crop.convert("RGB")
    detector = FaceDetector()
    for name in ("grace0.jpg", "group.jpg"):  # Grace's biggest face, and Eileen's
        faces = detector.find(crops[name], THUMB_SIDE)
        # The detector finds upright faces only: a crop left turned by EXIF would show none.
        assert len(faces) == 1 and faces[0].score > 0.3, name
        box = faces[0].box
        assert 0.3 < (box.left + box.right) / 2 < 0.7 and 0.2 < box.right - box.left < 0.9


def test_crops_are_reused_and_follow_a_rename(
    library: Path, report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    command = ["report", "--config", str(_config_file(library)), "--out", str(out)]
    persons = len(_expected(library))
    assert main(command) == 0
    made = capsys.readouterr().out
    assert f"thumbnails: {10 + persons} made, 0 reused" in made and f"{persons} persons" in made
    assert main(command) == 0
    assert f"thumbnails: 0 made, {10 + persons} reused" in capsys.readouterr().out
    thumbs = {p.name for p in (out / "thumbs").iterdir()}
    assert thumbs == {p.name for p in (report / "thumbs").iterdir()}
    model = ColourEmbedder()
    with Library(_config(library), lambda: model) as opened:
        title = opened.people.shown()[0].title
        opened.rename_person(title, "Ann")
    assert main(command) == 0
    assert f"thumbnails: 0 made, {10 + persons} reused" in capsys.readouterr().out
    page = read_page((out / "index.html").read_text(encoding="utf-8"))
    named = next(img for img, _ in _people(page) if img["alt"] == "Ann")
    assert _linked(out, named["link"]) == library / "People" / "Ann"
    assert (library / "People" / "Ann").is_dir()


def test_no_people_section_without_shown_persons(library: Path, tmp_path: Path) -> None:
    for settings in (_config(library, enabled=False), _config(library, min_photos=6)):
        collection = from_library(settings)
        assert collection.persons == ()
        write_report(collection, tmp_path / "report")
        page = read_page((tmp_path / "report" / "index.html").read_text(encoding="utf-8"))
        assert "people" not in page.ids and "#people" not in page.links
        assert not any(h.startswith("People") for h in page.headings)
    colours = colour_photos(tmp_path / "colours")
    _index(colours)
    assert from_library(_config(colours)).persons == ()


def test_refuses_to_write_into_the_people_tree(library: Path) -> None:
    out = library / "People" / "report"
    with pytest.raises(ReportError, match="choose a --out folder outside it"):
        write_report(from_library(_config(library)), out)
    assert not out.exists()


def test_chromium_renders_the_faces(report: Path, tmp_path: Path) -> None:
    dom = read_page(render(report / "index.html", tmp_path, "--dump-dom"))
    people = _people(dom)
    assert len(people) >= 2 and all((report / str(img["src"])).is_file() for img, _ in people)
    shot = tmp_path / "people.png"
    render(report / "index.html", tmp_path, f"--screenshot={shot}", "--window-size=1280,480")
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # The People section comes first: its two painted faces give thousands of colours.
    assert colours is not None and len(colours) > 3000, "no faces were painted"
