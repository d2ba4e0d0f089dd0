"""The persistent library: one config's catalog and album tree, and the parts that work on them.

The catalog (SQLite, stores.py) holds everything, vectors included; opening a library reads
none of them. The indexer brings the catalog up to date with the folders (indexer.py), the
keeper files photos into albums (keeper.py) and its tree writer writes the album tree
(tree_writer.py), search finds similar
photos and duplicates (search.py). Library composes them for the CLI and the daemon.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.near_copies import NEAR_DUPLICATE_SIMILARITY
from autoalbum.config import Config
from autoalbum.embedding.embedder import (
    Embedder,
    Embeddings,
    Identified,
    LazyEmbedder,
    ModelIdentity,
)
from autoalbum.errors import AutoalbumError
from autoalbum.library import captures
from autoalbum.library.catalog import Catalog
from autoalbum.library.folders import Folders
from autoalbum.library.indexer import Indexer, IndexReport, Progress, Scan
from autoalbum.library.keeper import Cancelled, Keeper, ReclusterReport
from autoalbum.library.people import People
from autoalbum.library.records import AlbumRecord, CorrectionRecord, Status
from autoalbum.library.search import DuplicateGroup, Neighbour, Search
from autoalbum.library.stores import Stores
from autoalbum.library.tagging import Tagger
from autoalbum.library.timeline import Timeline
from autoalbum.library.views import View
from autoalbum.printable import printable
from autoalbum.tags.sidecars import TagsReport

__all__ = ["BacklogScan", "Cancelled", "EarlierModel", "Found", "Library"]

log = logging.getLogger(__name__)

EarlierModel = Callable[[ModelIdentity], Embedder | None]  # the model of a stored identity


class _Waiting:
    """Stands in for a library's own model that can't be found during a switch."""

    def __init__(self, input_size: int, model: ModelIdentity) -> None:
        self.input_size = input_size
        self._model = model

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        raise AutoalbumError(f"{self._model} can't be found; photos wait for the model switch")


def _closed() -> Embedder:
    raise AutoalbumError("the library switched models; open it again")


@dataclass(frozen=True)
class Found:
    """What a scan found (`Library.backlog_scan`): the walk, the files new or changed since
    they were indexed, and the catalogued files gone."""

    walk: Scan
    changed: list[Path]
    vanished: list[Path]


BacklogScan = Callable[[Callable[[], None]], Found]  # tick (now and then) -> its finds


class Library:
    """A photo library: its catalog and album tree, per one config."""

    def __init__(
        self,
        config: Config,
        embedder_factory: Callable[[], Embedder],
        *,
        earlier_model: EarlierModel | None = None,
        check: bool = True,
    ) -> None:
        self.state = config.library.state
        self._stores = Stores(self.state, check=check)  # check: the catalog, for damage
        self._embedder = LazyEmbedder(lambda: self._checked(embedder_factory()))
        self._earlier_model = earlier_model
        self.next_model: Embedder | None = None  # the model a switch re-embeds with
        self.config = config

    def _checked(self, model: Embedder) -> Embedder:
        """The model, once it is known to be the one this library's vectors come from. With
        `earlier_model` (the daemon), another model starts a switch to it instead: the library
        keeps its own model, found by `earlier_model`, until the switch completes."""
        if not isinstance(model, Identified):  # stand-ins in tests have no identity
            return model
        stored = self._stores.identity()
        if self._earlier_model is None or stored is None or stored.digest == model.identity.digest:
            self._stores.check_model_identity(model.identity)
            self._stores.cancel_switch()
            return model
        self._stores.begin_switch(model.identity)
        self.next_model = model
        earlier = self._earlier_model(stored)
        if earlier is None:
            log.warning("%s, the model the library's vectors come from, can't be found: photos "
                        "that arrive wait until the switch to %s completes",
                        stored, model.identity)  # fmt: skip
            return _Waiting(model.input_size, stored)
        return earlier

    @property
    def switching(self) -> ModelIdentity | None:
        """The model a switch is re-embedding the library with, if one is under way."""
        self._embedder.model  # noqa: B018  (opening the model is what starts a switch)
        return self._stores.identity("next_") if self.next_model is not None else None

    @property
    def arrivals_wait(self) -> bool:
        """During a switch, the library's own model can't be found: nothing can be filed."""
        return isinstance(self._embedder.model, _Waiting)

    def complete_switch(self) -> None:
        """Every live photo has a vector from the next model: in one transaction they become
        the vectors and each album's centre moves into the new space. Open the library again
        to embed with the new model."""
        with self.catalog.transaction():
            self._stores.take_next_model()
            self._keeper.recentre()
        self._embedder = LazyEmbedder(_closed)
        self.config = self._config  # its parts embed with nothing now

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """A reloaded config takes effect at once: the parts are made anew from it."""
        self._config = config
        stores, model = self._stores, self._embedder
        self.people = People(config.people, config.library.albums, stores)
        self.timeline = Timeline(config.events, config.library.albums, stores)
        # The trees of groups beside the albums, each a view of the same photos.
        self._views: list[View] = []
        self._views_owed = False  # arrivals the People and Events trees don't show yet
        for view, enabled in ((self.people, config.people.enabled),
                              (self.timeline, config.events.enabled)):  # fmt: skip
            if enabled:
                self._views.append(view)
            else:
                view.forget()
        people = self.people if config.people.enabled else None
        self._indexer = Indexer(config.library, config.model, stores, model, people)
        self.folders = Folders(
            config.library.folders, stores.catalog, config.library.hold_deletions_hours
        )
        self._unreadable: list[Path] = []  # subfolders the last scan could not read
        offline = self.folders.offline
        self._tagger = Tagger(config.tags, stores.catalog, lambda: [o.folder for o in offline()])
        tagger = self._tagger if config.tags.enabled else None  # off: sidecars left as they are
        before: Keeper | None = getattr(self, "_keeper", None)
        gpu = config.model.device != "cpu"  # FAISS's too, where it sees one (faiss_gpu.py)
        self._keeper = Keeper(config.cluster, config.library.albums, stores, tagger, use_gpu=gpu)
        if before is not None and before.tree.albums == config.library.albums:
            self._keeper.tree.stale = before.tree.stale  # the albums the tree is still behind on
        self._search = Search(stores, model, use_gpu=gpu)

    @property
    def catalog(self) -> Catalog:
        return self._stores.catalog

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use so that a no-change run does no model work."""
        return self._embedder.model

    def close(self) -> None:
        self._stores.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # indexing

    def index_files(
        self, progress: Progress | None = None, *, accept_deletions: bool = False
    ) -> IndexReport:
        """Bring the catalog up to date with the folders; embed only new content. Offline
        folders are left as they are, and a mass deletion held back (library/folders.py)
        unless `accept_deletions`."""
        started = time.monotonic()
        self.take_gestures()  # what the user did while nothing was running
        paths = self._scan(accept=accept_deletions)
        vanished = self._indexer.vanished(paths)
        return self.ingest(
            paths, vanished, progress, started=started, accept_deletions=accept_deletions
        )

    def backlog(self, tick: Callable[[], None] = lambda: None) -> tuple[list[Path], list[Path]]:
        """What the folders hold that the catalog does not know yet: new or changed files,
        and catalogued files that are gone (screened as `ingest` takes them). `tick` now and
        then, for a watchdog."""
        return self.take_backlog(self.backlog_scan()(tick))

    def backlog_scan(self) -> BacklogScan:
        """`backlog` for a caller that runs its slow part, the walk and each file's stat, on
        a thread of its own while this one takes arrivals in. The folders are probed now; the
        scan returned reads the catalog on a connection of its own, which only reads. Its
        finds go to `take_backlog`, on this thread. A photo that arrived meanwhile may be
        among them: as new (skipped as unchanged if taken in by then), or as gone if the walk
        had passed its folder (the caller leaves those out: service/backlog.py)."""
        folders, indexer, path = self._look(), self._indexer, self.catalog.path

        def scan(tick: Callable[[], None]) -> Found:
            with Catalog(path, check=False) as catalog:
                catalog.db.execute("PRAGMA query_only=ON")
                walk = indexer.scan(folders, tick)
                changed = indexer.changed(walk.paths, tick, catalog)
                return Found(walk, changed, indexer.vanished(walk.paths, catalog))

        return scan

    def take_backlog(self, found: Found) -> tuple[list[Path], list[Path]]:
        """A `backlog_scan`'s finds, as `backlog` returns them; the folders it found nothing
        in and the subfolders it could not read are recorded."""
        self._note(found.walk)
        return found.changed, found.vanished

    def _scan(self, tick: Callable[[], None] = lambda: None, *, accept: bool = False) -> list[Path]:
        """The photos in the folders that are there; which are offline is recorded."""
        scan = self._indexer.scan(self._look(accept=accept), tick)
        self._note(scan, accept=accept)
        return scan.paths

    def _look(self, *, accept: bool = False) -> list[Path]:
        """The folders to scan: each probed, those offline left out (and recorded)."""
        self.folders.look(accept=accept)
        return self.folders.available()

    def _note(self, scan: Scan, *, accept: bool = False) -> None:
        """What a scan saw of the folders: a folder it found none of its photos in is offline
        (unless `accept`), and an unreadable subfolder's photos are not taken for gone."""
        self._unreadable = scan.unreadable
        if not accept:
            self.folders.scanned(scan.holding)

    def ingest(
        self,
        paths: Sequence[Path],
        vanished: Sequence[Path] = (),
        progress: Progress | None = None,
        *,
        started: float | None = None,
        write_tree: bool = True,
        views: bool = True,
        cluster_first: bool = True,
        accept_deletions: bool = False,
    ) -> IndexReport:
        """Take in files that may be new or changed and files that are gone; file them into
        albums, and update the album tree unless the caller will (`write_tree`), and the
        People and Events trees too unless `views` is False (then `write_views` does). With no
        albums yet, cluster them first, unless the caller will (`cluster_first`). Files gone
        from an offline folder stay, as do those of a mass deletion held back, unless
        `accept_deletions` (library/folders.py)."""
        started = time.monotonic() if started is None else started
        vanished = self.folders.screen(vanished, self._unreadable, accept=accept_deletions)
        keeper, tree = self._keeper, self._keeper.tree
        touched = tree.albums_of([*paths, *vanished])  # the albums they leave
        report = self._indexer.update(paths, vanished, progress)
        keeper.assign_new(cluster_first=cluster_first)  # notes the albums it fills
        new_faces, self._indexer.new_faces = self._indexer.new_faces, []
        new_contents, self._indexer.new_contents = self._indexer.new_contents, []
        # moves, duplicates, leavers: new contents were noted as arrivals
        tree.note_changes(tree.albums_of(paths, besides=set(new_contents)) | touched)
        if self.config.people.enabled:
            self.people.file_faces(new_faces)
        if self.config.events.enabled:
            self.timeline.file(new_contents)
        if vanished or report.relinked or report.missing:
            for view in self._views:
                view.stale = None  # photos went or moved: compare every group
        if write_tree and (report.changed or not tree.tree_exists()):
            tree.write_tree()
        if write_tree and report.changed:  # new faces and dates come with new photos
            if views:
                self._write_views()
            else:
                self._views_owed = True
        report = replace(report, seconds=time.monotonic() - started)  # albums included
        self._keeper.record("index", started, report.embedded)
        return report

    def prepare_arrivals(self) -> bool:
        """What the next arrivals would otherwise wait for, done now (the daemon, when idle):
        the album folders' names listed and the events grouped, once in this process.
        Returns whether there was anything to do."""
        listed = self._keeper.tree.prepare()
        return (self.config.events.enabled and self.timeline.prepare()) or listed

    def catch_up_captures(self, advance: Callable[[int], None] = lambda n: None) -> int:
        """Read when and where every photo indexed before autoalbum read it was taken, a chunk
        and a commit at a time (headers only). Returns how many."""
        total = 0
        while looked := captures.catch_up(self.catalog):
            total += looked
            advance(looked)
        if total and self.config.events.enabled:
            self.timeline.regroup()
            self.timeline.write_tree()
        return total

    def catch_up_faces(self, advance: Callable[[int], None] = lambda n: None) -> int:
        """Look for faces in every photo indexed before people was on (or by another face
        model), a chunk and a commit at a time; then the People tree. Returns how many."""
        people = self.people
        people.check_model()
        total, new = 0, []
        while True:
            looked, ids = people.catch_up()
            if not looked:
                break
            total += looked
            new += ids
            advance(looked)
        people.file_faces(new)
        people.write_tree()
        return total

    def rename_person(self, person: str, name: str) -> str:
        """Name a person for good: the People folder follows, and with tags on the sidecars of
        the person's photos. Returns the person's title before."""
        old = self.people.rename(person, name)
        self.people.write_tree()
        if self.config.tags.enabled:
            self._tagger.follow()
        return old.title

    # albums

    def assign_new(self, *, cluster_first: bool = True) -> int:
        """Put every live, unassigned photo into its nearest album; with no albums yet, cluster
        them first (or leave them, without `cluster_first`)."""
        return self._keeper.assign_new(cluster_first=cluster_first)

    def recluster(
        self, write: bool = True, cancelled: Callable[[], bool] = lambda: False
    ) -> ReclusterReport:
        """Cluster all photos afresh; old albums keep their number and name where matched.
        Raises `Cancelled`, having changed nothing, if `cancelled()` before it commits. With
        `write`, what the user did in the album folder is taken first."""
        if write:
            self.take_gestures()
        report = self._keeper.recluster(write, cancelled)
        for view in self._views:
            view.regroup()
            if write:
                view.write_tree()
        return report

    def rename(self, album: str, name: str) -> str:
        """Give an album a name that every later recluster keeps; returns the old name."""
        return self._keeper.rename(album, name)

    # corrections (library/corrector.py): each one outlasts every recluster and restart

    def move(self, photos: Sequence[Path], album: str) -> AlbumRecord:
        """These photos belong to `album` (name, number or folder) through every recluster."""
        target, ids = self._keeper.album(album), self._content_ids(photos)
        return self._keeper.correct(lambda c: c.pin(ids, target))

    def exclude(self, photos: Sequence[Path], album: str) -> AlbumRecord:
        """These photos are never filed into `album` again."""
        source, ids = self._keeper.album(album), self._content_ids(photos)
        return self._keeper.correct(lambda c: c.exclude(ids, source))

    def merge(self, album: str, into: str) -> tuple[AlbumRecord, AlbumRecord]:
        """`album`'s photos join `into`, and so do later clusters like `album`."""
        source, target = self._keeper.album(album), self._keeper.album(into)
        return self._keeper.correct(lambda c: c.merge(source, target))

    def retire(self, album: str) -> AlbumRecord:
        """`album` is never made again; its photos go to their next-nearest albums."""
        source = self._keeper.album(album)
        return self._keeper.correct(lambda c: c.retire(source))

    def make_album(self, name: str, photos: Sequence[Path]) -> AlbumRecord:
        """A new album from example photos; new photos like them are filed there."""
        ids = self._content_ids(photos)
        return self._keeper.correct(lambda c: c.make_album(name, ids))

    def undo(self, correction_id: int) -> CorrectionRecord:
        """Take a correction back."""
        return self._keeper.correct(lambda c: c.undo(correction_id))

    def corrections(self) -> list[CorrectionRecord]:
        """The corrections in force, oldest first."""
        return self.catalog.corrections()

    def take_gestures(self) -> int:
        """What the user did in the album folder, as corrections, and in the People and Events
        folders; returns how many."""
        taken = self._keeper.tree.take_gestures()
        for view in self._views:
            taken += view.take_gestures()
        return taken

    @property
    def album_folder_changed(self) -> bool:
        """Whether the album folder (or the People or Events folder) changed since autoalbum
        last wrote or read it."""
        views = any(view.folder_changed for view in self._views)
        return self._keeper.tree.gestures.changed() or views

    def _content_ids(self, photos: Sequence[Path]) -> list[int]:
        """The catalogued content of each photo: its path, or a link to it (in the albums)."""
        ids = []
        for photo in photos:
            candidates = (Path(os.path.abspath(photo)), Path(os.path.realpath(photo)))
            records = [self.catalog.file(p) for p in candidates]
            found = [r for r in records if r is not None and r.content_id is not None]
            if not found or found[0].status is not Status.OK:
                raise AutoalbumError(
                    f"{printable(photo)} is not an indexed photo of this library; "
                    "give a photo's path (or its link in the album folder), or run autoalbum index"
                )
            ids.append(int(found[0].content_id))  # type: ignore[arg-type]
        return ids

    def write_tree(self, *, rebuild: bool = False, tick: Callable[[], None] = lambda: None) -> None:
        """Bring the album folder, and the tags if enabled, up to date with the catalog; `tick`
        now and then, for a watchdog."""
        self._keeper.tree.write_tree(rebuild=rebuild, tick=tick)
        for view in self._views:
            if rebuild:  # after a recluster, perhaps another process's: its groups too
                view.stale = None
        self._write_views()

    def write_views(self) -> bool:
        """The People and Events trees brought up to date where arrivals left them behind
        (`ingest(views=False)`: the daemon writes them once no arrival waits, so a burst's
        batches don't each rewrite them); whether they were."""
        if not self._views_owed:
            return False
        self._write_views()
        return True

    def _write_views(self) -> None:
        for view in self._views:
            view.write_tree()
        self._views_owed = False

    # tags

    def sync_tags(self, *, dry_run: bool = False) -> TagsReport:
        """Bring every photo's sidecar to its album (`dry_run`: only say what would change)."""
        return self._tagger.sync_all(dry_run=dry_run)

    def remove_tags(self, *, dry_run: bool = False) -> TagsReport:
        """Take autoalbum's keywords out of every photo's sidecar; works with tags disabled."""
        return self._tagger.remove_all(dry_run=dry_run)

    # search

    def similar(
        self, image: Path, n: int = 10, progress: Progress | None = None
    ) -> list[Neighbour]:
        """The `n` photos most like `image` (which need not be in the library); `progress`
        shows the search index being built, where it must be."""
        return self._search.similar(image, n, progress)

    def duplicates(
        self, min_similarity: float = NEAR_DUPLICATE_SIMILARITY, progress: Progress | None = None
    ) -> list[DuplicateGroup]:
        """Groups of identical files, then groups of near-identical photos."""
        return self._search.duplicates(min_similarity, progress)

    def search_index_due(self, now: float) -> bool:
        """Whether the search index's file should be brought up to date now (search_index.py:
        `refresh_search_index` does it)."""
        return self._search.index.due(now)
