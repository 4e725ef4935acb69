"""The pins in pyproject.toml, the layer's requirements and the development lock agree."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(lines: list[str]) -> dict[str, str]:
    """{normalised name: version} of `name[extras]==version` lines."""
    found = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return found


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as source:
        return tomllib.load(source)["project"]  # type: ignore[no-any-return]


def test_the_layer_ships_what_pyproject_declares():
    """At the declared versions; the layer also pins what those need (at the lock's
    versions, tests/integration/test_template_hardening.py), so that a build cannot pick
    other releases than the tests ran."""
    declared = pins(project()["dependencies"])  # type: ignore[arg-type]
    layer = pins((ROOT / "layers" / "shared" / "requirements.txt").read_text().splitlines())
    assert {name: layer.get(name) for name in declared} == declared


def test_every_declared_pin_is_in_the_lock_at_that_version():
    meta = project()
    declared = {
        **pins(meta["dependencies"]),  # type: ignore[arg-type]
        **pins(meta["optional-dependencies"]["dev"]),  # type: ignore[index]
    }
    lock = pins((ROOT / "requirements-dev.txt").read_text().splitlines())
    assert {name: lock.get(name) for name in declared} == declared
