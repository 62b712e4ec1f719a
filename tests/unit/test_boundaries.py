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
    + ["contracts.transitions", "contracts.cost", "contracts.municipalities"]
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


# --- services are siblings ---------------------------------------------------------------


def service_of(module: str) -> str | None:
    """`services.catalog.search` -> `catalog`: the top-level service package a module is in
    (`services.enrollment` is a service of its own)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def test_service_of_names_the_top_level_service_package():
    assert service_of("services.catalog.search") == "catalog"
    assert service_of("services.enrollment.saga") == "enrollment"
    assert service_of("servicekit.db") is None


def test_services_never_import_each_other():
    """What two services share goes through RPC, events, contracts/ or servicekit/, never an
    import of the other's code."""
    offenders = {}
    for path in python_files("services"):
        relative = path.relative_to(ROOT)
        if len(relative.parts) < 3:  # services/__init__.py
            continue
        own = relative.parts[1]
        foreign = sorted(m for m in imported_modules(path) if service_of(m) not in (None, own))
        if foreign:
            offenders[str(relative)] = foreign
    assert offenders == {}


def test_shared_code_imports_no_service_and_no_deployment():
    """services/, servicekit/ and contracts/ never import deploy/ (deploy calls them, with
    the demo data); servicekit/ and contracts/ import no service."""
    offenders = {}
    for folder in ("services", "servicekit", "contracts"):
        for path in python_files(folder):
            bad = sorted(
                m
                for m in imported_modules(path)
                if m.split(".")[0] == "deploy"
                or (folder != "services" and m.split(".")[0] in ("services", "gateway"))
            )
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


# --- no import cycles in the gateway -----------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(folder: str) -> list[list[str]]:
    """The import cycles among a folder's modules (deferred imports count: they only hide
    a cycle), each as the modules of one strongly connected component."""
    modules = {module_name(path): path for path in python_files(folder)}
    graph = {
        name: {
            target
            for imported in imported_modules(path)
            for target in (imported, imported.rpartition(".")[0])
            if target in modules and target != name
        }
        for name, path in modules.items()
    }
    # Tarjan's strongly connected components
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_import_cycles_finds_a_cycle(tmp_path, monkeypatch):
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from probe import b\n")
    (package / "b.py").write_text("def f():\n    from probe.a import g\n")
    (package / "c.py").write_text("import probe.a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert import_cycles("probe") == [["probe.a", "probe.b"]]


@pytest.mark.parametrize("folder", ["gateway", "servicekit", "contracts"])
def test_no_import_cycles(folder):
    assert python_files(folder)
    assert import_cycles(folder) == []


# --- one way for each concern ------------------------------------------------------------

SHARED_TABLES = ("outbox", "processed_events")


def tables_created(path: Path) -> set[str]:
    """The tables a migration creates by hand (`op.create_table("name", ...)`)."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "create_table"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_the_outbox_tables_are_created_by_the_one_servicekit_helper():
    migrations = [p for p in ROOT.rglob("migrations/versions/*.py") if ".venv" not in p.parts]
    assert migrations
    by_hand = {
        str(path.relative_to(ROOT)): sorted(tables_created(path) & set(SHARED_TABLES))
        for path in migrations
    }
    assert {path: tables for path, tables in by_hand.items() if tables} == {}
    assert set(SHARED_TABLES) <= tables_created(ROOT / "servicekit" / "migrations.py")
    callers = [p for p in migrations if "servicekit.migrations" in imported_modules(p)]
    # every service that publishes or handles events, gateway aside (it has no outbox)
    assert {p.relative_to(ROOT).parts[1] for p in callers} >= {
        "accounts", "catalog", "certificates", "notifications", "payments"
    }  # fmt: skip


def test_no_migration_imports_a_service_or_the_gateway():
    """A migration does tomorrow what it did when it was applied: it imports no service's (or
    the gateway's) domain or models, which change after it (docs/migrations.md)."""
    migrations = [p for p in ROOT.rglob("migrations/versions/*.py") if ".venv" not in p.parts]
    assert migrations
    found = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in ("services", "gateway")
        )
        for path in migrations
    }
    assert {path: modules for path, modules in found.items() if modules} == {}


RPC_ERRORS = {"BadRequest", "InvalidInput", "Unauthorized", "Forbidden", "NotFound", "Conflict",
              "TooManyRequests", "ServiceUnavailable", "NavigatorError"}  # fmt: skip
REFUSALS = {"Refusal", "Refused", "Conflicting", "InvalidField", "InvalidFields",
            "TransitionRefused", "InvalidTerms"}  # fmt: skip


def _names(node) -> set[str]:
    """`Refused`, `domain.Refused`, `(KeyError, domain.InvalidField)` -> their last names."""
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(element) for element in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Name):
        return {node.id}
    return set()


def refusals_mapped_by_hand(path: Path) -> list[str]:
    """`except <a refusal>: raise Conflict(...)`: a refusal turned into an RPC error other
    than by servicekit.errors.rpc_error, the one mapping."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & REFUSALS:
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Raise)
                    and isinstance(inner.exc, ast.Call)
                    and _names(inner.exc.func) & RPC_ERRORS
                ):
                    found.append(f"line {inner.lineno}")
    return found


def test_refusals_mapped_by_hand_finds_one(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "try:\n    pass\nexcept domain.Refused as r:\n    raise Conflict(r.message)\n"
        "try:\n    pass\nexcept Refusal as r:\n    raise rpc_error(r) from r\n"
    )
    assert refusals_mapped_by_hand(probe) == ["line 4"]


def test_refusals_become_rpc_errors_only_through_the_one_mapping():
    offenders = {
        str(path.relative_to(ROOT)): refusals_mapped_by_hand(path)
        for folder in ("services", "gateway")
        for path in python_files(folder)
    }
    found = {path: lines for path, lines in offenders.items() if lines}
    assert found == {}
