"""Cold starts of every function side by side: the CPU time of importing each handler and
making the DynamoDB client, against two baselines, each in fresh interpreters.

Run from the repository root: `.venv/bin/python -m bench.cold_start` (`--runs N` fresh
interpreters per subject, 5 by default: two and a half minutes on two cores with a test run
beside it, five with 7 and a heavier one). With `--built`, `sam build`'s output too, side by
side with the source tree (four times as long): `make build` first (`make build
ARCHITECTURE=x86_64` on an x86_64 machine), then `.aws-sam/build/<function>/` and
`.aws-sam/build/SharedLayer/python` are run by Python 3.13 (the runtime the layer is built
for) without its own site-packages, so that only what ships is imported.

What is timed, in each fresh interpreter (the CPU time of the process, `time.process_time`,
so that other work on the machine counts less than it would in wall time): `import handler`
with the function's folder and then the layer's first on the path, as Lambda puts its task
root and `/opt/python`, then `import boto3` and `boto3.client("dynamodb")`, as the first
request does (runtime() makes the client then). The interpreter's own start is not timed:
it is the same for every subject and Lambda's, not ours. Then, for the API functions with a
sample event in events/ (matched by route) and the minimal handler, the first request:
`lambda_handler(event, context)`, answered by a DynamoDB Local this run starts, in a table
of its own for each setting and round (so every round's requests find the same data). A
model built on first use, a module imported lazily, is counted there. The first run of each
subject fails if anything opens a connection or resolves a name other than DynamoDB
Local's loopback, and every first request must answer 2xx.

The subjects, interleaved round by round so that drift on the machine hits all alike:
- each `functions/*/handler.py`, with the environment template.yaml gives it (Globals and
  its own variables; queues, topics and buses as AWS-shaped placeholders), the table, the
  region and stand-in credentials;
- `minimal powertools`: a 30-line handler of our own, Powertools' APIGatewayHttpResolver
  with validation and one route taking a pydantic body and reading one DynamoDB item (the
  least an API function of this shape imports and does), then boto3 and the client;
- `bare boto3+pydantic`: `import boto3, pydantic` and the client, nothing of Powertools.

Each is run from up to three places, the settings, each with its own two baselines:
- `source`: the source tree, run by this virtual environment's Python. Each function and
  crm_points are copied without `__pycache__` and compiled at every start; the libraries'
  bytecode (written when pip installed them) is used.
- `no .pyc` (with `--built`): the build with the layer's bytecode left out, as the layer
  shipped before it had any: every module of the layer is compiled at every start, since
  Lambda's /opt is read-only.
- `built` (with `--built`): the build as it ships, the layer's .pyc used (hash-based, so
  whatever mtimes the sources have; layers/shared/Makefile).
A function's own handler.py has no .pyc anywhere (it is compiled in well under a
millisecond), and nothing writes one: the interpreters run with PYTHONDONTWRITEBYTECODE.

Printed: each subject's median time in each setting, its ratio there to the minimal handler
and to bare boto3+pydantic, sorted by the last setting's ratio; the slowest function's
ratios; the import and first request together of the subjects with a sample request, and
their ratio to the minimal handler's; with `--built`, what the layer's bytecode takes off a
cold start.
"""

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the repository root importable, for the template's readers.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from local.dynamodb_local import REGION, DynamoDBLocal, client  # noqa: E402
from local.functions import Function, discover_functions, offline_aws_environment  # noqa: E402
from local.resources import ACCOUNT_ID, BUS, QUEUE, TOPIC, LocalResources  # noqa: E402
from local.template import create_table, load_template  # noqa: E402

TABLE_NAME = "crm-points-bench"
MINIMAL = "minimal powertools"
BARE = "bare boto3+pydantic"
BUILD = ROOT / ".aws-sam" / "build"
BUILT_LAYER = BUILD / "SharedLayer" / "python"
EVENTS = ROOT / "events"
# The settings, in the order printed (bench's docstring).
SOURCE, NO_PYC, BUILT = "source", "no .pyc", "built"

