"""Cold starts of every function side by side: the CPU time of importing each handler and
making the DynamoDB client, against two baselines, each in fresh interpreters.

Run from the repository root: `.venv/bin/python bench/cold_start.py` (`--runs N` fresh
interpreters per subject, 5 by default: two and a half minutes on two cores with a test run
beside it, five with 7 and a heavier one). With `--built`, the same from `sam build`'s
output (`make build` first): `.aws-sam/build/<function>/` and `.aws-sam/build/SharedLayer/
python`, run by Python 3.13 (the runtime the layer is built for) without its own
site-packages, so that only what ships is imported.

What is timed, in each fresh interpreter (the CPU time of the process, `time.process_time`,
so that other work on the machine counts less than it would in wall time): `import handler`
with the function's folder and then the layer's first on the path, as Lambda puts its task
root and `/opt/python`, then `import boto3` and `boto3.client("dynamodb")`, as the first
request does (runtime() makes the client then). The interpreter's own start is not timed:
it is the same for every subject and Lambda's, not ours. No request is sent; the first run
of each subject fails if anything opens a connection or resolves a name.

The subjects, interleaved round by round so that drift on the machine hits all alike:
- each `functions/*/handler.py`, with the environment template.yaml gives it (Globals and
  its own variables; queues, topics and buses as AWS-shaped placeholders), a placeholder
  table name, the region and stand-in credentials;
- `minimal powertools`: a 20-line handler of our own, Powertools' APIGatewayHttpResolver
  with validation and one route taking a pydantic body (the least an API function of this
  shape imports), then boto3 and the client;
- `bare boto3+pydantic`: `import boto3, pydantic` and the client, nothing of Powertools.

The project's code (each function and crm_points) is copied without `__pycache__` and
never compiled to a file, so it is compiled on every start, as on Lambda, where the
deployed folders are read-only and `sam build` ships no bytecode of them; the libraries'
bytecode (written when pip installed them) is used, as it is there.

Printed: each subject's median and fastest time, its ratio to the minimal handler and to
bare boto3+pydantic, sorted by that ratio, and the slowest function's ratio on its own.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the repository root importable, for the template's readers.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.dynamodb_local import REGION  # noqa: E402
from local.functions import discover_functions, offline_aws_environment  # noqa: E402
from local.resources import BUS, QUEUE, TOPIC, LocalResources  # noqa: E402
from local.template import load_template  # noqa: E402

ACCOUNT_ID = "000000000000"
TABLE_NAME = "crm-points-bench"
MINIMAL = "minimal powertools"
BARE = "bare boto3+pydantic"
BUILD = ROOT / ".aws-sam" / "build"

# The least an API function of ours imports: the resolver with validation, a pydantic body.
_MINIMAL_HANDLER = '''"""A minimal Powertools API handler: the baseline of bench/cold_start.py."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

app = APIGatewayHttpResolver(enable_validation=True)


class Award(BaseModel):
    customer_id: str = Field(min_length=1)
    points: int = Field(gt=0)


@app.post("/award")
def award(body: Award) -> dict[str, Any]:
    return {"customer_id": body.customer_id, "points": body.points}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
