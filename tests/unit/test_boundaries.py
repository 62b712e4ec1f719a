"""Which code may import what: the gateway speaks to services only through contracts and RPC,
the shared words and every domain stay framework-free, and servicekit's imports go one way."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("nameko", "eventlet", "sqlalchemy", "marshmallow", "kombu", "alembic")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, deferred imports inside functions included."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_imported_modules_sees_deferred_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from services.catalog import domain\n")
    assert "services.catalog" in imported_modules(probe)


def test_nothing_under_gateway_imports_a_service():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m == "services"
                                             or m.startswith("services."))
        for path in python_files("gateway")
    }  # fmt: skip
    assert python_files("gateway"), "the gateway's files were not found"
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_contracts_import_only_the_standard_library_and_each_other():
    for path in python_files("contracts"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top in ("contracts", "__future__"), (
                f"{path.relative_to(ROOT)} imports {module}"
            )


@pytest.mark.parametrize(
    "module",
    ["contracts.principal", "contracts.refusals", "contracts.scope", "contracts.ages"]
    + [
        f"services.{path.parent.name}.domain"
        for path in sorted((ROOT / "services").glob("*/domain.py"))
    ]
    + [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in sorted((ROOT / "services").glob("*/*/domain.py"))
    ],
)
def test_shared_words_and_domains_load_no_framework(module):
    # a fresh interpreter: what importing the module really pulls in
    code = (
        f"import sys, {module}\n"
        f"print(','.join(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


def test_servicekit_db_does_not_import_the_outbox():
    assert not any(m.startswith("servicekit.outbox") for m in imported_modules(
        ROOT / "servicekit" / "db.py"
    ))  # fmt: skip
    assert "servicekit.db" in imported_modules(ROOT / "servicekit" / "outbox.py")


SERVICE_FILES = ("service.py", "domain.py", "operations.py", "models.py", "schemas.py",
                 "exceptions.py", "migrations")  # fmt: skip


@pytest.mark.parametrize(
    "service", sorted(p.parent.name for p in (ROOT / "services").glob("*/domain.py"))
)
def test_every_service_with_rules_has_the_same_files(service):
    folder = ROOT / "services" / service
    assert [name for name in SERVICE_FILES if not (folder / name).exists()] == []


@pytest.mark.parametrize("path", sorted((ROOT / "services").rglob("service.py")), ids=str)
def test_service_modules_hold_only_entrypoints(path):
    """No SQL in an entrypoint module, and no entrypoint longer than a few statements."""
    assert not any(m.split(".")[0] == "sqlalchemy" for m in imported_modules(path)), path
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and any(
            getattr(d, "id", None) == "rpc" for d in node.decorator_list
        ):
            body = [s for s in node.body if not isinstance(s, ast.Expr)]  # docstrings aside
            assert len(body) <= 4, f"{path.name}: {node.name} has {len(body)} statements"