# The least an API function of ours imports: the resolver with validation, a pydantic body.
_MINIMAL_HANDLER = '''"""A minimal Powertools API handler: the baseline of bench/cold_start.py."""

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

app = APIGatewayHttpResolver(enable_validation=True)


class Award(BaseModel):
    customer_id: str = Field(min_length=1)
    points: int = Field(gt=0)


@cache
def dynamodb() -> Any:
    return boto3.client("dynamodb")


@app.post("/award")
def award(body: Award) -> dict[str, Any]:
    key = {"PK": {"S": body.customer_id}, "SK": {"S": "ACCOUNT"}}
    dynamodb().get_item(TableName=os.environ["TABLE_NAME"], Key=key)
    return {"customer_id": body.customer_id, "points": body.points}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
'''

# Fails the run on a connection or a name lookup anywhere but DynamoDB Local's loopback.
# Audit hooks cost a call per audited event (every open, import, compile), so only the first,
# untimed run of each subject has it.
_GUARD = """
import sys
def _no_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto"):
        where = args[1] if event in ("socket.connect", "socket.sendto") else args
        host = where[0] if isinstance(where, tuple) else where
        if host in ("127.0.0.1", "localhost"):
            return
        print(f"NETWORK {event} {args!r}", file=sys.stderr)
        sys.stderr.flush()
        import os
        os._exit(3)
sys.addaudithook(_no_network)
"""

# json and types are imported before the clock starts, for every subject alike: they only
# read the sample event and make the context, which Lambda's own runtime has done already.
_PROBE = """
import json, time, types
event = json.loads({event!r})
context = types.SimpleNamespace(
    function_name={function!r}, memory_limit_in_mb=512, aws_request_id="bench",
    invoked_function_arn="arn:aws:lambda:{region}:{account}:function:{function}",
    get_remaining_time_in_millis=lambda: 10_000,
)
started = time.process_time()
{load}
import boto3
boto3.client("dynamodb", region_name={region!r})
imported = time.process_time()
if event:
    import handler
    answer = handler.lambda_handler(event, context)
    if not 200 <= answer["statusCode"] < 300:
        raise SystemExit(f"the first request answered {{answer['statusCode']}}: {{answer['body']}}")
print(imported - started, time.process_time() - imported)
"""


@dataclass
class Subject:
    """One thing timed: what its interpreter imports first, its path and environment."""

    name: str
    load: str  # the statement timed before boto3 and the client
    path: list[Path]
    environment: dict[str, str]
    is_function: bool = True
    event: dict[str, Any] | None = None  # a first request to time after the import
    times: list[float] = field(default_factory=list)  # seconds of CPU
    request_times: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class Setting:
    """Where the subjects are run from, and by which interpreter."""

    name: str  # SOURCE, NO_PYC or BUILT
    description: str
    interpreter: list[str]
    subjects: list[Subject]

    def median(self) -> dict[str, float]:
        """{subject: median seconds} of the subjects timed."""
        return {s.name: statistics.median(s.times) for s in self.subjects if s.times}

    def first_request(self) -> dict[str, float]:
        """{subject: median seconds of the import and the first request together}."""
        return {
            s.name: statistics.median(a + b for a, b in zip(s.times, s.request_times, strict=True))
            for s in self.subjects
            if s.request_times
        }


def _placeholders(resources: LocalResources) -> None:
    """AWS-shaped values for the queues, topics and buses the functions' variables name:
    nothing reads them while importing, but a function should see what Lambda gives it."""
    for name in resources.of_type(QUEUE):
        resources.queue_urls[name] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
    for name in resources.of_type(TOPIC):
        resources.topic_arns[name] = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
    for name in resources.of_type(BUS):
        resources.bus_names[name] = name


