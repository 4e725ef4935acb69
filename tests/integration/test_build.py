"""The deployable artefacts: `sam build`, then every function's handler imported from the
build output alone, as Lambda would, so a packaging mistake fails here rather than in AWS.

The build is for this machine's architecture (the template's `Architecture` parameter, which
the layer's BuildArchitecture follows): the default arm64 build's binary wheels could not load
on an x86_64 host. It runs under the Lambda runtime's Python (3.13), not the test runner's.
SAM's cache and incremental dependency folders live under the git-ignored .aws-sam/test-build,
so a repeat run reuses the downloaded wheels and takes seconds.
"""

import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.functions import offline_aws_environment
from local.template import TEMPLATE, load_template
from tests.integration.test_template_hardening import pins

ROOT = TEMPLATE.parent
WORK = ROOT / ".aws-sam" / "test-build"
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "aarch64": "arm64"}  # platform.machine() on Linux

# Runs in the isolated python3.13 (-I -S -B): no site-packages, no user site, no PYTHON*
# variables, no .pyc written (Lambda's code is read-only). sys.path is the function's build
# dir, its layers' python dirs, then the standard library; nothing else may be imported.
PROBE = """
import importlib, json, sys, time
function_dir, module_name, attribute, *layer_dirs = sys.argv[1:]
stdlib = list(sys.path)
sys.path[:0] = [function_dir, *layer_dirs]
start = time.perf_counter()
module = importlib.import_module(module_name)
seconds = time.perf_counter() - start
roots = tuple(d.rstrip("/") + "/" for d in [function_dir, *layer_dirs, *stdlib])
outside = sorted(
    name for name, m in list(sys.modules.items())
    if isinstance(getattr(m, "__file__", None), str) and not m.__file__.startswith(roots)
)
print(json.dumps({
    "seconds": seconds,
    "callable": callable(getattr(module, attribute, None)),
    "outside": outside,
    "version": sys.version.split()[0],
}))
"""


@dataclass(frozen=True)
class Function:
    name: str
    module: str
    attribute: str
    layers: list[str]
    environment: dict[str, str]


def template_functions(template: dict[str, Any]) -> list[Function]:
    """The template's functions, with the Globals SAM merges into them."""
    defaults = template.get("Globals", {}).get("Function", {})
    functions = []
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        module, _, attribute = properties.get("Handler", defaults.get("Handler")).rpartition(".")
        layers = [*defaults.get("Layers", []), *properties.get("Layers", [])]
        assert all(isinstance(layer, dict) and "Ref" in layer for layer in layers), (
            f"{name}: only layers built from this template can be tested: {layers}"
        )
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        environment = {
            key: "x" if isinstance(value, dict) else str(value) for key, value in variables.items()
        }
        functions.append(Function(name, module, attribute, [x["Ref"] for x in layers], environment))
    return functions


