"""The transactional outbox (docs/design.md, section 7).

`emit(session, ...)` writes an event into the `outbox` table in the same transaction as the
change it reports. `OutboxRelay`, a dependency of every service that emits, publishes the
unsent rows with publisher confirms to the service's Nameko event exchange (`<service>.events`,
routing key = event type) and marks them sent. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so several instances of a service never publish the same row twice;
a crash between publishing and marking re-publishes on restart (at-least-once), which
consumers absorb by remembering `event_id`s.

When the relay runs (issue 20): a commit with events in its own process wakes it at once
(`Database.wake_after_commit`), and so does the NOTIFY (below) of a commit made on another of
its engines outside the workers (the calendar, the billing runner); a commit in another process
(another instance of the service, a script) reaches it by PostgreSQL's `NOTIFY outbox,
'<producer>'`, sent by a statement trigger on the outbox (servicekit/migrations.py) when that
transaction commits, and the relay looks `FOREIGN_DELAY` later (that process's own relay
normally has them by then: the relay only covers for one that died). A poll every
`OUTBOX_POLL_INTERVAL` (5 s) stays as the net under a lost notification or a LISTEN connection
being re-made. A batch shorter than the batch size means the outbox is drained: the relay waits
instead of asking again at once.
"""

import json
import logging
import time
import uuid
from datetime import UTC, datetime

import amqp
import eventlet
from amqp import spec
from eventlet.event import Event
from eventlet.hubs import trampoline
from kombu import Connection, Exchange, Producer
from nameko.extensions import DependencyProvider
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from servicekit import config
from servicekit.db import (
    EVENTS_RECORDED,
    Database,
    make_engine,
    own_backends,
    process_backends,
)
from servicekit.faults import crash_point
from servicekit.rpc import gather_writes

log = logging.getLogger(__name__)

# Shared by every service's Alembic history (each creates these tables in its own database).
metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("handler", String(200), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


# The channel the outbox's trigger notifies at commit, with the rows' producer as payload.
NOTIFY_CHANNEL = "outbox"
NOTIFY_TRIGGER_DDL = (
    "CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " PERFORM pg_notify('outbox', producer)"  # NOTIFY_CHANNEL
    " FROM (SELECT DISTINCT body->>'producer' AS producer FROM inserted) AS producers;"
    " RETURN NULL;"
    " END $$",
    "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS inserted"
    " FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()",
)
DROP_NOTIFY_TRIGGER_DDL = (
    "DROP TRIGGER outbox_notify ON outbox",
    "DROP FUNCTION outbox_notify()",
)


def events_exchange(service: str) -> Exchange:
    # must match nameko.events.get_event_exchange, or RabbitMQ refuses the redeclaration
    return Exchange(f"{service}.events", type="topic", durable=True, delivery_mode=2)


def envelope(
    event_type: str, data: dict, producer: str, version: int = 1, correlation_id: str | None = None
) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": version,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "producer": producer,
        "correlation_id": correlation_id,
        "data": data,
    }


# built once: every event of every service goes through it (a statement built per call, with
# its values, cost more than its execution on opening day's hot path, issue 20)
_RECORD = insert(outbox).values(
    {
        name: bindparam(name, type_=outbox.c[name].type)
        for name in ("event_id", "type", "version", "body")
    }  # fmt: skip
)


def emit(session, event_type: str, data: dict, version: int = 1) -> dict:
    """Record an event to be published once the surrounding transaction commits."""
    body = envelope(
        event_type, data, session.info["producer"], version, session.info.get("correlation_id")
    )
    session.execute(
        _RECORD, {"event_id": uuid.UUID(body["event_id"]), "type": event_type,
                  "version": version, "body": body},
    )  # fmt: skip
    session.info[EVENTS_RECORDED] = True
    return body


