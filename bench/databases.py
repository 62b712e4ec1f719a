"""The databases a benchmark may wipe: only those it created itself, named as a benchmark's.

bench-billing truncates payments' and certificates' tables, bench-opening-day drops and
recreates every database. Before either touches anything, `claim()` checks every owner's
database and refuses the run (nothing changed) when:

- NAVIGATOR_ENV is production (no override);
- a `<SERVICE>_DATABASE_URL` is set (it wins over the name and may point anywhere);
- a database name does not start with `navigator_bench`;
- a database of that name exists but carries no mark of a benchmark (the comment written
  when a benchmark created it): it is someone's data.

BENCH_ALLOW_FOREIGN_DATABASES=yes lifts the last three for whoever means it; production stays
refused.
"""

import os

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from servicekit import config, migrate

PREFIX = "navigator_bench"
MARK = "navigator benchmark database: may be wiped by make bench-*"
OVERRIDE = "BENCH_ALLOW_FOREIGN_DATABASES"


class Refused(SystemExit):
    """A benchmark would touch a database that is not its own (exit status 2 with the reason)."""

    def __init__(self, reason: str):
        super().__init__(f"benchmark refused: {reason}")


def _admin(url: str):
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def mark(url: str) -> None:
    """Write the benchmark's mark on the database of `url`."""
    target = make_url(url)
    engine = _admin(url)
    try:
        with engine.connect() as conn:
            literal = MARK.replace("'", "''")
            conn.execute(sa.text(f"COMMENT ON DATABASE \"{target.database}\" IS '{literal}'"))
    finally:
        engine.dispose()


def state(url: str) -> str:
    """'missing', 'marked' (a benchmark created it) or 'foreign'."""
    target = make_url(url)
    engine = _admin(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                    "WHERE datname = :name"
                ),
                {"name": target.database},
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return "missing"
    return "marked" if row[0] == MARK else "foreign"


def claim(owners=config.DATABASE_OWNERS) -> dict[str, str]:
    """Every owner's database URL, each created and marked if missing, once all of them are
    shown to be a benchmark's own; raises Refused (changing nothing) otherwise."""
    if config.is_production():
        raise Refused("NAVIGATOR_ENV is production; benchmarks never run there")
    brave = os.environ.get(OVERRIDE, "").lower() in ("1", "yes", "true")
    urls = {owner: config.database_url(owner) for owner in owners}
    if not brave:
        problems = []
        for owner, url in urls.items():
            variable = f"{owner.upper()}_DATABASE_URL"
            name = make_url(url).database or ""
            if os.environ.get(variable):
                problems.append(f"{variable} is set: name the database with "
                                f"{owner.upper()}_DATABASE_NAME={PREFIX}_... instead")  # fmt: skip
            elif not name.startswith(PREFIX):
                problems.append(f"{name} ({owner}) is not named {PREFIX}_...")
            elif state(url) == "foreign":
                problems.append(f"{name} ({owner}) exists and was not created by a benchmark")
        if problems:
            raise Refused(
                "; ".join(problems) + f". The benchmark wipes these databases; set "
                f"{OVERRIDE}=yes to let it wipe them anyway"
            )
    for url in urls.values():
        if migrate.create_database(url):
            mark(url)
    return urls


def recreate(url: str) -> None:
    """Drop and create a database claimed above, keeping the mark."""
    migrate.drop_database(url)
    migrate.create_database(url)
    mark(url)