def python313_dir() -> str:
    result = subprocess.run(  # noqa: S603 (fixed programs and arguments)
        [ROOT / "scripts" / "python313-dir"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"no Python 3.13 (the Lambda runtime) for sam build: {result.stderr.strip()}")
    return result.stdout.strip()


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """One build at a time in this checkout (concurrent runs share the cache)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sam_build(python_dir: str, architecture: str, work: Path) -> Path:
    """`sam build` for `architecture` into work/build, cached in work; the build dir."""
    sam = shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam")
    assert sam, "sam (aws-sam-cli) is not installed; see requirements-dev.txt"
    build_dir = work / "build"  # SAM keeps build.toml (the cache's index) in its parent
    shutil.rmtree(build_dir, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    command = [
        sam, "build",
        "--template", str(TEMPLATE),
        "--build-dir", str(build_dir),
        "--cache-dir", str(work / "cache"),
        "--cached",
        "--parameter-overrides", f"Architecture={architecture}",
    ]  # fmt: skip
    environment = {
        **os.environ,
        "PATH": f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        # SAM does not tell the layer's Makefile the architecture (layers/shared/Makefile).
        "LAYER_ARCHITECTURE": architecture,
    }
    # The working directory holds SAM's incremental-build dependencies (.aws-sam/deps).
    start = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (fixed programs and arguments)
        command, cwd=work, env=environment, capture_output=True, text=True, check=False
    )
    print(f"\nsam build ({architecture}): {time.perf_counter() - start:.1f} s")
    if result.returncode != 0:
        pytest.fail(f"sam build failed:\n{result.stdout}\n{result.stderr}")
    return build_dir


def shipped_versions(layer_dir: Path) -> dict[str, str]:
    """{normalised name: version} of every distribution installed in a built layer."""
    found = {}
    for metadata in layer_dir.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text().splitlines()[:10]
            if line.startswith(("Name: ", "Version: "))
        )
        found[re.sub(r"[-_.]+", "-", fields["Name"]).lower()] = fields["Version"]
    return found


def import_handler(python: Path, function: Function, build_dir: Path, tmp: Path) -> Any:
    """Import the handler in python3.13 from the build output alone; the probe's report."""
    environment = {
        **function.environment,
        "TABLE_NAME": "x",
        **offline_aws_environment(tmp, "testing"),
    }
    arguments = [
        str(build_dir / function.name),
        function.module,
        function.attribute,
        *(str(build_dir / layer / "python") for layer in function.layers),
    ]
    result = subprocess.run(  # noqa: S603 (fixed programs and arguments)
        [python, "-I", "-S", "-B", "-c", PROBE, *arguments],
        cwd=tmp,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{function.name}: import failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.build
def test_every_handler_imports_from_the_build_output(tmp_path, subtests):
    if sys.platform != "linux":
        pytest.skip(f"the build holds Linux (Lambda) binaries, which {sys.platform} cannot load")
    python_dir = python313_dir()
    machine = platform.machine()
    if machine not in LAMBDA_ARCHITECTURES:
        pytest.fail(f"Lambda has no architecture for this machine ({machine})")
    architecture = LAMBDA_ARCHITECTURES[machine]
    functions = template_functions(load_template())
    assert functions, "template.yaml defines no AWS::Serverless::Function"
    work = WORK / architecture
    with exclusive(WORK / f"{architecture}.lock"):
        build_dir = sam_build(python_dir, architecture, work)
        # A wrong-architecture or wrong-Python extension is not an error to import, just not
        # found ("cannot import name ... (unknown location)"): name the cause instead.
        suffix = f".cpython-313-{machine}-linux-gnu.so"
        foreign = [
            str(path.relative_to(build_dir))
            for path in build_dir.rglob("*.cpython-*.so")
            if not path.name.endswith(suffix)
        ]
        assert not foreign, f"extensions not built for {suffix}: {foreign}"
        # The layers ship the versions the tests ran against, not what the build resolved.
        lock = pins(ROOT / "requirements-dev.txt")
        for layer in sorted({layer for function in functions for layer in function.layers}):
            shipped = shipped_versions(build_dir / layer / "python")
            assert shipped, f"{layer}: no package installed in the build"
            assert {name: lock.get(name) for name in shipped} == shipped, layer
        for function in functions:
            with subtests.test(function=function.name):
                layer_dirs = [build_dir / layer / "python" for layer in function.layers]
                assert any((d / "crm_points" / "__init__.py").is_file() for d in layer_dirs), (
                    f"{function.name}: no layer holds crm_points: {function.layers}"
                )
                function_dir = build_dir / function.name
                assert (function_dir / f"{function.module}.py").is_file()
                copies = list(function_dir.glob("crm_points*"))
                assert not copies, f"{function.name}: a second crm_points in the function: {copies}"

                report = import_handler(
                    Path(python_dir) / "python3.13", function, build_dir, tmp_path
                )
                print(
                    f"{function.name}: import {function.module} on Python {report['version']}"
                    f" ({architecture}, no .pyc): {report['seconds'] * 1000:.0f} ms"
                )
                assert report["callable"], f"{function.name}: {function.attribute} not callable"
                assert not report["outside"], (
                    f"imported from outside the build: {report['outside']}"
                )