class OutboxPublisher:
    """Publishes envelopes to their producer's event exchange, every one confirmed by the
    broker. `publish_all` sends a whole batch and then waits once for its confirms (the
    channel is in confirm mode and counts delivery tags), instead of one round trip per
    message: a billing batch's hundreds of events used to wait for each confirm in turn."""

    CONFIRM_TIMEOUT = 10.0

    def __init__(self, service: str, amqp_uri: str | None = None):
        self.service = service
        self.amqp_uri = amqp_uri or config.amqp_uri()
        self.connection = None
        self.producer = None
        self.declared: set[str] = set()
        self._unconfirmed: set[int] = set()
        self._nacked = False
        self._tag = 0

    def _connect(self):
        self.connection = Connection(self.amqp_uri)
        self.connection.ensure_connection(max_retries=3)
        channel = self.connection.channel()
        channel.confirm_select()
        # a batch's frames go to the socket in one write, not one per event (the flush runs
        # when the relay waits for the confirms)
        gather_writes(self.connection.connection)
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.producer = Producer(channel)
        self.declared = set()
        self._unconfirmed, self._nacked, self._tag = set(), False, 0

    def _settle(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked = True
        self._settle(delivery_tag, multiple)

    def _exchange(self, producer: str):
        exchange = events_exchange(producer)
        if producer not in self.declared:
            exchange(self.producer.channel).declare()
            self.declared.add(producer)
        return exchange

    def _send(self, body: dict) -> None:
        # straight onto the channel: kombu's Producer.publish rebuilt a message, its headers
        # and its serializer lookup per event, a third of the relay's time in a billing batch
        # and as the Basic.Publish method itself: amqp's basic_publish first tries a read of
        # what the broker may have said (a "connection blocked"), a system call per event;
        # whatever it said is read while the relay waits for the batch's confirms
        self.producer.channel.send_method(
            spec.Basic.Publish,
            "Bssbb",
            (0, self._exchange(body.get("producer") or self.service).name, body["type"], False,
             False),
            amqp.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=body["event_id"],
                # nameko turns these headers into the consumer's context data
                application_headers={"nameko.correlation_id": body.get("correlation_id") or ""},
            ),
        )  # fmt: skip
        self._tag += 1  # the channel numbers its publishes from 1 once in confirm mode
        self._unconfirmed.add(self._tag)

    def _wait_for_confirms(self) -> None:
        deadline = time.monotonic() + self.CONFIRM_TIMEOUT
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._unconfirmed)} events not confirmed by the broker")
            try:
                self.connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if self._nacked:
            raise RuntimeError("the broker refused (nacked) an event; the batch is sent again")

    def publish_all(self, bodies: list[dict]) -> None:
        """Every envelope published and confirmed, or an exception (nothing is then marked
        sent, and the batch is sent again: consumers drop the duplicates by event_id)."""
        if self.producer is None:
            self._connect()
        try:
            for body in bodies:
                self._send(body)
            self._wait_for_confirms()
        except Exception:
            self.close()
            raise

    def publish(self, body: dict) -> None:
        self.publish_all([body])

    def close(self):
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.connection = self.producer = None


BATCH_SIZE = 200

# The relay's connections walk the unsent rows' partial index in id order. PostgreSQL's planner
# preferred a bitmap scan of it and a sort, which reads every entry the index still holds:
# each row marked sent leaves one (an update of `published_at` is never HOT, the index's
# predicate reads it) until a vacuum, so each batch read all that were published since, 30,000
# after an opening day's certificates were prepared (1.2 ms of the server's time per batch
# for 2,700). An index scan stops at the batch's last row and marks the dead entries it
# passes, so the next scan skips them: 0.07 ms.
CLAIM_PLAN = {"options": "-c enable_bitmapscan=off -c enable_seqscan=off"}


