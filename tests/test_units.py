"""The systemd unit files: the hardening score systemd gives them, the background priority both
set, and that systemd reads every line of them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).parents[1] / "systemd"


def _exposure(unit: Path) -> float:
    """systemd-analyze's overall exposure level of an unit file (0 safest, 10 worst)."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True, text=True,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_system_unit_is_hardened() -> None:
    assert _exposure(UNITS / "autoalbum.service") <= 3.0


BOTH = ["autoalbum.service", "autoalbum-user.service"]
BACKGROUND = ("Nice", "CPUWeight", "IOSchedulingClass", "MemoryHigh", "MemoryMax")
# bench/scale.py's peak at 1,000,000 photos (2.45 GB, stand-in model) plus what the real model
# adds (0.5-0.7 GB, bench/polite.py --memory): MemoryHigh must leave such a library alone.
PEAK_AT_A_MILLION = 3_150_000_000
SUFFIXES = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _service(unit: Path) -> dict[str, str]:
    """A unit file's [Service] settings; a key set twice keeps its last value, as in systemd."""
    settings: dict[str, str] = {}
    section = ""
    for line in (raw.strip() for raw in unit.read_text().splitlines()):
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def _bytes(size: str) -> int:
    """A systemd memory size (4G, 512M, 1073741824) in bytes."""
    return int(size[:-1]) * SUFFIXES[size[-1]] if size[-1] in SUFFIXES else int(size)


@pytest.mark.parametrize("name", BOTH)
def test_units_run_the_daemon_at_background_priority(name: str) -> None:
    service = _service(UNITS / name)
    assert int(service["Nice"]) == 19
    assert int(service["CPUWeight"]) < 100  # systemd's default
    assert service["IOSchedulingClass"] == "idle"
    assert PEAK_AT_A_MILLION < _bytes(service["MemoryHigh"]) < _bytes(service["MemoryMax"])


def test_both_units_set_the_same_background_priority() -> None:
    system, user = (_service(UNITS / name) for name in BOTH)
    assert {key: system[key] for key in BACKGROUND} == {key: user[key] for key in BACKGROUND}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("name", BOTH)
def test_systemd_accepts_every_line_of_the_units(name: str) -> None:
    # Loading a unit file, systemd-analyze prints "FILE:LINE: ..." on stderr for each key it
    # does not know, value it cannot parse or key in the wrong section, then ignores the line.
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True, text=True,
    )  # fmt: skip
    ignored = [line for line in result.stderr.splitlines() if re.match(r".*\.service:\d+: ", line)]
    assert not ignored
