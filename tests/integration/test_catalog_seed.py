"""The demo region loads into a freshly migrated catalog database, and is then left alone."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from servicekit import config, migrate
from tests.conftest import RUN_ID

pytestmark = pytest.mark.servers


@pytest.fixture
def fresh_catalog(server_urls):
    url = config.with_driver(f"{server_urls['database']}/navtest_{RUN_ID}_catalog_seed")
    migrate.create_database(url)
    migrate.upgrade("catalog", url)
    yield url
    migrate.drop_database(url)


def seed(url: str, *args: str) -> str:
    """The catalog's seed as make run calls it, through `python -m deploy.seed` (COPY needs
    the plain driver, not the green one of the test process)."""
    done = subprocess.run(
        [sys.executable, "-m", "deploy.seed", "--only", "catalog", *args],
        env={**os.environ, "CATALOG_DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_demo_region_loads_into_a_fresh_database(fresh_catalog):
    assert seed(fresh_catalog, "--if-empty").startswith("catalog: 1500 organizations")
    assert seed(fresh_catalog, "--if-empty") == "catalog: not empty, left as it is"
    engine = sa.create_engine(fresh_catalog)
    with engine.connect() as conn:
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM study_groups), (SELECT count(*) FROM search_rows)"
            )
        ).one()
    engine.dispose()
    assert counts[0] == 25000 and counts[1] > 0
