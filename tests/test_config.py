"""Config loading: typed sections, every mistake reported with its line and a fix."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from autoalbum.config import (
    ClusterConfig,
    Config,
    ConfigError,
    LibraryConfig,
    ModelConfig,
    Observer,
    ReclusterConfig,
    TagsConfig,
    WatchConfig,
    granularity_steps,
    load_config,
)
from autoalbum.embedding.bundled import DEFAULT_MODEL, MODELS, ModelName

EXAMPLE = Path(__file__).parents[1] / "config" / "autoalbum.example.yaml"
MINIMAL = """\
library:
  folders: [photos, ~/more]
  albums: albums
  state: state
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "autoalbum.yaml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))
    return caught.value.problems


def test_minimal_config_gets_defaults_and_resolved_paths(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.library.folders == (tmp_path / "photos", Path.home() / "more")
    assert config.library.albums == tmp_path / "albums"
    assert config.cluster == ClusterConfig()
    assert config.watch.observer is Observer.NATIVE
    assert config.source == tmp_path / "autoalbum.yaml"


def test_example_file_loads_and_documents_every_key() -> None:
    config = load_config(EXAMPLE)
    assert config.cluster.k == "auto" and config.model.path is None
    text = EXAMPLE.read_text()
    sections = {
        "library": LibraryConfig, "model": ModelConfig, "cluster": ClusterConfig,
        "recluster": ReclusterConfig, "watch": WatchConfig, "tags": TagsConfig,
    }  # fmt: skip
    for section, cls in sections.items():
        assert f"\n{section}:\n" in text
        for field in dataclasses.fields(cls):
            assert f"  {field.name}:" in text, f"{section}.{field.name} is not in the example"
    defaults = Config(library=config.library)
    assert (config.model, config.cluster, config.recluster, config.watch, config.tags) == (
        defaults.model, defaults.cluster, defaults.recluster, defaults.watch, defaults.tags,
    ), "the example shows the real defaults"  # fmt: skip


def test_unknown_key_names_its_line_and_the_known_keys(tmp_path: Path) -> None:
    problems = _problems(tmp_path, MINIMAL + "cluster:\n  kk: 3\n")
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'autoalbum.yaml'}:6: cluster.kk: unknown key")
    assert "k_range" in problems[0]


def test_model_name_is_a_bundled_model(tmp_path: Path) -> None:
    assert ModelConfig().name == DEFAULT_MODEL
    assert typing.get_args(ModelName) == tuple(MODELS), "config and the models agree"
    assert load_config(_write(tmp_path, MINIMAL + "model:\n  name: lite2\n")).model.name == "lite2"
    (problem,) = _problems(tmp_path, MINIMAL + "model:\n  name: lite3\n")
    assert "model.name: must be one of 'lite0', 'lite1', 'lite2'" in problem


def test_unknown_section(tmp_path: Path) -> None:
    assert "unknown section" in _problems(tmp_path, MINIMAL + "albums: {}\n")[0]


def test_wrong_k_says_what_is_allowed(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, MINIMAL + "cluster:\n  k: ten\n")
    assert ":6: cluster.k: must be" in problem and "'auto'" in problem and "whole number" in problem


def test_range_checks(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        MINIMAL + "cluster:\n  k_range: [9, 3]\n  unsorted_distance: 5\nmodel:\n  batch_size: 0\n",
    )
    assert len(problems) == 3, "every mistake is reported at once"
    assert any("cluster.k_range: must be [MIN, MAX]" in p for p in problems)
    assert any("cluster.unsorted_distance: must be between 0 and 2" in p for p in problems)
    assert any("model.batch_size: must be at least 1" in p for p in problems)


@pytest.mark.parametrize(("text", "steps"), [("coarser", -1.0), ("finer", 1.0), ("-0.5", -0.5)])
def test_granularity_is_a_level_or_steps(tmp_path: Path, text: str, steps: float) -> None:
    config = load_config(_write(tmp_path, MINIMAL + f"cluster:\n  granularity: {text}\n"))
    assert granularity_steps(config.cluster.granularity) == steps
    assert granularity_steps(ClusterConfig().granularity) == 0.0


def test_granularity_out_of_range_or_unknown(tmp_path: Path) -> None:
    for text in ("10", "fine"):
        (problem,) = _problems(tmp_path, MINIMAL + f"cluster:\n  granularity: {text}\n")
        assert ":6: cluster.granularity: must be" in problem and "coarser" in problem


def test_missing_required_keys(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "library:\n  albums: a\n")
    assert any("library.folders: required" in p for p in problems)
    assert any("library.state: required" in p for p in problems)
    assert "library: required section" in _problems(tmp_path, "cluster:\n  k: 3\n")[0]


def test_wrong_types(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, MINIMAL + "watch:\n  observer: inotify\n  settle_seconds: soon\n"
    )
    assert any("watch.observer: must be one of 'native', 'polling'" in p for p in problems)
    assert any("watch.settle_seconds: must be a number" in p for p in problems)


def test_yaml_syntax_error_and_empty_and_missing_file(tmp_path: Path) -> None:
    assert "not valid YAML" in _problems(tmp_path, "library: [unclosed\n")[0]
    assert "must be a mapping" in _problems(tmp_path, "")[0]
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_tags_are_off_by_default_and_a_mirror_resolves(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, MINIMAL)).tags == TagsConfig(enabled=False)
    text = MINIMAL + "tags:\n  enabled: true\n  location: mirror\n  mirror: sidecars\n"
    tags = load_config(_write(tmp_path, text)).tags
    assert tags.enabled and tags.location == "mirror" and tags.mirror == tmp_path / "sidecars"
    assert (tags.root, tags.naming) == ("autoalbum", "image.ext.xmp")


def test_tags_mistakes_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL + "tags:\n  location: mirror\n  root: a|b\n  naming: IMG.XMP\n"
    problems = _problems(tmp_path, text)
    assert len(problems) == 3, problems
    assert any("tags.mirror: required when location is mirror" in p for p in problems)
    assert any("tags.root: must be a keyword without | or /" in p for p in problems)
    assert any("tags.naming: must be one of 'image.ext.xmp', 'image.xmp'" in p for p in problems)
