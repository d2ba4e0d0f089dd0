"""Keep each photo's XMP sidecar carrying its album as a keyword and its named persons (names
and faces, persons.py), and report what changed.

`sync_tags` is the one entry point: the daemon calls it with the photos whose album changed,
`autoalbum tags` with every photo (`--remove`: every photo with no album). It never raises for a
sidecar: a malformed, hostile, read-only or unwritable one is left untouched and reported. A
full disk is no one sidecar's doing, nor is a mirror that can't be written: those raise (the
daemon pauses, a command stops, faults.py), where a photo folder that is read-only only costs
its sidecars.

A sidecar autoalbum created and that would hold nothing once its keywords and persons go (its
bytes are exactly `EMPTY_PACKET` again) is deleted; any other sidecar, and any sidecar another
program has touched since, is kept, emptied of autoalbum's entries only. Images are never
opened for writing: a sidecar's name must end in .xmp and differ from the photo's.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from autoalbum.albums.names import LABEL_PATH_SEPARATOR
from autoalbum.config import TagsConfig
from autoalbum.durable import replacing
from autoalbum.faults import Fault, fault_of
from autoalbum.tags.persons import Persons, retag_persons
from autoalbum.tags.xmp import EMPTY_PACKET, MAX_BYTES, XmpError, retag

log = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    FAILED = "failed"

    @property
    def verb(self) -> str:
        """`update` in `would update`."""
        return {"unchanged": "leave", "failed": "skip"}.get(self.value, self.value[:-1])


@dataclass(frozen=True)
class SidecarResult:
    sidecar: Path
    photos: tuple[Path, ...]  # more than one where IMG_1.jpg and IMG_1.cr2 share IMG_1.xmp
    outcome: Outcome
    added: tuple[str, ...] = ()  # album labels that gained keywords
    removed: tuple[str, ...] = ()  # album labels whose keywords went
    reason: str = ""  # why it failed; the sidecar was left untouched
    persons_added: tuple[str, ...] = ()  # names of persons that gained autoalbum's entries
    persons_removed: tuple[str, ...] = ()  # names of persons whose autoalbum entries went

    def describe(self, dry_run: bool = False) -> str:
        """One line: `would update /p/IMG_1.jpg.xmp: + Dog, - Cat, + person Ann`."""
        if self.outcome is Outcome.FAILED:
            return f"skipped {self.sidecar}: {self.reason}"
        verb = f"would {self.outcome.verb}" if dry_run else self.outcome.value
        changes = [f"+ {label}" for label in self.added] + [f"- {label}" for label in self.removed]
        changes += [f"+ person {name}" for name in self.persons_added]
        changes += [f"- person {name}" for name in self.persons_removed]
        return f"{verb} {self.sidecar}" + (f": {', '.join(changes)}" if changes else "")


@dataclass(frozen=True)
class TagsReport:
    results: tuple[SidecarResult, ...]
    dry_run: bool

    def having(self, *outcomes: Outcome) -> tuple[SidecarResult, ...]:
        return tuple(r for r in self.results if r.outcome in outcomes)

    @property
    def failed(self) -> tuple[SidecarResult, ...]:
        return self.having(Outcome.FAILED)

    def lines(self) -> list[str]:
        """A line for every sidecar that changed (or would) or failed."""
        return [r.describe(self.dry_run) for r in self.results if r.outcome != Outcome.UNCHANGED]

    def summary(self) -> str:
        counts = {o: len(self.having(o)) for o in Outcome}
        removed = sum(len(r.removed) for r in self.results)
        parts = ", ".join(f"{counts[o]} {o.value}" for o in Outcome)
        prefix = "dry run, nothing written: " if self.dry_run else ""
        return f"{prefix}sidecars: {parts}; {removed} album keywords removed"


def _clean(text: str) -> str:
    """`text` in NFC, characters XML can't hold (controls) gone, runs of spaces as one."""
    text = unicodedata.normalize("NFC", text)
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def keyword(label: str) -> str:
    """An album label as a keyword: | and / would nest it deeper, so they become -. A
    sub-album's label (albums/names.py label_path) becomes its path, `dog/retriever`."""
    parts = (
        _clean(part.replace("|", "-").replace("/", "-"))
        for part in label.split(LABEL_PATH_SEPARATOR)
    )
    words = [part for part in parts if part]
    return "/".join(words)


def _named(persons: Persons | None) -> Persons | None:
    """`persons` with names as XML can hold them; None when no named face is left."""
    if persons is None:
        return None
    regions = tuple(replace(r, name=name) for r in persons.regions if (name := _clean(r.name)))
    return replace(persons, regions=regions) if regions else None


@dataclass
class _Wanted:
    """What one sidecar is to carry, for the photos that share it."""

    photos: list[Path] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    persons: dict[Path, Persons] = field(default_factory=dict)

    def named(self) -> Persons | None:
        """The named persons of the first photo that has any: regions fit one image only."""
        return self.persons[min(self.persons)] if self.persons else None


def sidecar_path(photo: Path, config: TagsConfig) -> Path:
    """Where `photo`'s sidecar lies: beside it, or under the mirror at its full path."""
    photo = Path(os.path.abspath(photo))
    name = photo.name + ".xmp" if config.naming == "image.ext.xmp" else photo.stem + ".xmp"
    if config.location == "beside":
        return photo.parent / name
    if config.mirror is None:
        raise ValueError("tags.location is mirror but tags.mirror is not set")
    return config.mirror / photo.parent.relative_to(photo.anchor) / name


