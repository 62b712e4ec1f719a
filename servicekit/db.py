"""A SQLAlchemy 2 session per Nameko worker: committed when the entrypoint method returns,
rolled back when it raises, and always before the RPC reply or the message ack is sent.

It knows nothing of the outbox: `servicekit.outbox` marks a session that recorded events
(`EVENTS_RECORDED`) and its relay asks to be woken after such a commit (`wake_after_commit`).
Imports go one way, outbox -> db."""

import logging
import time
from functools import wraps

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, exc, func, literal_column, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from servicekit import config
from servicekit.faults import crash_point

log = logging.getLogger(__name__)

# session.info key set by whoever records events in the transaction (servicekit.outbox.emit)
EVENTS_RECORDED = "emitted"


# PostgreSQL backend pids of the connections of this process's `Database` dependencies: a
# NOTIFY sent by one of them (its pid travels with it) is a worker's commit, whose relay
# `wake_after_commit` wakes in-process. Other engines of the process (the calendar, the
# billing runner, the mail sender) commit outside the workers: their NOTIFY is what wakes it
own_backends: set[int] = set()
# ...and of every engine of this process: a NOTIFY from one of these that is not a worker's
# is this process's own commit all the same, and wakes the relay at once
process_backends: set[int] = set()


def _remember_backend(dbapi_connection, record) -> None:
    record.info["backend_pid"] = dbapi_connection.info.backend_pid
    process_backends.add(record.info["backend_pid"])


def _forget_backend(dbapi_connection, record) -> None:
    process_backends.discard(record.info.get("backend_pid"))


def _remember_worker_backend(dbapi_connection, record) -> None:
    own_backends.add(dbapi_connection.info.backend_pid)


def _forget_worker_backend(dbapi_connection, record) -> None:
    own_backends.discard(record.info.get("backend_pid"))


# A connection back in the pool for longer than this is tested before it is lent again.
PING_AFTER_IDLE_SECONDS = 5.0


def make_engine(service: str, **kwargs):
    # as many kept connections as concurrent workers: a pool smaller than that closes its
    # overflow connections on return and opens new ones (a PostgreSQL fork each) under load
    workers = int(config.env("MAX_WORKERS", "20"))
    options = {"pool_size": workers, "max_overflow": 10, "pool_recycle": 1800}
    options.update(kwargs)
    ping = options.pop("pool_pre_ping", True)
    engine = create_engine(config.database_url(service), **options)
    if ping:
        _ping_idle_connections(engine)
    event.listen(engine, "checkin", _back_to_transactions)
    event.listen(engine, "connect", _remember_backend)
    event.listen(engine, "close", _forget_backend)
    return engine


