"""DynamoDB Local as the local stack runs it: reachable from this machine only, gone with the
process that started it, and never two on the same data folder."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from local.dynamodb_local import LOCK_FILE, ROOT, DataInUse, DynamoDBLocal, lock_exclusively

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


def _address(hexadecimal: str) -> str:
    """An address of /proc/net/tcp(6): 32-bit words, each in the host's (little-endian) order."""
    words = [bytes.fromhex(hexadecimal[i : i + 8])[::-1] for i in range(0, len(hexadecimal), 8)]
    packed = b"".join(words)
    if len(packed) == 4:
        return socket.inet_ntop(socket.AF_INET, packed)
    if packed[:12] == b"\0" * 10 + b"\xff\xff":  # an IPv4 address on an IPv6 socket
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port`, from the kernel's own tables."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                address, _, hex_port = fields[1].partition(":")
                if int(hex_port, 16) == port and fields[3] == _LISTEN:
                    found.add(_address(address))
    return found


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net")
def test_dynamodb_local_listens_on_loopback_only():
    with DynamoDBLocal() as local:
        assert listening_addresses(local.port) == {"127.0.0.1"}
        assert local.endpoint == f"http://127.0.0.1:{local.port}"


_STARTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from local.dynamodb_local import DynamoDBLocal

    local = DynamoDBLocal(data_dir=Path(sys.argv[1])).start()
    print(local.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_dynamodb_local_dies_with_the_process_that_started_it(tmp_path):
    data = tmp_path / "dynamodb"
    starter = subprocess.Popen(  # noqa: S603  (this interpreter, the script above)
        [sys.executable, "-c", _STARTER, str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    jvm: int | None = None
    try:
        assert starter.stdout is not None
        jvm = int(starter.stdout.readline())
        with pytest.raises(DataInUse, match="in use by another process"):
            lock_exclusively(data / LOCK_FILE, "the data")
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
        assert _gone(jvm), "DynamoDB Local outlived the process that started it"
        # With the JVM gone, so is its lock: the next stack may use the data.
        os.close(lock_exclusively(data / LOCK_FILE, "the data"))
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if jvm is not None and not _gone(jvm, timeout=0):
            os.kill(jvm, signal.SIGKILL)  # only the JVM this test started


def test_a_second_dynamodb_local_on_the_same_data_is_refused(tmp_path):
    data = tmp_path / "dynamodb"
    with DynamoDBLocal(data_dir=data) as first:
        second = DynamoDBLocal(data_dir=data)
        with pytest.raises(DataInUse, match=rf"pid {os.getpid()}"):
            second.start()
        assert second.pid is None
        assert first.pid is not None
        assert not _gone(first.pid, timeout=0)
    with DynamoDBLocal(data_dir=data):  # free again once the first has stopped
        pass


def test_a_second_stack_on_the_same_state_exits_saying_why(tmp_path, monkeypatch, capsys):
    from local import run

    monkeypatch.setenv("CRM_POINTS_LOCAL_DIR", str(tmp_path))
    holder = lock_exclusively(tmp_path / run.STACK_LOCK, "the state")
    try:
        assert run.run() == 1
    finally:
        os.close(holder)
    refused = capsys.readouterr().err
    assert "A local stack already runs" in refused
    assert f"pid {os.getpid()}" in refused
    assert not (tmp_path / "dynamodb").exists()  # nothing was started
