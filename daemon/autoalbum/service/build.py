"""The daemon's collaborators, made in one place for `autoalbum run`."""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from types import FrameType

from autoalbum.config import Config, ModelConfig
from autoalbum.embedding.embedder import Embedder
from autoalbum.library.library import EarlierModel, Library
from autoalbum.library.lock import LibraryLock
from autoalbum.notify import Notifier
from autoalbum.service.daemon import Service
from autoalbum.service.watcher import FolderWatcher

log = logging.getLogger(__name__)


def folder_watcher(config: Config) -> FolderWatcher:
    """The watcher over the library's folders, leaving out the albums and the state."""
    library, watch = config.library, config.watch
    return FolderWatcher(
        library.folders,
        exclude=[library.albums, library.state],
        polling=watch.observer.value == "polling",
        poll_seconds=watch.poll_seconds,
        settle_seconds=watch.settle_seconds,
        follow_symlinks=library.follow_symlinks,
    )


def build_service(
    config: Config,
    open_model: Callable[[ModelConfig], Embedder],
    earlier_model: EarlierModel = lambda identity: None,
) -> Service:
    """The daemon for `config` with its real collaborators. Each model section's model loads
    once, when the service first needs it (after READY: a first start must not wait for it);
    a reload that names another model opens that one. When it is not the library's,
    `earlier_model` finds the library's own, to file arrivals with while the library switches
    (service/switch.py)."""
    model = functools.cache(open_model)
    earlier = functools.cache(earlier_model)

    def open_library(config: Config) -> Library:
        settings = config.model
        return Library(config, lambda: model(settings), earlier_model=earlier)

    return Service(
        config,
        open_library=open_library,
        watch=folder_watcher,
        lock=LibraryLock(config.library.state),
        notifier=Notifier(),
    )


def install_signal_handlers(service: Service) -> None:
    """SIGTERM and SIGINT stop the service after the chunk in hand; SIGHUP reloads its config.
    The handlers only set flags that the loop looks at."""

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current chunk", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: service.reload())
