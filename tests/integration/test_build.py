"""The deployable artefacts: `sam build`, then every function's handler imported from the
build output alone, as Lambda would, so a packaging mistake fails here rather than in AWS.

The build is for this machine's architecture (the template's `Architecture` parameter, which
the layer's BuildArchitecture follows): the default arm64 build's binary wheels could not load
on an x86_64 host. It runs under the Lambda runtime's Python (3.13), not the test runner's.
SAM's cache and incremental dependency folders live under the git-ignored .aws-sam/test-build,
so a repeat run reuses the downloaded wheels and takes seconds.

The layer ships its bytecode (layers/shared/Makefile): every module has a hash-based .pyc of
Python 3.13, which Lambda's read-only /opt could not have cached, valid whatever mtimes
packaging leaves on the sources; the tests check that each import loads it rather than
compiling the source.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.functions import offline_aws_environment
from local.template import TEMPLATE, load_template
from tests.integration.test_template_hardening import pins

ROOT = TEMPLATE.parent
WORK = ROOT / ".aws-sam" / "test-build"
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "aarch64": "arm64"}  # platform.machine() on Linux

# A .pyc's header (PEP 552): the magic number, then a flags word: bit 0, hash-based (the next
# 8 bytes are a hash of the source, not its mtime and size); bit 1, the hash is checked
# against the source at each import. The layer's are hash-based and unchecked.
LAYER_PYC_FLAGS = 0b01

# The sources' mtime in Lambda: `sam package` zips every file without a date, which a zip
# records as 1 January 1980 (samcli/lib/package/utils.py, make_zip_with_permissions), so a
# timestamp-based .pyc would never match its source there.
OTHER_MTIME = datetime(1980, 1, 1, tzinfo=UTC).timestamp()

# Run before every probe: collects in `compiled` what the interpreter compiles from a source
# file under the dirs `audited`, which the probe sets (a module loaded from its .pyc is not
# compiled).
AUDIT = """
import sys
audited = ()
compiled = []
def _audit(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].startswith(audited):
        compiled.append(args[1])
sys.addaudithook(_audit)
"""

# Runs in the isolated python3.13 (-I -S -B): no site-packages, no user site, no PYTHON*
# variables, no .pyc written (Lambda's code is read-only). sys.path is the function's build
# dir, its layers' python dirs, then the standard library; nothing else may be imported.
PROBE = """
import importlib, json, time
function_dir, module_name, attribute, *layer_dirs = sys.argv[1:]
audited = tuple(d.rstrip("/") + "/" for d in layer_dirs)
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
    "compiled": compiled,
    "version": sys.version.split()[0],
}))
"""

# Every module of a layer's python dir against its bytecode, under python3.13 (-I -S -B):
# how many; which have no .pyc, another magic number, other flags, a hash that is not their
# source's; and every .pyc that is not the bytecode of a source beside it.
BYTECODE_PROBE = """
import importlib.util, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
report = {"modules": 0, "missing": [], "magic": [], "flags": {}, "stale": [], "stray": []}
expected = set()
for source in sorted(root.rglob("*.py")):
    name = str(source.relative_to(root))
    report["modules"] += 1
    cached = pathlib.Path(importlib.util.cache_from_source(source))
    expected.add(cached)
    if not cached.is_file():
        report["missing"].append(name)
        continue
    header = cached.read_bytes()[:16]
    if header[:4] != importlib.util.MAGIC_NUMBER:
        report["magic"].append(name)
    flags = int.from_bytes(header[4:8], "little")
    report["flags"].setdefault(flags, []).append(name)
    if flags & 0b01 and header[8:16] != importlib.util.source_hash(source.read_bytes()):
        report["stale"].append(name)
report["stray"] = sorted(str(p.relative_to(root)) for p in set(root.rglob("*.pyc")) - expected)
print(json.dumps(report))
"""

# Imports every module of crm_points, then makes a DynamoDB client, from layer dirs in
# python3.13 (-I -S, .pyc may be written): the modules compiled from their sources, and how
# many were loaded from those dirs.
IMPORT_ALL_PROBE = """
import importlib, json, pkgutil
layer_dirs = sys.argv[1:]
audited = tuple(d.rstrip("/") + "/" for d in layer_dirs)
sys.path[:0] = layer_dirs
import crm_points
for found in pkgutil.walk_packages(crm_points.__path__, "crm_points."):
    importlib.import_module(found.name)
import boto3
boto3.client("dynamodb")
loaded = [
    name for name, m in list(sys.modules.items())
    if str(getattr(m, "__file__", None)).startswith(audited)
]
print(json.dumps({"compiled": compiled, "loaded": len(loaded)}))
"""


@dataclass(frozen=True)
class Function:
    name: str
    module: str
    attribute: str
    layers: list[str]
    environment: dict[str, str]


def stand_ins(variables: dict[str, Any]) -> dict[str, str]:
    """A template's environment variables as a function would see them offline: a
    reference (`!Ref`, `!GetAtt`) stands in as "x"."""
    return {key: "x" if isinstance(value, dict) else str(value) for key, value in variables.items()}


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
        functions.append(
            Function(name, module, attribute, [x["Ref"] for x in layers], stand_ins(variables))
        )
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
    return run_probe(
        python, PROBE, arguments, tmp, environment=environment, what=f"{function.name}: import"
    )


@dataclass(frozen=True)
class Build:
    directory: Path  # sam build's output
    architecture: str
    machine: str
    python: Path  # the python3.13 it was built with
    functions: list[Function]

    def layer_dirs(self) -> list[Path]:
        """The python dir of every layer the functions use."""
        layers = sorted({layer for function in self.functions for layer in function.layers})
        return [self.directory / layer / "python" for layer in layers]


@pytest.fixture(scope="module")
def build() -> Iterator[Build]:
    """`sam build` for this machine, once for the module's tests; held for them alone."""
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
        yield Build(build_dir, architecture, machine, Path(python_dir) / "python3.13", functions)


