"""`autoalbum report` on a real sort output and a real library, rendered in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

import pytest
from PIL import Image

from autoalbum.albums.sorter import SortOptions, sort_photos
from autoalbum.albums.tree import Member
from autoalbum.cli import main
from autoalbum.config import load_config
from autoalbum.embedding.embedder import OnnxEmbedder
from autoalbum.library.library import Library
from autoalbum.report.build import write_report
from autoalbum.report.collection import (
    Collection,
    ReportAlbum,
    ReportError,
    from_sort_output,
)
from autoalbum.samples import write_sample_photos
from tree_index import images, index_files

pytest.importorskip("skimage.data")

ODD_NAME = 'cat <b>&amp; "friends" #1?.jpg'  # markup, an entity, quotes and URL specials
PHOTOS = 19
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=5000",  # let the lazy thumbnails load before the DOM or picture
]  # fmt: skip


@dataclass
class Page:
    """What the tests read from a report page: thumbnails by section (each with the link around
    it as "link"), links, headings, figure captions (their text pieces), text."""

    images: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    map_links: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    captions: list[list[str]] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    text: str = ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.section = ""
        self.heading: list[str] | None = None
        self.caption: list[str] | None = None
        self.link: str | None = None
        self.in_svg = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self.page.tags.add(tag)
        self.page.ids.add(attr.get("id") or "")
        if tag == "section":
            self.section = attr.get("id") or ""
        elif tag == "img":
            self.page.images.setdefault(self.section, []).append({**attr, "link": self.link})
        elif tag == "svg":
            self.in_svg = True
        elif tag == "a":
            self.link = attr["href"] or ""
            (self.page.map_links if self.in_svg else self.page.links).append(self.link)
        elif tag == "h2":
            self.heading = []
        elif tag == "figcaption":
            self.caption = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.in_svg = False
        elif tag == "a":
            self.link = None
        elif tag == "figcaption" and self.caption is not None:
            self.page.captions.append(self.caption)
            self.caption = None
        elif tag == "h2" and self.heading is not None:
            self.page.headings.append("".join(self.heading))
            self.heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.heading is not None:
            self.heading.append(data)
        if self.caption is not None:
            self.caption.append(data)


def read_page(markup: str) -> Page:
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    reader.page.text = "".join(reader.text)
    return reader.page


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cat, an espresso and a rocket six times each, a cat with an odd name, two bad files."""
    folder = tmp_path_factory.mktemp("photos")
    write_sample_photos(folder, subjects=("chelsea", "coffee", "rocket"))
    shutil.copy(folder / "chelsea" / "chelsea-original.jpg", folder / ODD_NAME)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def sorted_out(
    photos: Path, tmp_path_factory: pytest.TempPathFactory, embedder: OnnxEmbedder
) -> Path:
    out = tmp_path_factory.mktemp("sorted") / "albums"
    sort_photos([photos], out, embedder, SortOptions(k=3))
    return out