def claim(batch_size: int = BATCH_SIZE):
    """The oldest unsent rows, locked past any another relay holds, marked sent."""
    return (
        update(outbox)
        .where(
            outbox.c.id.in_(
                select(outbox.c.id)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
        )
        .values(published_at=func.now())
        .returning(outbox.c.id, outbox.c.body)
    )


def relay_batch(engine, publisher: OutboxPublisher, batch_size: int = BATCH_SIZE) -> int:
    """Publish one batch of unsent rows; returns how many were published.

    One statement claims the batch and marks it sent (`UPDATE ... RETURNING` over the oldest
    unsent rows, locked with `SKIP LOCKED`), then the batch is published and the transaction
    commits only once the broker confirmed every event: a publish that fails rolls the mark
    back, and a crash before the commit leaves the rows unsent (sent again: at least once).
    A claim and a mark used to be two statements, a round trip more per batch; and each
    database is one service's own, so no filter on the producer's JSON field is needed (the
    publisher still routes each event to its own producer's exchange)."""
    with engine.begin() as conn:
        rows = conn.execute(claim(batch_size)).all()
        if not rows:
            return 0
        publisher.publish_all([row.body for row in sorted(rows, key=lambda row: row.id)])
        crash_point("after_publish_before_mark")
    return len(rows)


class OutboxRelay(DependencyProvider):
    """Runs the relay loop inside the service's container; the service's `Database` wakes it
    after a commit that recorded events, PostgreSQL's NOTIFY after another process's."""

    # after another process's commit: its own relay publishes first, this one only checks
    FOREIGN_DELAY = 1.0

    def __init__(self, poll_interval: float | None = None, database: str | None = None):
        self.poll_interval = poll_interval
        self.database = database
        self._wakeup = Event()
        self._running = False
        self._foreign_check = None

    def setup(self):
        self.service = self.container.service_name
        if self.poll_interval is None:
            self.poll_interval = float(config.env("OUTBOX_POLL_INTERVAL", "5"))
        self.engine = make_engine(
            self.database or self.service, pool_size=1, max_overflow=1, connect_args=CLAIM_PLAN
        )
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                dependency.wake_after_commit(self.wake)
        from nameko import config as nameko_config

        self.publisher = OutboxPublisher(self.service, nameko_config.get("AMQP_URI"))

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="outbox_relay")
        self.container.spawn_managed_thread(self._listen, identifier="outbox_listener")

    def stop(self):
        self._running = False
        self.wake()

    def kill(self):
        self.stop()

    def wake(self):
        if not self._wakeup.ready():
            self._wakeup.send(True)

    def _wake_later(self):
        if self._foreign_check is None:
            self._foreign_check = eventlet.spawn_after(self.FOREIGN_DELAY, self._foreign_due)

    def _foreign_due(self):
        self._foreign_check = None
        self.wake()

    def _run(self):
        failures = 0
        while self._running:
            self._wakeup = Event()  # a wake from now on runs one more batch
            try:
                published = relay_batch(self.engine, self.publisher)
                failures = 0
            except Exception:  # noqa: BLE001 - the relay must outlive a broker or db hiccup
                failures += 1
                log.exception("outbox relay of %s failed (attempt %d)", self.service, failures)
                eventlet.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if published >= BATCH_SIZE:
                continue  # a full batch: drain the backlog before sleeping
            with eventlet.Timeout(self.poll_interval, False):
                self._wakeup.wait()
        self.publisher.close()
        self.engine.dispose()

    def _listen(self):
        """LISTEN on the outbox's channel; wake the relay for another process's commits of
        this service's events. Re-made after a failure; the poll covers the gap."""
        failures = 0
        while self._running:
            connection = None
            try:
                connection = self.engine.raw_connection()
                connection.detach()  # its own: never lent back to the pool while listening
                dbapi = connection.dbapi_connection
                dbapi.autocommit = True
                cursor = dbapi.cursor()
                cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
                cursor.close()
                failures = 0
                self.wake()  # whatever was committed before LISTEN took effect
                while self._running:
                    try:
                        trampoline(dbapi.fileno(), read=True, timeout=self.poll_interval)
                    except eventlet.Timeout:
                        continue
                    dbapi.poll()
                    local = foreign = False
                    while dbapi.notifies:
                        notify = dbapi.notifies.pop(0)
                        if notify.payload != self.service or notify.pid in own_backends:
                            continue  # another service's, or a worker's (woken already)
                        if notify.pid in process_backends:
                            local = True  # the calendar's, a runner's: nobody else relays it
                        else:
                            foreign = True
                    if local:
                        self.wake()
                    elif foreign:
                        self._wake_later()
            except Exception:  # noqa: BLE001 - a dropped connection: the poll covers the gap
                failures += 1
                log.warning("outbox listener of %s failed (attempt %d)", self.service, failures,
                            exc_info=True)  # fmt: skip
                eventlet.sleep(min(30.0, 0.5 * 2**failures))
            finally:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection
                        pass

    def get_dependency(self, worker_ctx):
        return self


def emit_many(session, event_type: str, datas: list[dict], version: int = 1) -> list[dict]:
    """`emit` for many events of one type in one statement (a billing batch posts hundreds)."""
    if not datas:
        return []
    from psycopg2.extras import Json

    from servicekit.db import insert_rows

    producer, correlation_id = session.info["producer"], session.info.get("correlation_id")
    bodies = [envelope(event_type, data, producer, version, correlation_id) for data in datas]
    insert_rows(
        session,
        outbox,
        [{"event_id": b["event_id"], "type": event_type, "version": version, "body": Json(b)}
         for b in bodies],
    )  # fmt: skip
    session.info[EVENTS_RECORDED] = True
    return bodies
