"""The template's functions, run in this process as Lambda would run them (SPEC §11).

Every `AWS::Serverless::Function` of template.yaml with a local `CodeUri` folder and a
`module.function` Handler; its events (HttpApi, EventBridgeRule, ScheduleV2, DynamoDB, SQS)
are what the local API server and the event sources (local/bus.py, local/schedules.py,
local/streams.py, local/queues.py) deliver to it.

One `FunctionHost` runs them all: one process, one copy of the shared layer and of its module
state (Powertools' current event, the cached configuration). So invocations run one at a time,
as each Lambda execution environment runs them. A function sees the environment the template
gives it, its intrinsics resolved to local values (local/resources.py), plus the stack's own
(`TABLE_NAME`, the endpoints, region, stand-in credentials), set around each invocation and
its first import (its cold start).
"""

import importlib.util
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.dynamodb_local import REGION, ROOT
from local.resources import ACCOUNT_ID, LocalResources

# Lambda's defaults where neither the function nor Globals say.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class EventSource:
    """One entry of a function's `Events`: its logical id, `Type` and `Properties`."""

    name: str
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Function:
    """An `AWS::Serverless::Function` as far as running it locally needs."""

    name: str  # the logical id in template.yaml
    code_dir: Path
    handler: str  # "module.function", e.g. "handler.lambda_handler"
    memory_mb: int
    timeout_s: float
    environment: Mapping[str, str] = field(default_factory=dict, compare=False)
    events: tuple[EventSource, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"

    def events_of(self, kind: str) -> list[EventSource]:
        """The function's events of one `Type`."""
        return [event for event in self.events if event.type == kind]


def _literal_variables(variables: Mapping[str, Any]) -> dict[str, str]:
    """`Environment.Variables` without the values CloudFormation would compute (intrinsics)."""
    literal: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, bool):
            literal[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            literal[name] = str(value)
    return literal


def _number(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def discover_functions(
    template: dict[str, Any], root: Path = ROOT, resources: LocalResources | None = None
) -> dict[str, Function]:
    """Every function of the template that runs locally, by logical id. With `resources`, the
    intrinsics of its environment take their local values; without, they are left out."""
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions: dict[str, Function] = {}
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        events = tuple(
            EventSource(event_name, str(event.get("Type")), event.get("Properties") or {})
            for event_name, event in (properties.get("Events") or {}).items()
        )
        code_uri = properties.get("CodeUri", globals_.get("CodeUri"))
        handler = properties.get("Handler", globals_.get("Handler"))
        if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
            if not events:
                continue
            raise ValueError(
                f"template.yaml: {name} needs a local CodeUri folder and a module.function "
                f"Handler to run locally (CodeUri {code_uri!r}, Handler {handler!r})"
            )
        variables = {
            **((globals_.get("Environment") or {}).get("Variables") or {}),
            **((properties.get("Environment") or {}).get("Variables") or {}),
        }
        functions[name] = Function(
            name=name,
            code_dir=root / code_uri,
            handler=handler,
            memory_mb=int(
                _number(properties.get("MemorySize", globals_.get("MemorySize")), DEFAULT_MEMORY_MB)
            ),
            timeout_s=_number(
                properties.get("Timeout", globals_.get("Timeout")), DEFAULT_TIMEOUT_S
            ),
            environment=(
                resources.environment_of(variables)
                if resources is not None
                else _literal_variables(variables)
            ),
            events=events,
            properties=properties,
        )
    return functions


@dataclass
class LambdaContext:
    """What a Python handler finds in Lambda's context object."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float  # time.monotonic() when the function's Timeout is up
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None

    @classmethod
    def for_function(cls, function: Function) -> "LambdaContext":
        return cls(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            invoked_function_arn=function.arn,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + function.timeout_s,
            log_group_name=f"/aws/lambda/{function.name}",
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """One run of a function: what it returned, or the error it raised."""

    function: str
    request_id: str
    succeeded: bool
    result: Any = None
    error_type: str = ""
    error_message: str = ""

    def error(self) -> dict[str, str]:
        """The error as Lambda reports an unhandled one (`errorType`, `errorMessage`)."""
        return {"errorType": self.error_type, "errorMessage": self.error_message}


def every_variable(functions: Iterable[Function]) -> dict[str, str]:
    """Every function's template variables together. In one process the layer is imported
    once, and its settings (crm_points.settings) are read at its first cold start, whichever
    function that is: so here each function sees them all (in AWS, each its own)."""
    variables: dict[str, str] = {}
    for function in functions:
        variables.update(function.environment)
    return variables


def offline_aws_environment(scratch: Path, credential: str) -> dict[str, str]:
    """What a Lambda-like interpreter started from here sees of AWS: the stack's region,
    stand-in credentials, no ~/.aws files (Lambda has none; `scratch` is where they are
    not) and never the instance metadata service, so that nothing reaches an account."""
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": credential,
        "AWS_SECRET_ACCESS_KEY": credential,
        "AWS_SESSION_TOKEN": credential,
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` set, as it was afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler_module(function: Function) -> ModuleType:
    """The function's handler module, imported from its own file under a name of its own
    (with its folder first on the path while it imports, as Lambda's task root is)."""
    module_name = "local_api_" + re.sub(r"\W", "_", f"{function.name}_{function.handler_file.stem}")
    spec = importlib.util.spec_from_file_location(module_name, function.handler_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {function.handler_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(function.code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(function.code_dir))
    return module


class FunctionHost:
    """Runs functions one at a time in this process, each module imported once.

    `environment` is what every function sees beyond its template variables (it may be
    changed until the first invocation). `after_invocation` callables are called with each
    Invocation once the function has returned (the outbox collects what it sent).
    """

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self.environment: dict[str, str] = dict(environment or {})
        self.after_invocation: list[Callable[[Invocation], None]] = []
        self.invocations = 0
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()

    def environment_of(self, function: Function) -> dict[str, str]:
        return {**function.environment, **self.environment}

    def module(self, function: Function) -> ModuleType:
        """The function's handler module, imported on first use (its cold start)."""
        with self._lock, environment_set(self.environment_of(function)):
            return self._module(function)

    def _module(self, function: Function) -> ModuleType:
        module = self._modules.get(function.name)
        if module is None:
            module = self._modules[function.name] = load_handler_module(function)
        return module

    def invoke(
        self,
        function: Function,
        event: Any,
        shape: Callable[[Any], Any] | None = None,
        what: str = "",
    ) -> Invocation:
        """Run `function` on `event`. `shape` turns its result into what the caller keeps,
        inside the same guard (its failure is the invocation's); `what` names the trigger in
        the trace that a failure prints to stderr."""
        context = LambdaContext.for_function(function)
        with self._lock, environment_set(self.environment_of(function)):
            self.invocations += 1
            try:
                handler: Callable[[Any, LambdaContext], Any] = getattr(
                    self._module(function), function.handler_name
                )
                result = handler(event, context)
                invocation = Invocation(
                    function.name,
                    context.aws_request_id,
                    True,
                    shape(result) if shape is not None else result,
                )
            except Exception as error:
                print(
                    f"{function.name} failed on {what or 'an event'} "
                    f"(request {context.aws_request_id}):",
                    file=sys.stderr,
                )
                traceback.print_exc()
                invocation = Invocation(
                    function.name,
                    context.aws_request_id,
                    False,
                    error_type=type(error).__name__,
                    error_message=str(error),
                )
        for listener in self.after_invocation:
            listener(invocation)
        return invocation