@pytest.fixture(scope="module")
def report(sorted_out: Path, photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = _snapshot(photos)
    folder = tmp_path_factory.mktemp("report")
    write_report(from_sort_output(sorted_out), folder)
    assert _snapshot(photos) == before, "the originals must never change"
    return folder


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    pytest.skip("no chromium binary on PATH (apt-get install chromium)")


def render(page: Path, tmp: Path, *extra: str) -> str:
    """Run headless Chromium on `page` with a fresh profile; returns what it printed."""
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    profile.mkdir()
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def browser_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium")


def _expected_albums(sorted_out: Path) -> dict[str, list[str]]:
    """Album label -> file names nearest to the centre first, from index.json."""
    index, _members = index_files(sorted_out)
    labels = {a["name"]: a["label"] for a in index["albums"]}
    albums: dict[str, list[tuple[float, str]]] = {}
    for image in images(sorted_out):
        albums.setdefault(labels[image["album"]], []).append(
            (image["distance"], Path(image["path"]).name)
        )
    return {label: [name for _, name in sorted(members)] for label, members in albums.items()}


def test_page_shows_albums_nearest_first(report: Path, sorted_out: Path) -> None:
    page = read_page((report / "index.html").read_text(encoding="utf-8"))
    expected = _expected_albums(sorted_out)
    for label, names in expected.items():
        assert any(h.startswith(f"{label} {len(names)} photos") for h in page.headings), label
    albums = [images for section, images in page.images.items() if section.startswith("a")]
    shown = sorted([str(img["alt"]) for img in images] for images in albums)
    assert shown == sorted(expected.values()), "albums must list photos nearest first"
    assert all(img["loading"] == "lazy" for images in albums for img in images)
    assert "people" not in page.ids, "a sort output has no persons"
    assert not any(h.startswith("People") for h in page.headings)


def test_page_links_escapes_and_lists_failures(report: Path, photos: Path) -> None:
    page = read_page((report / "index.html").read_text(encoding="utf-8"))
    images = [img for images in page.images.values() for img in images]
    assert len(images) == PHOTOS
    for img in images:
        assert (report / str(img["src"])).is_file() and not os.path.isabs(str(img["src"]))
    assert "b" not in page.tags, "a file name was pasted into the page as markup"
    assert ODD_NAME in page.text and ODD_NAME in {img["alt"] for img in images}
    originals = {Path(os.path.normpath(report / unquote(link))) for link in page.links}
    assert {photos / ODD_NAME, photos / "chelsea" / "chelsea-smaller.jpg"} <= originals
    assert len(page.map_links) == PHOTOS
    assert all(link[1:] in page.ids for link in page.map_links), "map points must hit photos"
    assert "empty.jpg" in page.text and "empty file (0 bytes)" in page.text
    assert "notes.jpg" in page.text and "not an image" in page.text


def test_second_run_reuses_thumbnails(
    sorted_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    command = ["report", "--from", str(sorted_out), "--out", str(out)]
    assert main(command) == 0
    assert f"thumbnails: {PHOTOS} made, 0 reused, 0 failed" in capsys.readouterr().out
    names = [p.name for p in (out / "thumbs").iterdir()]
    assert len(names) == PHOTOS and all(n.endswith(".jpg") for n in names), "no temp files"
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert f"thumbnails: 0 made, {PHOTOS} reused, 0 failed" in printed
    assert f"{PHOTOS} photos, 2 failed files" in printed
    next((out / "thumbs").iterdir()).unlink()
    assert main(command) == 0
    assert f"thumbnails: 1 made, {PHOTOS - 1} reused" in capsys.readouterr().out


def test_unreadable_photo_gets_a_placeholder(photos: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((photos / "coffee" / "coffee-original.jpg").read_bytes()[:200])
    good = [photos / "rocket" / f"rocket-{v}.jpg" for v in ("original", "mirrored")]
    album = ReportAlbum(
        "01-things",
        "things",
        tuple(Member(p, d) for d, p in enumerate([*good, broken, tmp_path / "gone.jpg"])),
    )
    summary = write_report(Collection("test", (album,), (), None), tmp_path / "report")
    assert (summary.thumbnails.made, summary.thumbnails.failed) == (2, 2)
    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count('class="nothumb"') == 2 and "file vanished" in page
    assert "truncated or corrupt" in page or "corrupt image" in page
    assert "no map: no embeddings were found" in page


def test_any_file_name_shows_and_links_to_its_bytes(photos: Path, tmp_path: Path) -> None:
    """Names that are not UTF-8 or hold a newline: shown escaped (caf\\xe9), linked by their
    very bytes, in a page that is valid UTF-8."""
    folder = tmp_path / os.fsdecode(b"dir-\xe9\ncard")
    folder.mkdir()
    odd = [folder / os.fsdecode(name) for name in (b"caf\xe9.jpg", b"line\nbreak.jpg")]
    for path in odd:
        shutil.copy(photos / "rocket" / "rocket-original.jpg", path)
    album = ReportAlbum("01-things", "things", tuple(Member(p, 0.5) for p in odd))
    failed = ((folder / os.fsdecode(b"bro\xefken.jpg"), "not an image"),)
    summary = write_report(Collection("test", (album,), failed, None), tmp_path / "report")
    assert (summary.thumbnails.made, summary.thumbnails.failed) == (2, 0)

    page = read_page((tmp_path / "report" / "index.html").read_bytes().decode("utf-8"))
    assert {img["alt"] for img in page.images["a0"]} == {"caf\\xe9.jpg", "line\\nbreak.jpg"}
    assert "dir-\\xe9\\ncard/bro\\xefken.jpg" in page.text
    report = os.fsencode(tmp_path / "report")
    linked = {os.path.normpath(os.path.join(report, unquote_to_bytes(link))) for link in page.links}
    assert {os.fsencode(p) for p in odd} <= linked


def test_sort_output_without_vectors_gets_a_note(sorted_out: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-albums"
    shutil.copytree(sorted_out, old, symlinks=True, ignore=shutil.ignore_patterns("vectors.npz"))
    summary = write_report(from_sort_output(old), tmp_path / "report")
    assert summary.map_note is not None and "run autoalbum sort again" in summary.map_note
    page = read_page((tmp_path / "report" / "index.html").read_text())
    assert not page.map_links and "run autoalbum sort again" in page.text
    assert sum(len(images) for images in page.images.values()) == PHOTOS


def test_refuses_folders_it_must_not_write(sorted_out: Path, photos: Path, tmp_path: Path) -> None:
    collection = from_sort_output(sorted_out)
    for out in (sorted_out / "report", photos / "report"):
        with pytest.raises(ReportError, match="choose a --out folder outside it"):
            write_report(collection, out)
        assert not out.exists()
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ReportError, match="choose an empty or new --out folder"):
        write_report(collection, tmp_path)
    with pytest.raises(ReportError, match="pass --from the --out folder"):
        from_sort_output(photos)


def test_library_report(
    photos: Path, tmp_path: Path, embedder: OnnxEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "autoalbum.yaml"
    config_file.write_text(
        f"library:\n  folders: [{photos}]\n  albums: {tmp_path / 'albums'}\n"
        f"  state: {tmp_path / 'state'}\ncluster:\n  k: 3\n"
    )
    with Library(load_config(config_file), lambda: embedder) as library:
        library.index_files()
    out = tmp_path / "report"
    assert main(["report", "--config", str(config_file), "--out", str(out)]) == 0
    assert f"{PHOTOS} photos, 2 failed files" in capsys.readouterr().out
    page = read_page((out / "index.html").read_text())
    assert sum(len(images) for images in page.images.values()) == PHOTOS
    assert len(page.map_links) == PHOTOS and "empty file (0 bytes)" in page.text
    assert any(h.startswith("espresso ") for h in page.headings)


def test_chromium_renders_albums_and_thumbnails(
    report: Path, sorted_out: Path, browser_tmp: Path
) -> None:
    dom = read_page(render(report / "index.html", browser_tmp, "--dump-dom"))
    for label, names in _expected_albums(sorted_out).items():
        assert any(h.startswith(f"{label} {len(names)} photos") for h in dom.headings), label
    images = [img for images in dom.images.values() for img in images]
    assert len(images) == PHOTOS
    assert all((report / str(img["src"])).is_file() for img in images)
    assert "b" not in dom.tags and ODD_NAME in dom.text
    assert len(dom.map_links) == PHOTOS


def test_chromium_screenshot(report: Path, browser_tmp: Path) -> None:
    shot = browser_tmp / "report.png"
    render(report / "index.html", browser_tmp, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.is_file() and shot.stat().st_size > 50_000
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # Text and flat CSS give a few hundred colours; painted photo thumbnails give thousands.
    assert colours is not None and len(colours) > 5000, "no thumbnails were painted"
