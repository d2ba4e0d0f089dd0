"""requirements.lock: made from pyproject.toml, so every dependency is pinned within its range."""

from __future__ import annotations

from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

LOCK = Path(__file__).parents[1] / "requirements.lock"


def _pins() -> dict[str, Requirement]:
    """The lock's pins that apply to this Python and platform, by normalised name."""
    lines = (line.strip() for line in LOCK.read_text().splitlines())
    pins = (Requirement(line) for line in lines if line and not line.startswith("#"))
    return {_name(pin): pin for pin in pins if pin.marker is None or pin.marker.evaluate()}


def _name(requirement: Requirement) -> str:
    return requirement.name.lower().replace("_", "-")


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    declared = [Requirement(text) for text in requires("autoalbum") or []]
    wanted = [r for r in declared if r.marker is None or r.marker.evaluate({"extra": "dev"})]
    assert len(wanted) > 15
    for requirement in wanted:
        pin = pins.get(_name(requirement))
        assert pin is not None, (
            f"{requirement.name} is not in requirements.lock: bash scripts/lock.sh"
        )
        (version,) = (spec.version for spec in pin.specifier)
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {pin}, outside pyproject.toml's {requirement}: "
            "bash scripts/lock.sh"
        )


def test_pins_are_exact() -> None:
    assert all(str(pin.specifier).startswith("==") for pin in _pins().values())