def _common_environment(scratch: Path, endpoint: str) -> dict[str, str]:
    """What every subject's interpreter sees, and nothing of this shell's (no AWS profile):
    Lambda's region and function variables, stand-in credentials, DynamoDB Local."""
    return {
        **offline_aws_environment(scratch, "bench"),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _copy(source: Path, target: Path) -> Path:
    """`source` copied without bytecode."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _sample_requests(functions: list[Function]) -> dict[str, dict[str, Any]]:
    """{function name: its sample event} for the API functions with one in events/, matched
    by route; and the minimal handler's, the award sample sent to its own route."""
    samples = {}
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            samples[event["routeKey"]] = event
    requests = {}
    for function in functions:
        for route in function.events_of("HttpApi"):
            key = f"{route.properties['Method'].upper()} {route.properties['Path']}"
            if key in samples:
                requests[function.name] = samples[key]
    minimal = json.loads(json.dumps(samples["POST /api/crm/points/award"]))
    minimal["rawPath"] = minimal["requestContext"]["http"]["path"] = "/award"
    minimal["routeKey"] = minimal["requestContext"]["routeKey"] = "POST /award"
    minimal["body"] = json.dumps({"customer_id": "demo-001", "points": 500})
    requests[MINIMAL] = minimal
    return requests


def _subjects(setting: str, scratch: Path, endpoint: str) -> list[Subject]:
    """The functions (by folder name, in order) and the two baselines, ready to run from
    `setting`'s place; `scratch` is this setting's own folder."""
    scratch.mkdir()
    template = load_template()
    resources = LocalResources(template, table_name=TABLE_NAME, region=REGION)
    _placeholders(resources)
    by_folder = {
        function.code_dir.resolve(): function
        for function in discover_functions(template, ROOT, resources).values()
    }
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    requests = _sample_requests(list(by_folder.values()))
    common = {**_common_environment(scratch, endpoint), **resources.environment_of(globals_)}
    if setting == BUILT:
        layer = BUILT_LAYER
    elif setting == NO_PYC:
        layer = _copy(BUILT_LAYER, scratch / "layer")
    else:
        layer = scratch / "layer"
        layer.mkdir()
        _copy(ROOT / "layers" / "shared" / "crm_points", layer / "crm_points")
    subjects: list[Subject] = []
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        folder = handler.parent
        function = by_folder.get(folder.resolve())
        logical_id = function.name if function else folder.name
        if setting == SOURCE:
            code = _copy(folder, scratch / "functions" / folder.name)
        else:
            code = BUILD / logical_id
        environment = {
            **common,
            **(function.environment if function else {}),
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        }
        subjects.append(
            Subject(
                folder.name,
                "import handler",
                [code, layer],
                environment,
                event=requests.get(logical_id),
            )
        )
    minimal = scratch / "minimal"
    minimal.mkdir()
    (minimal / "handler.py").write_text(_MINIMAL_HANDLER)
    baseline = {**common, "AWS_LAMBDA_FUNCTION_NAME": "bench"}
    subjects.append(
        Subject(MINIMAL, "import handler", [minimal, layer], baseline, False, requests[MINIMAL])
    )
    # The same path as the minimal handler's, so that only what is imported differs.
    subjects.append(Subject(BARE, "import boto3, pydantic", [minimal, layer], baseline, False))
    return subjects


def _check_build() -> None:
    """Exit 2 saying why, when .aws-sam/build cannot be timed: missing, older than
    template.yaml or the layer's Makefile, or built for another machine."""
    problem = ""
    if not BUILT_LAYER.is_dir():
        problem = "there is no sam build output in .aws-sam/build"
    else:
        template = load_template()
        resources = LocalResources(template, table_name=TABLE_NAME, region=REGION)
        missing = [
            function.name
            for function in discover_functions(template, ROOT, resources).values()
            if not (BUILD / function.name / "handler.py").is_file()
        ]
        machine = platform.machine()
        foreign = sorted(
            {
                path.name.split(".")[1]
                for path in BUILT_LAYER.rglob("*.cpython-*.so")
                if f"-{machine}-" not in path.name
            }
        )
        if missing:
            problem = f"the build in .aws-sam/build, older than template.yaml, has no {missing}"
        elif not any((BUILT_LAYER / "crm_points" / "__pycache__").glob("*.cpython-313.pyc")):
            problem = "the layer in .aws-sam/build has no bytecode: it is older than its Makefile"
        elif foreign:
            problem = (
                f"the layer in .aws-sam/build holds extensions for {', '.join(foreign)}, which "
                f"this machine ({machine}) cannot load: make build ARCHITECTURE="
                + {"x86_64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
            )
    if problem:
        print(f"{problem}; `make build` first (this benchmark does not build)", file=sys.stderr)
        sys.exit(2)


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


def _version(interpreter: str) -> str:
    return subprocess.run(
        [interpreter, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _settings(built: bool, scratch: Path, endpoint: str) -> list[Setting]:
    """Where the subjects run from: the source tree, and with `built` the build without and
    with the layer's bytecode."""
    source = [sys.executable]
    settings = [
        Setting(
            SOURCE,
            f"the source tree, Python {_version(source[0])} (.venv): the libraries' .pyc, "
            "crm_points and the handlers compiled",
            source,
            _subjects(SOURCE, scratch / "source", endpoint),
        )
    ]
    if built:
        # The runtime's Python, and -S so that nothing of its site-packages is found.
        python313 = [_python313(), "-S"]
        version = _version(python313[0])
        settings += [
            Setting(
                NO_PYC,
                f".aws-sam/build without the layer's .pyc, Python {version}: all compiled",
                python313,
                _subjects(NO_PYC, scratch / "no-pyc", endpoint),
            ),
            Setting(
                BUILT,
                f".aws-sam/build, Python {version}: the layer's .pyc, the handlers compiled",
                python313,
                _subjects(BUILT, scratch / "built", endpoint),
            ),
        ]
    return settings


def _once(subject: Subject, interpreter: list[str], table: str, guarded: bool) -> None:
    """One fresh interpreter: its CPU times appended to the subject's, or its error kept."""
    probe = _PROBE.format(
        load=subject.load,
        event=json.dumps(subject.event or {}),
        function=subject.environment["AWS_LAMBDA_FUNCTION_NAME"],
        region=REGION,
        account=ACCOUNT_ID,
    )
    environment = {
        **subject.environment,
        "TABLE_NAME": table,
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
        imported, request = answer.stdout.strip().splitlines()[-1].split()
        subject.times.append(float(imported))
        if subject.event:
            subject.request_times.append(float(request))


def main() -> None:
    """Time every subject in every setting, round by round, and print the table."""
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per subject")
    parser.add_argument(
        "--built",
        action="store_true",
        help="also time sam build's output (.aws-sam/build), without and with the layer's .pyc",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    if args.built:
        _check_build()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as directory, DynamoDBLocal() as local:
        settings = _settings(args.built, Path(directory), local.endpoint)
        # A table of its own for each setting in each round, so that every first request
        # finds the same data (a round's award is there for the reads after it).
        dynamodb = client(local.endpoint)

        def table(round_: int, setting: Setting) -> str:
            name = f"{TABLE_NAME}-{round_}-{settings.index(setting)}"
            create_table(dynamodb, name, stream=False)
            return name

        # An untimed first run: fills the file system cache for all, checks for the network.
        for setting in settings:
            first = table(0, setting)
            for subject in setting.subjects:
                _once(subject, setting.interpreter, first, guarded=True)
            for subject in (s for s in setting.subjects if s.error and not s.is_function):
                sys.exit(
                    f"{subject.name} ({setting.name}) failed, nothing to compare with: "
                    f"{subject.error}"
                )
        for round_ in range(1, args.runs + 1):
            for setting in settings:
                this_round = table(round_, setting)
                for subject in setting.subjects:
                    if not subject.error:
                        _once(subject, setting.interpreter, this_round, guarded=False)
    elapsed = time.monotonic() - started
    _report(settings, args.runs, elapsed)


def _report(settings: list[Setting], runs: int, elapsed: float) -> None:
    medians = {setting.name: setting.median() for setting in settings}
    print(
        "cold start (import handler, boto3, DynamoDB client), CPU ms, median of "
        f"{runs} fresh interpreters each"
    )
    for setting in settings:
        print(f"  {setting.name + ':':<8} {setting.description}")
    print("  x min., x bare: times the minimal Powertools handler, bare boto3+pydantic there")
    names = [subject.name for subject in settings[0].subjects]
    width = max(len(name) for name in names)
    columns = f"{'median':>7} {'x min.':>6} {'x bare':>6}"
    if len(settings) > 1:
        groups = "".join(f"  {s.name:<{len(columns)}}" for s in settings)
        print(f"  {'':<{width}}{groups}".rstrip())
    print(f"  {'subject':<{width}}" + f"  {columns}" * len(settings))
    last = medians[settings[-1].name]
    ratio = {name: last[name] / last[MINIMAL] for name in last}
    for name in sorted(names, key=lambda n: ratio.get(n, float("inf"))):
        cells = []
        for setting in settings:
            median = medians[setting.name]
            if name in median:
                cells.append(
                    f"{median[name] * 1000:7.0f} {median[name] / median[MINIMAL]:6.2f} "
                    f"{median[name] / median[BARE]:6.2f}"
                )
            else:
                cells.append(f"{'failed':>7} {'':>6} {'':>6}")
        print(f"  {name:<{width}}" + "".join(f"  {cell}" for cell in cells))
    for setting in settings:
        for subject in setting.subjects:
            if subject.error:
                print(f"  {subject.name} ({setting.name}) failed: {subject.error}")
    functions = {s.name for s in settings[0].subjects if s.is_function}
    for setting in settings:
        median = medians[setting.name]
        timed = [name for name in functions if name in median]
        if timed:
            worst = max(timed, key=lambda n: median[n])
            print(
                f"slowest function, {setting.name}: {worst}, {median[worst] / median[MINIMAL]:.2f}"
                f" times the minimal Powertools handler, {median[worst] / median[BARE]:.2f} "
                "times bare boto3+pydantic"
            )
    _report_first_requests(settings)
    if NO_PYC in medians and BUILT in medians:
        without, with_ = medians[NO_PYC], medians[BUILT]
        saved = sorted(
            1 - with_[name] / without[name]
            for name in functions
            if name in with_ and name in without
        )
        if saved:
            print(
                f"the layer's .pyc takes {statistics.median(saved):.0%} off a function's cold "
                f"start ({saved[0]:.0%} to {saved[-1]:.0%}; the minimal handler: "
                f"{1 - with_[MINIMAL] / without[MINIMAL]:.0%}, bare boto3+pydantic: "
                f"{1 - with_[BARE] / without[BARE]:.0%})"
            )
    print(f"took {elapsed:.0f} s")
    if any(subject.error for setting in settings for subject in setting.subjects):
        sys.exit(1)


def _report_first_requests(settings: list[Setting]) -> None:
    """The import and the first request together, for the subjects with a sample request:
    what a deferred model build or a lazy import moves to the first request is counted."""
    totals = {setting.name: setting.first_request() for setting in settings}
    names = [s.name for s in settings[0].subjects if s.event is not None]
    if not names:
        return
    print(
        "import and first request (a sample event of events/ answered against DynamoDB "
        "Local; the minimal handler reads one item), CPU ms, x min."
    )
    width = max(len(name) for name in names)
    print(f"  {'subject':<{width}}" + "".join(f"  {s.name:>8} {'x min.':>6}" for s in settings))
    for name in names:
        cells = []
        for setting in settings:
            total = totals[setting.name]
            if name in total and MINIMAL in total:
                cells.append(f"{total[name] * 1000:8.0f} {total[name] / total[MINIMAL]:6.2f}")
            else:
                cells.append(f"{'failed':>8} {'':>6}")
        print(f"  {name:<{width}}" + "".join(f"  {cell}" for cell in cells))


if __name__ == "__main__":
    main()