def sync_tags(
    albums: Mapping[Path, str | None],
    config: TagsConfig,
    *,
    dry_run: bool = False,
    persons: Mapping[Path, Persons] | None = None,
) -> TagsReport:
    """Make each photo's sidecar carry its album label (None: no album) as autoalbum's only
    keyword under `config.root`, and its named `persons` as autoalbum's only person entries (a
    photo of `albums` that `persons` leaves out has none); with `dry_run`, only report what
    would change. `enabled` is the caller's to check: removing works while tags are off."""
    groups: dict[Path, _Wanted] = {}
    for photo, label in albums.items():
        wanted = groups.setdefault(sidecar_path(photo, config), _Wanted())
        wanted.photos.append(Path(os.path.abspath(photo)))
        if label is not None and (word := keyword(label)):
            wanted.labels.add(word)
        if (named := _named((persons or {}).get(photo))) is not None:
            wanted.persons[wanted.photos[-1]] = named
    results = [
        _sync_one(sidecar, wanted, config, dry_run) for sidecar, wanted in sorted(groups.items())
    ]
    return TagsReport(tuple(results), dry_run)


def _sync_one(sidecar: Path, wanted: _Wanted, config: TagsConfig, dry_run: bool) -> SidecarResult:
    try:
        return _sync(sidecar, wanted, config, dry_run)
    except XmpError as error:
        reason = f"{error}; left untouched"
    except OSError as error:
        fault = fault_of(error)
        if fault is Fault.FULL or (fault is not None and config.location == "mirror"):
            raise
        reason = _os_reason(error, sidecar)
    except Exception as error:  # a bug must not stop the other sidecars, nor the daemon
        log.exception("unexpected error on %s", sidecar)
        reason = f"unexpected error ({type(error).__name__}: {error}); left untouched"
    return SidecarResult(sidecar, tuple(wanted.photos), Outcome.FAILED, reason=reason)


def _sync(sidecar: Path, wanted: _Wanted, config: TagsConfig, dry_run: bool) -> SidecarResult:
    photos, labels, persons = tuple(wanted.photos), wanted.labels, wanted.named()
    if sidecar.suffix.lower() != ".xmp" or sidecar in photos:
        raise XmpError("the sidecar would be the photo itself")
    before = _read(sidecar)
    if before is None and not labels and persons is None:
        return SidecarResult(sidecar, photos, Outcome.UNCHANGED)
    if before is None and not all(photo.is_file() for photo in photos):
        raise XmpError("the photo is missing, so no sidecar is made for it")
    old = before[0] if before else EMPTY_PACKET
    retagged = retag(old, config.root, labels)
    named = retag_persons(retagged.data, persons)
    if before is None:
        outcome = Outcome.CREATED
    elif named.data == EMPTY_PACKET and not labels and persons is None:
        outcome = Outcome.DELETED
    else:
        outcome = Outcome.UNCHANGED if named.data == old else Outcome.UPDATED
    result = SidecarResult(
        sidecar,
        photos,
        outcome,
        retagged.added,
        retagged.removed,
        persons_added=named.added,
        persons_removed=named.removed,
    )

    if outcome is not Outcome.UNCHANGED and before is not None and _read_only(before[1]):
        raise XmpError(f"it is read-only (would {outcome.verb} it)")
    if not dry_run and outcome is Outcome.DELETED and before is not None:
        _check_unchanged(sidecar, before[1])
        sidecar.unlink()
        _prune(sidecar.parent, config)
    elif not dry_run and outcome is not Outcome.UNCHANGED:
        _write(sidecar, named.data, before[1] if before else None)
    return result


def _read(sidecar: Path) -> tuple[bytes, os.stat_result] | None:
    """The sidecar's bytes and status, None when there is none; XmpError for one that isn't a
    plain file of a sane size (a link is never followed: its target may be anything)."""
    try:
        status = os.lstat(sidecar)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise XmpError("it is a symbolic link or not a file")
    if status.st_size > MAX_BYTES:
        raise XmpError(f"larger than {MAX_BYTES >> 20} MB")
    with sidecar.open("rb") as stream:
        return stream.read(MAX_BYTES + 1), status


def _read_only(status: os.stat_result) -> bool:
    """No write permission for anyone counts as read-only even for root: someone chose it."""
    return not status.st_mode & 0o222


def _identity(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


def _check_unchanged(sidecar: Path, before: os.stat_result | None) -> None:
    """XmpError if another program changed (or created) the sidecar since it was read."""
    try:
        now: tuple[int, int, int] | None = _identity(os.lstat(sidecar))
    except FileNotFoundError:
        now = None
    if now != (_identity(before) if before else None):
        raise XmpError("another program changed it meanwhile; run again")


def _write(sidecar: Path, data: bytes, before: os.stat_result | None) -> None:
    """Replace the sidecar atomically, keeping its permissions."""
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    with replacing(sidecar) as stream:
        stream.write(data)
        if before is not None:
            os.fchmod(stream.fileno(), stat.S_IMODE(before.st_mode))
        _check_unchanged(sidecar, before)


def _prune(folder: Path, config: TagsConfig) -> None:
    """Remove the mirror's folders that deleting a sidecar left empty."""
    mirror = config.mirror
    if config.location != "mirror" or mirror is None:
        return
    while folder != mirror and mirror in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _os_reason(error: OSError, sidecar: Path) -> str:
    reason = f"{error.strerror or error}; left untouched"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += (
            f" (autoalbum needs write access to {sidecar.parent}; under systemd add it to "
            "ReadWritePaths=, or use tags.location: mirror)"
        )
    return reason
