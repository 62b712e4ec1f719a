"""A SQLAlchemy 2 session per Nameko worker: committed when the entrypoint method returns,
rolled back when it raises, and always before the RPC reply or the message ack is sent.

It knows nothing of the outbox: `servicekit.outbox` marks a session that recorded events
(`EVENTS_RECORDED`) and its relay asks to be woken after such a commit (`wake_after_commit`).
Imports go one way, outbox -> db."""

import logging
from functools import wraps

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from servicekit import config
from servicekit.faults import crash_point

log = logging.getLogger(__name__)

# session.info key set by whoever records events in the transaction (servicekit.outbox.emit)
EVENTS_RECORDED = "emitted"


def make_engine(service: str, **kwargs):
    # as many kept connections as concurrent workers: a pool smaller than that closes its
    # overflow connections on return and opens new ones (a PostgreSQL fork each) under load
    workers = int(config.env("MAX_WORKERS", "20"))
    options = {
        "pool_size": workers,
        "max_overflow": 10,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }
    options.update(kwargs)
    return create_engine(config.database_url(service), **options)


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