def run_probe(
    python: Path,
    probe: str,
    arguments: list[str],
    cwd: Path,
    *,
    write_bytecode: bool = False,
    environment: dict[str, str] | None = None,
    what: str = "the probe",
) -> Any:
    """A probe run in the isolated python3.13 (-I -S, and -B unless `write_bytecode`), in
    `environment` (by default the functions' common variables in the offline environment);
    its report (the JSON of its last line)."""
    flags = ["-I", "-S"] if write_bytecode else ["-I", "-S", "-B"]
    if environment is None:
        defaults = load_template()["Globals"]["Function"]["Environment"]["Variables"]
        environment = {**stand_ins(defaults), **offline_aws_environment(cwd, "testing")}
    result = subprocess.run(  # noqa: S603 (fixed programs and arguments)
        [python, *flags, "-c", AUDIT + probe, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{what} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def files_of(directory: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime in ns)} of every file under `directory`."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_the_layer_is_built_for_the_templates_architecture_by_default():
    """SAM gives a Makefile no architecture: its default must be the template's."""
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    default = re.search(r"^LAYER_ARCHITECTURE \?= (\S+)$", makefile, re.MULTILINE)
    assert default, "layers/shared/Makefile sets no default LAYER_ARCHITECTURE"
    assert default.group(1) == load_template()["Parameters"]["Architecture"]["Default"]


@pytest.mark.build
def test_every_handler_imports_from_the_build_output(build, tmp_path, subtests):
    build_dir, machine, architecture = build.directory, build.machine, build.architecture
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
    for layer_dir in build.layer_dirs():
        shipped = shipped_versions(layer_dir)
        assert shipped, f"{layer_dir.parent.name}: no package installed in the build"
        assert {name: lock.get(name) for name in shipped} == shipped, layer_dir.parent.name
    for function in build.functions:
        with subtests.test(function=function.name):
            layer_dirs = [build_dir / layer / "python" for layer in function.layers]
            assert any((d / "crm_points" / "__init__.py").is_file() for d in layer_dirs), (
                f"{function.name}: no layer holds crm_points: {function.layers}"
            )
            function_dir = build_dir / function.name
            assert (function_dir / f"{function.module}.py").is_file()
            copies = list(function_dir.glob("crm_points*"))
            assert not copies, f"{function.name}: a second crm_points in the function: {copies}"

            report = import_handler(build.python, function, build_dir, tmp_path)
            print(
                f"{function.name}: import {function.module} on Python {report['version']}"
                f" ({architecture}, the layer from its .pyc): {report['seconds'] * 1000:.0f} ms"
            )
            assert report["callable"], f"{function.name}: {function.attribute} not callable"
            assert not report["outside"], f"imported from outside the build: {report['outside']}"
            assert not report["compiled"], (
                f"{function.name}: layer modules compiled at import, not loaded from their "
                f".pyc: {report['compiled'][:10]}"
            )


@pytest.mark.build
def test_every_module_of_the_layer_has_its_hash_based_bytecode(build, tmp_path):
    for layer_dir in build.layer_dirs():
        layer = layer_dir.parent.name
        report = run_probe(build.python, BYTECODE_PROBE, [str(layer_dir)], tmp_path)
        print(f"{layer}: {report['modules']} modules, each with its .pyc")
        assert report["modules"] > 0, f"{layer}: no module"
        assert not report["missing"], f"{layer}: modules without a .pyc: {report['missing']}"
        assert not report["magic"], f"{layer}: .pyc of another Python: {report['magic']}"
        other_flags = {
            flags: names[:5]
            for flags, names in report["flags"].items()
            if int(flags) != LAYER_PYC_FLAGS
        }
        assert not other_flags, (
            f"{layer}: .pyc not hash-based and unchecked (flags {LAYER_PYC_FLAGS:#04b}): "
            f"{other_flags}"
        )
        assert not report["stale"], f"{layer}: .pyc of another source: {report['stale']}"
        assert not report["stray"], f"{layer}: .pyc of no module: {report['stray']}"


@pytest.mark.build
def test_the_layers_bytecode_serves_whatever_the_sources_mtimes(build, tmp_path):
    """A copy of the layers whose sources have the mtime they have in Lambda, not the
    build's: every module of crm_points and a DynamoDB client import from the .pyc,
    compiling no source of the layers and writing nothing there, though the interpreter may
    write bytecode."""
    copies = []
    for layer_dir in build.layer_dirs():
        copy = tmp_path / "layers" / layer_dir.parent.name
        shutil.copytree(layer_dir, copy, symlinks=True)
        for source in copy.rglob("*.py"):
            os.utime(source, (OTHER_MTIME, OTHER_MTIME))
        copies.append(copy)
    before = {copy: files_of(copy) for copy in copies}
    report = run_probe(
        build.python,
        IMPORT_ALL_PROBE,
        [str(copy) for copy in copies],
        tmp_path,
        write_bytecode=True,
    )
    print(f"{report['loaded']} modules of the layers imported, {len(report['compiled'])} compiled")
    assert report["loaded"] > 100, "the probe imported next to nothing of the layers"
    assert not report["compiled"], f"compiled at import: {report['compiled'][:10]}"
    for copy in copies:
        assert files_of(copy) == before[copy], f"{copy.name}: changed by an import"
