"""The command line: each subcommand's module wires its own arguments and handler; one funnel
turns errors into `error: ...` and exit 1. The commands' work is tested with their modules."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoalbum import __version__
from autoalbum.cli import COMMANDS, _NamesFormatter, build_parser, main
from autoalbum.embedding.bundled import DEFAULT_MODEL
from autoalbum.errors import AutoalbumError

NAMES = [
    "sort", "inspect", "index", "recluster", "rename", "move", "exclude", "merge", "retire",
    "album", "corrections", "undo", "people", "events", "tags", "similar", "duplicates", "run",
    "status", "restore", "evaluate", "report", "sample-photos",
]  # fmt: skip
REQUIRED = {
    "sort": ["s", "--out", "o"], "inspect": ["i"], "rename": ["a", "b"], "similar": ["i"],
    "move": ["p", "--to", "a"], "exclude": ["p", "--from", "a"], "merge": ["a", "--into", "b"],
    "retire": ["a"], "album": ["n", "p"], "undo": ["1"],
    "evaluate": ["d"], "report": ["--out", "r"], "sample-photos": ["f"],
}  # fmt: skip


def test_every_command_is_listed_in_order_and_runs_its_own_handler() -> None:
    assert [command.name for command in COMMANDS] == NAMES
    parser = build_parser()
    for command in COMMANDS:
        args = parser.parse_args([command.name, *REQUIRED.get(command.name, [])])
        assert args.handler is command.run, command.name
        assert command.run.__doc__, f"{command.name} needs a docstring: it is its help"


@pytest.mark.parametrize("name", ["index", "similar", "run"])
def test_library_commands_that_load_the_model_default_to_the_configs_device(name: str) -> None:
    required = REQUIRED.get(name, [])
    assert build_parser().parse_args([name, *required]).device is None
    assert build_parser().parse_args([name, *required, "--device", "cpu"]).device == "cpu"


@pytest.mark.parametrize("name", ["sort", "evaluate", "inspect"])
def test_commands_without_a_library_choose_the_bundled_model(name: str) -> None:
    required = REQUIRED.get(name, [])
    assert build_parser().parse_args([name, *required]).model == DEFAULT_MODEL
    assert build_parser().parse_args([name, *required, "--model", "lite2"]).model == "lite2"
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, *required, "--model", "lite9"])


@pytest.mark.parametrize("name", ["index", "similar", "run"])
def test_a_library_takes_its_model_from_the_config_only(name: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, *REQUIRED.get(name, []), "--model", "lite2"])


@pytest.mark.parametrize("name", ["recluster", "status", "duplicates", "tags"])
def test_library_commands_without_the_model_take_no_device(name: str) -> None:
    assert build_parser().parse_args([name]).device is None
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--device", "cpu"])


def test_an_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.yaml" in err
    assert err.count("\n") == 1


def test_an_error_naming_an_undecodable_file_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / os.fsdecode(b"caf\xe9.yaml")
    assert main(["status", "--config", str(config)]) == 1
    assert "caf\\xe9.yaml" in capsys.readouterr().err


def test_a_log_line_shows_any_file_name_on_one_line() -> None:
    odd = Path(os.fsdecode(b"/p/caf\xe9\nbreak.jpg"))
    record = logging.LogRecord(
        "autoalbum.x", logging.WARNING, __file__, 1, "skipping %s (%s) after %d s: %s",
        (odd, "line\nbreak", 3, AutoalbumError(f"{odd}: not an image")), None,
    )  # fmt: skip
    line = _NamesFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line == (
        "WARNING autoalbum.x: skipping /p/caf\\xe9\\nbreak.jpg (line\\nbreak) after 3 s: "
        "/p/caf\\xe9\nbreak.jpg: not an image"
    ), "an error's text keeps its lines, but its undecodable bytes print"
    assert record.args is not None and record.args[0] is odd, "the record itself is left alone"


def test_bad_option_values_are_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["sort", "a", "--out", "o", "--k", "0"], ["evaluate", "d", "--k-range", "5:2"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    assert "need 2 <= MIN <= MAX, got '5:2'" in capsys.readouterr().err


def test_an_album_name_must_be_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["rename", "1", os.fsdecode(b"caf\xe9")])
    assert exit_.value.code == 2
    assert "'caf\\xe9' is not UTF-8 text" in capsys.readouterr().err


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", "--version"],
        capture_output=True, text=True, env={**os.environ}, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == f"autoalbum {__version__}"
