"""A benchmark wipes only databases it created itself and named as a benchmark's: a running
system's databases, a URL given outright and production are refused before anything changes
(bench/databases.py)."""

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from bench import databases
from servicekit import config, migrate
from tests.conftest import RUN_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def names(server_urls, monkeypatch):
    """Database names of this test for every owner, none of them existing yet; dropped after."""
    tag = f"{RUN_ID}_{uuid.uuid4().hex[:6]}"
    chosen = {}
    for owner in config.DATABASE_OWNERS:
        monkeypatch.delenv(f"{owner.upper()}_DATABASE_URL", raising=False)
        chosen[owner] = f"navigator_bench_{tag}_{owner}"
        monkeypatch.setenv(f"{owner.upper()}_DATABASE_NAME", chosen[owner])
    monkeypatch.setenv("DATABASE_URL", server_urls["database"])
    monkeypatch.delenv("NAVIGATOR_ENV", raising=False)
    monkeypatch.delenv(databases.OVERRIDE, raising=False)
    yield chosen
    for owner in chosen:
        migrate.drop_database(config.database_url(owner))


def someones_data(url: str) -> None:
    """A database made the way `make migrate` makes one, with a row in it."""
    migrate.create_database(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE precious (id int)"))
        conn.execute(sa.text("INSERT INTO precious VALUES (42)"))
    engine.dispose()


def rows(url: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id FROM precious")).scalars().all()
    engine.dispose()
    return found


def test_databases_a_benchmark_created_are_marked_and_claimed_again(names):
    urls = databases.claim()
    assert set(urls) == set(config.DATABASE_OWNERS)
    assert all(databases.state(url) == "marked" for url in urls.values())
    databases.recreate(urls["catalog"])
    assert databases.claim() == urls


def test_a_database_the_benchmark_did_not_create_is_refused_and_kept(names):
    catalog = config.database_url("catalog")
    someones_data(catalog)
    with pytest.raises(databases.Refused, match="was not created by a benchmark"):
        databases.claim()
    assert rows(catalog) == [42]
    # nothing else was created either: the check comes before any change
    assert databases.state(config.database_url("payments")) == "missing"


def test_names_not_marked_as_a_benchmarks_and_explicit_urls_are_refused(names, monkeypatch):
    monkeypatch.setenv("CATALOG_DATABASE_NAME", f"navigator_{RUN_ID}_catalog")
    with pytest.raises(databases.Refused, match="is not named navigator_bench_"):
        databases.claim()
    monkeypatch.setenv("CATALOG_DATABASE_NAME", names["catalog"])
    monkeypatch.setenv(
        "PAYMENTS_DATABASE_URL", "postgresql://postgres@127.0.0.1/navigator_payments"
    )
    with pytest.raises(databases.Refused, match="PAYMENTS_DATABASE_URL is set"):
        databases.claim()
    assert databases.state(config.database_url("catalog")) == "missing"


def test_production_is_refused_even_for_the_brave(names, monkeypatch):
    monkeypatch.setenv("NAVIGATOR_ENV", "production")
    monkeypatch.setenv(databases.OVERRIDE, "yes")
    with pytest.raises(databases.Refused, match="production"):
        databases.claim()


def test_the_override_lets_the_brave_wipe_a_foreign_database(names, monkeypatch):
    someones_data(config.database_url("catalog"))
    monkeypatch.setenv(databases.OVERRIDE, "yes")
    assert set(databases.claim()) == set(config.DATABASE_OWNERS)


@pytest.mark.parametrize("module", ["bench.opening_day", "bench.billing"])
def test_the_benchmarks_refuse_a_database_they_did_not_create(names, module):
    """As a person would run it: `make bench-*` with the names of a database that holds data."""
    catalog = config.database_url("catalog")
    someones_data(catalog)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "benchmark refused" in done.stderr and names["catalog"] in done.stderr
    assert rows(catalog) == [42]
