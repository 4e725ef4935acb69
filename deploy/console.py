"""Publish the CRM console to a deployed stack: `make console-deploy [STACK=…] [REGION=…]`.

After `sam deploy`, the stack has a private bucket and a CloudFront distribution for the
console (template.yaml, ConsoleBucket / ConsoleDistribution) and a user pool app client
whose hosted sign-in sends users back to the console's URL. This uploads the console's
static files in the layout the pages refer to (`/index.html`, `/console/*`,
`/vendor/chart.js/chart.umd.min.js`, from npm) and `/config.json`, the settings built from
the stack's outputs: sign in with Cognito (the hosted sign-in, authorization code with
PKCE), the API's origin. Files of an earlier upload that are no longer part of the console
are deleted, then CloudFront's cached copies are invalidated.

    python -m deploy.console --stack crm-points-dev --region af-south-1
"""

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"
CHART_JS = ROOT / "node_modules" / "chart.js" / "dist"

# Pages of console/ that exist for the local stack only: the embedding example signs in
# with the local stack's POST /local/token.
LOCAL_ONLY = frozenset({"embed-example.html"})

# The outputs of template.yaml the console needs.
REQUIRED_OUTPUTS = (
    "ApiOrigin",
    "CognitoDomainUrl",
    "CrmAppClientId",
    "ConsoleUrl",
    "ConsoleBucketName",
    "ConsoleDistributionId",
)

# The files are not fingerprinted: browsers revalidate each use (a deploy shows at once),
# and CloudFront keeps them for its minimum TTL only (CachingOptimized: 1 s).
CACHE_CONTROL = "no-cache"


class ConsoleDeployError(Exception):
    """The stack or this checkout cannot give what the console needs."""


@dataclass(frozen=True)
class ConsoleFile:
    """One file of the console: where it goes in the bucket, and what it is."""

    key: str
    body: bytes
    content_type: str


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key; ConsoleDeployError when one the console needs is missing
    (the stack trusts an external issuer, or it predates the console)."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", ())}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise ConsoleDeployError(
            f"stack {stack_name} has no output {', '.join(missing)}: deploy template.yaml "
            "with its own user pool (ExternalJwtIssuer empty) first"
        )
    return outputs


def console_config(outputs: Mapping[str, str]) -> dict[str, Any]:
    """The console's /config.json for a deployed stack."""
    return {
        "signIn": "cognito",
        "apiBase": outputs["ApiOrigin"].rstrip("/"),
        "cognito": {
            "domain": outputs["CognitoDomainUrl"].rstrip("/"),
            "clientId": outputs["CrmAppClientId"],
            "redirectUri": outputs["ConsoleUrl"],
        },
    }


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
}


def _content_type(path: Path) -> str:
    try:
        return CONTENT_TYPES[path.suffix]
    except KeyError:
        raise ConsoleDeployError(f"no content type known for {path.name}") from None


def _file(key: str, path: Path) -> ConsoleFile:
    return ConsoleFile(key, path.read_bytes(), _content_type(path))


def console_files(config: Mapping[str, Any], console: Path = CONSOLE) -> list[ConsoleFile]:
    """Every file the deployed console serves, with its key; `config` becomes config.json."""
    chart_files = [CHART_JS / "chart.umd.min.js", CHART_JS / "chart.umd.min.js.map"]
    if not all(path.is_file() for path in chart_files):
        raise ConsoleDeployError("Chart.js is not installed: run `npm ci` (make does)")
    files = [_file("index.html", console / "index.html")]
    files += [
        _file(f"console/{path.name}", path)
        for path in sorted(console.iterdir())
        if path.is_file() and path.name != "index.html" and path.name not in LOCAL_ONLY
    ]
    files += [_file(f"vendor/chart.js/{path.name}", path) for path in chart_files]
    body = json.dumps(config, indent=2).encode()
    files.append(ConsoleFile("config.json", body, CONTENT_TYPES[".json"]))
    return files


def upload(s3: Any, bucket: str, files: Sequence[ConsoleFile]) -> list[str]:
    """Put `files` in `bucket` and delete the objects that are not among them (files of an
    earlier console); the keys deleted."""
    for file in files:
        s3.put_object(
            Bucket=bucket,
            Key=file.key,
            Body=file.body,
            ContentType=file.content_type,
            CacheControl=CACHE_CONTROL,
        )
    wanted = {file.key for file in files}
    stale: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale.extend(item["Key"] for item in page.get("Contents", ()) if item["Key"] not in wanted)
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket,
            Delete={
                "Objects": [{"Key": key} for key in stale[start : start + 1000]],
                "Quiet": True,
            },
        )
    return stale


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    """Ask CloudFront to drop every cached file of the console; the invalidation's id."""
    answer = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"console-deploy-{time.time_ns()}",
        },
    )
    return str(answer["Invalidation"]["Id"])


def publish(session: Any, stack_name: str) -> str:
    """Upload the console to `stack_name`'s bucket and invalidate its distribution; the
    console's URL."""
    outputs = stack_outputs(session.client("cloudformation"), stack_name)
    files = console_files(console_config(outputs))
    stale = upload(session.client("s3"), outputs["ConsoleBucketName"], files)
    invalidation = invalidate(session.client("cloudfront"), outputs["ConsoleDistributionId"])
    print(
        f"Uploaded {len(files)} files to s3://{outputs['ConsoleBucketName']}"
        f"{f', deleted {len(stale)} old ones' if stale else ''}; "
        f"CloudFront invalidation {invalidation}."
    )
    return outputs["ConsoleUrl"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.console",
        description="Upload the CRM console to a deployed CRM Points stack.",
    )
    parser.add_argument("--stack", required=True, help="the stack's name (samconfig.toml's)")
    parser.add_argument("--region", required=True)
    arguments = parser.parse_args(argv)
    import boto3  # only here: the module's functions take their clients
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        url = publish(boto3.Session(region_name=arguments.region), arguments.stack)
    except (ConsoleDeployError, BotoCoreError, ClientError) as error:
        # No credentials, no such stack, access denied: AWS's own words say which.
        print(f"console-deploy: {error}", file=sys.stderr)
        return 1
    print(f"The console: {url} (sign in with a user of the stack's user pool)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