'''

# Fails the run on a connection or a name lookup. Audit hooks cost a call per audited event
# (every open, import, compile), so only the first, untimed run of each subject has it.
_GUARD = """
import sys
def _no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto"):
        print(f"NETWORK {event} {args!r}", file=sys.stderr)
        sys.stderr.flush()
        import os
        os._exit(3)
sys.addaudithook(_no_network)
"""

_PROBE = """
import time
started = time.process_time()
{load}
import boto3
boto3.client("dynamodb", region_name={region!r})
print(time.process_time() - started)
"""


@dataclass
class Subject:
    """One thing timed: what its interpreter imports first, its path and environment."""

    name: str
    load: str  # the statement timed before boto3 and the client
    path: list[Path]
    environment: dict[str, str]
    is_function: bool = True
    times: list[float] = field(default_factory=list)  # seconds of CPU
    error: str = ""


def _placeholders(resources: LocalResources) -> None:
    """AWS-shaped values for the queues, topics and buses the functions' variables name:
    nothing reads them while importing, but a function should see what Lambda gives it."""
    for name in resources.of_type(QUEUE):
        resources.queue_urls[name] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
    for name in resources.of_type(TOPIC):
        resources.topic_arns[name] = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
    for name in resources.of_type(BUS):
        resources.bus_names[name] = name


def _common_environment(scratch: Path) -> dict[str, str]:
    """What every subject's interpreter sees, and nothing of this shell's (no AWS profile, no
    endpoint override): Lambda's region and function variables, stand-in credentials."""
    return {
        **offline_aws_environment(scratch, "bench"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _copy(source: Path, target: Path) -> Path:
    """`source` copied as `sam build` copies it: without bytecode."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _subjects(built: bool, scratch: Path) -> list[Subject]:
    """The functions (by folder name, in order) and the two baselines, ready to run."""
    template = load_template()
    resources = LocalResources(template, table_name=TABLE_NAME, region=REGION)
    _placeholders(resources)
    by_folder = {
        function.code_dir.resolve(): function
        for function in discover_functions(template, ROOT, resources).values()
    }
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    common = {**_common_environment(scratch), **resources.environment_of(globals_)}
    if built:
        layer = BUILD / "SharedLayer" / "python"
    else:
        layer = scratch / "layer"
        layer.mkdir()
        _copy(ROOT / "layers" / "shared" / "crm_points", layer / "crm_points")
    subjects: list[Subject] = []
    missing: list[str] = []
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        folder = handler.parent
        function = by_folder.get(folder.resolve())
        logical_id = function.name if function else folder.name
        if built:
            code = BUILD / logical_id
            if not (code / "handler.py").is_file():
                missing.append(logical_id)
        else:
            code = _copy(folder, scratch / "functions" / folder.name)
        environment = {
            **common,
            **(function.environment if function else {}),
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        }
        subjects.append(Subject(folder.name, "import handler", [code, layer], environment))
    if missing:
        print(
            f"the build in .aws-sam/build has no {', '.join(missing)}: it is older than "
            "template.yaml; `make build` must run again",
            file=sys.stderr,
        )
        sys.exit(2)
    minimal = scratch / "minimal"
    minimal.mkdir()
    (minimal / "handler.py").write_text(_MINIMAL_HANDLER)
    baseline = {**common, "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    subjects.append(Subject(MINIMAL, "import handler", [minimal, layer], baseline, False))
    # The same path as the minimal handler's, so that only what is imported differs.
    subjects.append(Subject(BARE, "import boto3, pydantic", [minimal, layer], baseline, False))
    return subjects


def _python313() -> str:
    """The real Python 3.13 `make build` builds with (not pyenv's shim, whose start is
    a shell script), or exit 2 saying so."""
    found = subprocess.run(
        [str(ROOT / "scripts" / "python313-dir")], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        print(found.stderr.strip(), file=sys.stderr)
        sys.exit(2)
    executable = subprocess.run(
        [str(Path(found.stdout.strip()) / "python3.13"), "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return executable.stdout.strip()


def _once(subject: Subject, interpreter: list[str], guarded: bool) -> None:
    """One fresh interpreter: its CPU time appended to the subject's, or its error kept."""
    probe = _PROBE.format(load=subject.load, region=REGION)
    environment = {
        **subject.environment,
        "PYTHONPATH": ":".join(str(path) for path in subject.path),
    }
    answer = subprocess.run(
        [*interpreter, "-c", (_GUARD if guarded else "") + probe],
        env=environment,
        cwd=subject.path[0],  # Lambda's working directory is the task root
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        lines = answer.stderr.strip().splitlines() or [f"exit status {answer.returncode}"]
        subject.error = lines[-1]
        return
    if not guarded:
        subject.times.append(float(answer.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Time every subject, round by round, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per subject")
    parser.add_argument(
        "--built", action="store_true", help="time sam build's output (.aws-sam/build)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    if args.built and not (BUILD / "SharedLayer" / "python").is_dir():
        print(
            "no sam build output in .aws-sam/build: `make build` must run first "
            "(this benchmark does not build)",
            file=sys.stderr,
        )
        sys.exit(2)
    # Built: the runtime's Python, and -S so that nothing of its site-packages is found.
    interpreter = [_python313(), "-S"] if args.built else [sys.executable]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as directory:
        subjects = _subjects(args.built, Path(directory))
        # An untimed first run: fills the file system cache for all, checks for the network.
        for subject in subjects:
            _once(subject, interpreter, guarded=True)
        for subject in (s for s in subjects if s.error and not s.is_function):
            sys.exit(f"{subject.name} failed, nothing to compare with: {subject.error}")
        for _ in range(args.runs):
            for subject in subjects:
                if not subject.error:
                    _once(subject, interpreter, guarded=False)
    elapsed = time.monotonic() - started
    _report(subjects, args.runs, args.built, interpreter[0], elapsed)


def _report(
    subjects: list[Subject], runs: int, built: bool, interpreter: str, elapsed: float
) -> None:
    timed = [subject for subject in subjects if subject.times]
    median = {subject.name: statistics.median(subject.times) for subject in timed}
    minimal, bare = median[MINIMAL], median[BARE]
    version = subprocess.run(
        [interpreter, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    source = ".aws-sam/build" if built else "the source tree"
    print(
        f"cold start (import handler, boto3, DynamoDB client), CPU ms, median of {runs} "
        f"fresh interpreters each, from {source}, Python {version}"
    )
    width = max(len(subject.name) for subject in subjects)
    print(f"  {'subject':<{width}}  {'median':>7} {'min':>7}  {'x minimal':>9} {'x bare':>7}")
    for subject in sorted(timed, key=lambda s: median[s.name]):
        ms = median[subject.name] * 1000
        print(
            f"  {subject.name:<{width}}  {ms:7.0f} {min(subject.times) * 1000:7.0f}  "
            f"{median[subject.name] / minimal:9.2f} {median[subject.name] / bare:7.2f}"
        )
    for subject in subjects:
        if subject.error:
            print(f"  {subject.name:<{width}}  failed: {subject.error}")
    functions = [subject for subject in timed if subject.is_function]
    if functions:
        worst = max(functions, key=lambda s: median[s.name])
        print(
            f"slowest function: {worst.name}, {median[worst.name] / minimal:.2f} times the "
            f"minimal Powertools handler, {median[worst.name] / bare:.2f} times bare "
            "boto3+pydantic"
        )
    print(f"took {elapsed:.0f} s")
    if any(subject.error for subject in subjects):
        sys.exit(1)


if __name__ == "__main__":
    main()
