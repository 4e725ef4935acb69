"""What X-Ray tracing would cost a cold start: the layer's handler imported and its clients
made, without and with Powertools' Tracer (aws-xray-sdk imported, boto3 and botocore
patched), each in fresh interpreters, side by side.

Run from the repository root: `.venv/bin/python bench/tracer.py`. aws-xray-sdk is not in
the layer or the development lock (that is the decision this measures): install it and
wrapt somewhere of your own and give that directory, e.g.

    .venv/bin/pip install --target .bench-xray --no-deps aws-xray-sdk==2.15.0 wrapt==2.1.2
    .venv/bin/python bench/tracer.py --xray-path .bench-xray

What is timed, in each fresh interpreter: importing `functions/award_points/handler.py` (the
API's handler with the layer: Powertools' resolver, pydantic models, the logger and
metrics), then `runtime()` (boto3 imported, the DynamoDB client made), as a cold start
does before the first request. With the Tracer, `Tracer(service=..., patch_modules=[boto3,
botocore])` comes first, as a traced handler's module would create it. No request is sent.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import importlib.util, sys, time
started = time.perf_counter()
if {traced}:
    from aws_lambda_powertools import Tracer
    Tracer(service="crm-points", patch_modules=["boto3", "botocore"])
spec = importlib.util.spec_from_file_location("handler", {handler!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from crm_points.runtime import runtime
runtime()
print(time.perf_counter() - started)
"""


def _once(traced: bool, xray_path: str | None) -> float:
    """One cold start's import time, in seconds, in a new interpreter."""
    paths = [str(ROOT / "layers" / "shared"), str(ROOT)]
    if xray_path:
        paths.append(xray_path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "TABLE_NAME": "bench",
        "AWS_DEFAULT_REGION": "af-south-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        # The Tracer disables itself outside Lambda; this makes it do what it does there.
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    probe = _PROBE.format(
        traced=traced, handler=str(ROOT / "functions" / "award_points" / "handler.py")
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    return float(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the median and spread of each variant's cold-start import time, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per variant")
    parser.add_argument("--xray-path", help="a directory holding aws-xray-sdk and wrapt")
    args = parser.parse_args()
    if args.xray_path:
        args.xray_path = str(Path(args.xray_path).resolve())
    plain: list[float] = []
    traced: list[float] = []
    _once(False, args.xray_path)  # warm the file system cache for both
    for _ in range(args.runs):  # interleaved, so drift on the machine hits both alike
        plain.append(_once(False, args.xray_path))
        traced.append(_once(True, args.xray_path))
    print(f"cold-start import, {args.runs} fresh interpreters each (ms): median  min  max")
    for name, times in (("without Tracer", plain), ("with Tracer   ", traced)):
        ms = [t * 1000 for t in times]
        print(f"  {name}  {statistics.median(ms):7.0f} {min(ms):5.0f} {max(ms):5.0f}")
    extra = statistics.median(traced) - statistics.median(plain)
    ratio = statistics.median(traced) / statistics.median(plain)
    print(f"  the Tracer adds {extra * 1000:.0f} ms, {ratio:.2f} times the import without it")


if __name__ == "__main__":
    main()
