"""DynamoDB Local as the local stack runs it: reachable from this machine only."""

import socket
from pathlib import Path

import pytest

from local.dynamodb_local import DynamoDBLocal

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


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net")
def test_dynamodb_local_listens_on_loopback_only():
    with DynamoDBLocal() as local:
        assert listening_addresses(local.port) == {"127.0.0.1"}
        assert local.endpoint == f"http://127.0.0.1:{local.port}"
