"""SPEC §12: no Scan in any request, event or schedule path."""

import ast
from pathlib import Path

import pytest

from local.dynamodb_local import client
from tests.conftest import forbid_scans

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_CODE = [ROOT / "functions", ROOT / "layers" / "shared" / "crm_points"]


def scans_in(source: str) -> list[int]:
    """Lines that call a `scan` method, or name the Scan operation or paginator."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "scan":
            lines.append(node.lineno)
        if isinstance(node, ast.Constant) and node.value in {"Scan", "scan"}:
            lines.append(node.lineno)
    return lines


def test_the_detector_finds_scans():
    assert scans_in("client.scan(TableName='t')") == [1]
    assert scans_in("client.get_paginator('scan')") == [1]
    assert scans_in("client.query(TableName='t')") == []


def test_no_runtime_code_scans():
    files = [path for folder in RUNTIME_CODE for path in folder.rglob("*.py")]
    assert files
    found = {str(p.relative_to(ROOT)): scans_in(p.read_text()) for p in files}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_a_scan_at_run_time_fails_the_test():
    dynamodb = client("http://127.0.0.1:9")
    forbid_scans(dynamodb)
    with pytest.raises(AssertionError, match="Scan is not allowed"):
        dynamodb.scan(TableName="any")
