"""The systemd unit files: the hardening score systemd itself gives them."""

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