def _back_to_transactions(dbapi_connection, record) -> None:
    # a connection lent to read_only() goes back to the pool in transaction mode
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def _ping_idle_connections(engine) -> None:
    """pool_pre_ping, but only for a connection that sat idle: SQLAlchemy's pings on every
    checkout, a PostgreSQL round trip per request. A connection in steady use has just proved
    itself; one that waited (through a database restart, say) is tested, and a dead one is
    replaced before anyone sees it (the pool retries on DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def lent(dbapi_connection, record, proxy):
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or in steady use
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()  # the ping's transaction, not the borrower's
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(str(error)) from error


def read_only(session: Session) -> Session:
    """Run the rest of this session's statements without a transaction: no BEGIN and COMMIT
    round trips to PostgreSQL. For entrypoints that only read and need no snapshot shared by
    their statements (the catalog search). Call it before the first statement.

    It sets the driver's autocommit flag directly: SQLAlchemy's AUTOCOMMIT isolation level
    costs more round trips under psycogreen than it saves (set_isolation_level), so the pool
    turns the flag back off when the connection returns (_back_to_transactions)."""
    connection = session.connection()
    engine = connection.engine
    if not event.contains(engine, "checkin", _back_to_transactions):
        event.listen(engine, "checkin", _back_to_transactions)
    connection.connection.dbapi_connection.autocommit = True
    return session


class Database(DependencyProvider):
    """Inject as `db = Database()`; the service's database is `config.database_url(service)`.

    Nameko sends an RPC reply (or acks an event) *before* dependencies see the worker's
    result, so committing there would let a caller read before the write is durable. Instead
    the entrypoint method is wrapped for the worker: commit happens when it returns.
    """

    def __init__(self, database: str | None = None, **engine_options):
        # `database`: whose database, when a service works on another's (enrollment on catalog's)
        self.database = database
        self.engine_options = engine_options
        self.engine = None
        self.sessions: dict = {}
        self.commit_listeners: list = []

    def setup(self):
        # green I/O for psycopg2 under eventlet; harmless to call twice
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
        self.engine = make_engine(
            self.database or self.container.service_name, **self.engine_options
        )
        event.listen(self.engine, "connect", _remember_worker_backend)
        event.listen(self.engine, "close", _forget_worker_backend)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    def wake_after_commit(self, listener) -> None:
        """Call `listener()` after every commit of a transaction that recorded events."""
        self.commit_listeners.append(listener)

    def stop(self):
        if self.engine is not None:
            self.engine.dispose()

    kill = stop  # nameko kills (not stops) containers in tests and on a second Ctrl-C

    def get_dependency(self, worker_ctx) -> Session:
        session = self.session_factory()
        session.info["producer"] = self.container.service_name
        session.info["correlation_id"] = (
            worker_ctx.context_data.get("correlation_id") or worker_ctx.call_id
        )
        self.sessions[worker_ctx] = session
        return session

    def worker_setup(self, worker_ctx):
        session = self.sessions[worker_ctx]
        service = worker_ctx.service
        method_name = worker_ctx.entrypoint.method_name
        method = getattr(service, method_name)

        @wraps(method)
        def committing(*args, **kwargs):
            result = method(*args, **kwargs)
            recorded = session.info.pop(EVENTS_RECORDED, False)
            if session.in_transaction():  # a call that touched no table has nothing to end
                session.commit()
            if recorded:
                crash_point("after_commit")  # committed with events, none published yet
                for listener in self.commit_listeners:
                    listener()
            return result

        # an instance attribute shadows the class method for this worker only
        setattr(service, method_name, committing)

    def worker_teardown(self, worker_ctx):
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()  # rolls back whatever was not committed

    def check(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1


def insert_rows(session: Session, table, rows: list[dict], suffix: str = "") -> None:
    """Many rows in one statement per thousand, in the session's transaction (psycopg2's
    execute_values): SQLAlchemy's executemany sent an ON CONFLICT insert row by row here,
    and a compiled multi-row VALUES costs more than the insert. `suffix`: e.g. ON CONFLICT.
    Values are adapted by psycopg2 (dicts for JSONB: wrap them in psycopg2.extras.Json)."""
    from psycopg2 import sql
    from psycopg2.extras import execute_values

    if not rows:
        return
    columns = list(rows[0])
    statement = sql.SQL("INSERT INTO {} ({}) VALUES %s ").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    ) + sql.SQL(suffix)
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        execute_values(
            cursor, statement, [tuple(r[c] for c in columns) for r in rows], page_size=1000
        )
    finally:
        cursor.close()


def inserted_once(session, table, **values) -> bool:
    """Insert the row unless one with its key stands: True when this statement inserted it.
    The first-time claims (an event handled, a notice announced) are this one statement; a
    concurrent insert of the same key waits for that transaction and then finds the row."""
    return (
        session.execute(
            insert(table).values(**values).on_conflict_do_nothing().returning(literal_column("1"))
        ).first()
        is not None
    )


def save_stamped(session: Session, model, key: dict, values: dict, by) -> None:
    """Insert or update the row of `model` whose unique columns are `key` (a municipality's
    settings, its normative) with `values`, stamped with who changed it (`updated_by`) and,
    on an update, when (`updated_at`; the column's default on an insert)."""
    session.execute(
        insert(model)
        .values(**key, **values, updated_by=by)
        .on_conflict_do_update(
            index_elements=list(key),
            set_={**values, "updated_by": by, "updated_at": func.now()},
        )
    )
