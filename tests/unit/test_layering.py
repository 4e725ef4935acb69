"""The layering that import-linter cannot see (pyproject.toml holds the layer's own).

Every API handler is the same thin edge: it imports only the API's edge of the layer (never
a store, the ledger service or the permission rules), and each of its routes calls exactly
one function of `crm_points.api_operations`, which checks the permission. And no module
imports another's private (`_name`) member."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
# What an API handler may not import: data access, the services behind the operations, and
# the permission rules (the operations module applies them).
BEHIND_THE_EDGE = {
    "crm_points.dynamo",
    "crm_points.transactions",
    "crm_points.ledger_store",
    "crm_points.alert_store",
    "crm_points.analytics_store",
    "crm_points.bulk_store",
    "crm_points.ledger_service",
    "crm_points.ledger",
    "crm_points.permissions",
    "crm_points.outbound",
}


def _api_handlers() -> list[Path]:
    return sorted(
        path
        for path in FUNCTIONS.glob("*/handler.py")
        if "APIGatewayHttpRouter" in path.read_text()
    )


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "crm_points":
                names.update(f"crm_points.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _routes(tree: ast.Module) -> list[ast.FunctionDef]:
    def is_route(decorator: ast.expr) -> bool:
        return (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and isinstance(decorator.func.value, ast.Name)
            and decorator.func.value.id == "router"
        )

    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(map(is_route, node.decorator_list))
    ]


def _operation_calls(route: ast.FunctionDef) -> list[str]:
    return [
        node.func.attr
        for node in ast.walk(route)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "api_operations"
    ]


def test_the_api_handlers_are_found() -> None:
    assert len(_api_handlers()) >= 20


@pytest.mark.parametrize("path", _api_handlers(), ids=lambda path: path.parent.name)
def test_an_api_handler_imports_only_the_edge(path: Path) -> None:
    assert _imported(ast.parse(path.read_text())) & BEHIND_THE_EDGE == set()


@pytest.mark.parametrize("path", _api_handlers(), ids=lambda path: path.parent.name)
def test_each_route_calls_one_operation(path: Path) -> None:
    routes = _routes(ast.parse(path.read_text()))
    assert routes, f"{path} has no route"
    for route in routes:
        assert len(_operation_calls(route)) == 1, route.name


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_")
    ]


def test_no_module_imports_a_private_name_of_another() -> None:
    folders = ["layers", "functions", "local", "deploy", "bench", "tests"]
    sources = [path for folder in folders for path in (ROOT / folder).rglob("*.py")]
    assert len(sources) > 100
    assert [found for path in sources for found in _private_imports(path)] == []
