"""Loads a region's organizations, programs and groups into the catalog database. deploy/seed.py
calls it with the demo region (`make seed`, `make run`): the data is the caller's, the
catalog only knows how to load it.

Bulk-loaded with COPY, then the search rows are built in one statement: a few seconds.
"""

import csv
import io
import json
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from servicekit.db import make_engine
from services.catalog import domain, search

# a new region replaces these (enrollment clears its own: services/enrollment/seed.py)
TABLES = "search_rows, search_programs, search_words, study_groups, programs, organizations"

ORGANIZATION_COLUMNS = (
    "id", "name", "inn", "municipality_code", "address", "phone", "email", "website", "status",
    "lat", "lon",
)  # fmt: skip
PROGRAM_COLUMNS = (
    "id", "organization_id", "title", "description", "direction", "level", "min_age",
    "max_age", "format", "adapted", "registry", "payment_type", "certified", "status",
)  # fmt: skip
GROUP_COLUMNS = (
    "id", "program_id", "name", "teacher", "address", "lat", "lon", "schedule", "start_date",
    "end_date", "min_age", "max_age", "capacity", "held", "enrolled", "price_kopecks",
    "normative_cost_kopecks", "monthly_price_kopecks", "enrollment_open",
)  # fmt: skip


def _copy(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
    buffer.seek(0)
    cursor.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
    )


def _programs(region):
    for program in region.programs:
        yield {
            **program,
            "payment_type": domain.program_payment_type(program["registry"], program["certified"]),
        }


def _groups(region):
    for group in region.groups:
        yield {
            **group,
            "schedule": json.dumps(group["schedule"]),
            "held": 0,
            "enrolled": 0,
            "monthly_price_kopecks": domain.monthly_price_kopecks(
                group["price_kopecks"], group["start_date"], group["end_date"]
            ),
        }


def load(make_region: Callable, if_empty: bool = False) -> str:
    """Replace whatever the catalog holds with the region `make_region()` makes (plain dicts with
    ids 1..N: `.organizations`, `.programs`, `.groups`, as deploy/demo_region.py's); with
    `if_empty`, a catalog that holds organizations is left alone (nothing is made)."""
    engine = make_engine("catalog")
    try:
        with engine.begin() as conn:
            if if_empty and conn.exec_driver_sql("SELECT 1 FROM organizations LIMIT 1").first():
                return "catalog: not empty, left as it is"
            started = time.perf_counter()
            region = make_region()
            conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY")
            cursor = conn.connection.cursor()
            _copy(cursor, "organizations", ORGANIZATION_COLUMNS, region.organizations)
            _copy(cursor, "programs", PROGRAM_COLUMNS, _programs(region))
            _copy(cursor, "study_groups", GROUP_COLUMNS, _groups(region))
            for table in ("organizations", "programs", "study_groups"):  # constants only
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            search.refresh_all(Session(bind=conn))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # fresh statistics for the planner
        elapsed = time.perf_counter() - started
        return (
            f"catalog: {len(region.organizations)} organizations, {len(region.programs)} "
            f"programs, {len(region.groups)} groups in {elapsed:.1f} s"
        )
    finally:
        engine.dispose()
