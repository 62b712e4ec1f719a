"""The service database pool: a connection is tested only after it sat idle, a dead one is
replaced before a worker sees it, and a read-only session runs without a transaction."""

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from servicekit import db

pytestmark = pytest.mark.servers


@pytest.fixture
def engine(probe_database):
    engine = db.make_engine("probe", pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def _terminate(probe_database, pid: int) -> None:
    import sqlalchemy as sa

    other = sa.create_engine(probe_database)
    with other.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    other.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_unseen(
    engine, probe_database, monkeypatch
):
    pid = _backend_pid(engine)
    _terminate(probe_database, pid)  # e.g. PostgreSQL restarted while the pool was idle
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(engine) != pid  # no error: the pool tested it and reconnected


def test_a_connection_in_steady_use_is_not_pinged(engine, probe_database, monkeypatch):
    pid = _backend_pid(engine)
    _terminate(probe_database, pid)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    # not tested, so the dead connection surfaces (and the pool then drops it)
    with pytest.raises(Exception, match="terminat|closed|connection"):
        _backend_pid(engine)
    assert _backend_pid(engine) != pid


def test_read_only_session_has_no_transaction_and_the_pool_gets_it_back_reset(engine):
    with Session(engine) as session:
        db.read_only(session)
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi.autocommit is True
        # each statement is its own transaction: nothing stays open between them
        first = session.execute(text("SELECT txid_current()")).scalar()
        second = session.execute(text("SELECT txid_current()")).scalar()
        assert second != first
        session.commit()
    with Session(engine) as session:
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi.autocommit is False
        first = session.execute(text("SELECT txid_current()")).scalar()
        assert session.execute(text("SELECT txid_current()")).scalar() == first
