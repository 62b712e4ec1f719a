"""Statements prepared once per pooled connection (servicekit.prepared): planned once and
reused, bounded per connection, re-prepared when the server forgot them, each value meaning
what it meant as plain text, and off with PREPARED_STATEMENTS=0."""

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from servicekit import db, prepared

pytestmark = pytest.mark.servers

SQL = "SELECT %(a)s + 1, %(b)s || '!', %(a)s * 2"


@pytest.fixture
def engine(probe_database):
    engine = db.make_engine("probe", pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _held(session) -> list[tuple]:
    """The statements the server holds for this session's connection: (name, executions)."""
    rows = session.execute(
        text(
            "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE 'ps\\_%' ORDER BY name"
        )
    )
    return [tuple(row) for row in rows]


def test_a_statement_is_prepared_once_per_connection_and_reused(engine):
    for a in (1, 2, 3):
        with Session(engine) as session:  # one pooled connection, lent three times
            db.read_only(session)
            rows = prepared.fetchall(session.connection().connection, SQL, {"a": a, "b": "x"})
            assert rows == [(a + 1, "x!", a * 2)]
    with Session(engine) as session:
        [(name, runs)] = _held(session)
        assert runs == 3
    engine.dispose()  # a new connection knows nothing, and prepares again
    with Session(engine) as session:
        prepared.fetchall(session.connection().connection, SQL, {"a": 5, "b": "y"})
        assert _held(session) == [(name, 1)]


def test_values_mean_what_they_meant_as_literals(engine):
    with Session(engine) as session:
        pooled = session.connection().connection
        sql = "SELECT CAST(2 AS smallint) <= %(v)s, %(v)s"
        # not squeezed into the column's type: a large int, a fraction of a Decimal
        assert prepared.fetchall(pooled, sql, {"v": 70000}) == [(True, 70000)]
        assert prepared.fetchall(pooled, sql, {"v": Decimal("1.5")}) == [(False, Decimal("1.5"))]
        assert prepared.fetchall(pooled, sql, {"v": 2.25}) == [(True, 2.25)]
        quote = "it's a \\ 'test'; DROP TABLE x --"
        assert prepared.fetchall(pooled, "SELECT %(s)s", {"s": quote}) == [(quote,)]
        # an int, a Decimal and a float are three statements, not one
        assert len(_held(session)) == 4


def test_a_type_it_does_not_know_goes_as_plain_text(engine):
    with Session(engine) as session:
        pooled = session.connection().connection
        rows = prepared.fetchall(pooled, "SELECT %(v)s, %(w)s", {"v": None, "w": [1, 2]})
        assert rows == [(None, [1, 2])]
        assert _held(session) == []


def test_a_connection_keeps_at_most_so_many_and_forgets_the_least_recently_used(
    engine, monkeypatch
):
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", 3)
    with Session(engine) as session:
        db.read_only(session)
        pooled = session.connection().connection
        for n in (1, 2, 3, 1, 4):  # 1 used again, so 2 is the least recently used
            assert prepared.fetchall(pooled, f"SELECT {n} + %(a)s", {"a": 1}) == [(n + 1,)]
        held = pooled.info[prepared._INFO_KEY]
        assert [sql for sql, _ in held] == [
            "SELECT 3 + %(a)s",
            "SELECT 1 + %(a)s",
            "SELECT 4 + %(a)s",
        ]
        assert sorted(name for name, _ in _held(session)) == sorted(held.values())


def test_a_statement_the_server_forgot_is_prepared_again(engine):
    with Session(engine) as session:
        db.read_only(session)
        pooled = session.connection().connection
        prepared.fetchall(pooled, SQL, {"a": 1, "b": "x"})
        session.execute(text("DEALLOCATE ALL"))  # e.g. a pooler gave another server connection
        assert prepared.fetchall(pooled, SQL, {"a": 2, "b": "y"}) == [(3, "y!", 4)]
        assert len(_held(session)) == 1
    # inside a transaction the failed EXECUTE aborted it: the error shows, the next one works
    with Session(engine) as session:
        pooled = session.connection().connection
        session.execute(text("DEALLOCATE ALL"))
        with pytest.raises(Exception, match="does not exist"):
            prepared.fetchall(pooled, SQL, {"a": 2, "b": "y"})
        session.rollback()
        pooled = session.connection().connection
        assert prepared.fetchall(pooled, SQL, {"a": 3, "b": "z"}) == [(4, "z!", 6)]


def test_prepared_statements_can_be_turned_off(engine, monkeypatch):
    monkeypatch.setenv("PREPARED_STATEMENTS", "0")
    with Session(engine) as session:
        pooled = session.connection().connection
        assert prepared.fetchall(pooled, SQL, {"a": 1, "b": "x"}) == [(2, "x!", 2)]
        assert _held(session) == []


def test_the_generic_plan_is_used_from_the_first_run(engine):
    # PostgreSQL's default would plan the first five runs for their values
    with Session(engine) as session:
        db.read_only(session)
        pooled = session.connection().connection
        for a in range(3):
            prepared.fetchall(pooled, SQL, {"a": a, "b": "x"})
        counts = session.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE name LIKE 'ps\\_%'"
            )
        ).all()
        assert [tuple(row) for row in counts] == [(3, 0)]
