"""Reliable events: outbox, relay, retries, parking, replay, idempotent handlers."""

import time
import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from servicekit import parked, topology
from servicekit.errors import InvalidInput, NotFound
from servicekit.outbox import OutboxPublisher, emit, outbox, relay_batch
from tests.support.amqp import PlainSubscriber
from tests.support.probe_service import ProbeService, facts, handled, switches
from tests.support.waiting import wait_for


@pytest.fixture
def subscriber(vhost):
    sub = PlainSubscriber(vhost, "probe", "fact_recorded", f"integrator-{uuid.uuid4().hex[:6]}")
    yield sub
    sub.close()


@pytest.fixture
def probe_topology(vhost, monkeypatch):
    """The probe's handler queues, emptied: no test sees another test's leftovers."""
    from kombu import Connection

    from servicekit.events import failure_queues

    monkeypatch.setenv("EVENT_RETRY_DELAYS_MS", "200,400")
    bindings = topology.reliable_handlers(ProbeService)
    with Connection(vhost) as conn:
        channel = conn.channel()
        for binding in bindings:
            for queue in failure_queues(binding.queue, [200, 400]):
                queue(channel).delete()
            channel.queue_delete(binding.queue)
    topology.declare(bindings, vhost)
    return bindings


@pytest.fixture
def probe(nameko_config, probe_engine, probe_topology, container_factory):
    container = container_factory(ProbeService)
    container.start()
    with ClusterRpcClient() as client:
        yield client.probe


def test_committed_change_is_published_once_in_an_envelope(probe, subscriber, probe_engine):
    fact_id = probe.record_fact("req-1", "hello")

    [event] = subscriber.collect(expected=1, timeout=10, quiet=1)
    assert event["type"] == "fact_recorded"
    assert event["producer"] == "probe"
    assert event["version"] == 1
    assert event["data"] == {"fact_id": fact_id, "text": "hello"}
    assert event["occurred_at"].endswith("Z")
    uuid.UUID(event["event_id"])
    with probe_engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar()
            == 0
        )


def test_refused_change_publishes_nothing(probe, subscriber, probe_engine):
    with pytest.raises(InvalidInput) as refused:
        probe.record_fact("req-2", "")

    assert refused.value.fields == {"text": ["required"]}
    assert subscriber.collect(expected=1, timeout=1.5) == []
    with probe_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0


def test_write_is_committed_before_the_reply_is_sent(probe, probe_engine):
    fact_id = probe.record_fact("req-5", "durable")

    with probe_engine.connect() as conn:  # read right after the reply, from another connection
        assert conn.execute(select(facts.c.text).where(facts.c.id == fact_id)).scalar() == (
            "durable"
        )


def test_failing_entrypoint_leaves_no_write_and_no_event(probe, probe_engine, subscriber):
    from nameko.exceptions import RemoteError

    with pytest.raises(RemoteError):
        probe.record_fact_then_fail("req-6", "doomed")

    with probe_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(facts)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
    assert subscriber.collect(expected=1, timeout=1.5) == []


def test_errors_cross_rpc_as_their_own_type_with_code(probe):
    with pytest.raises(NotFound) as missing:
        probe.get_fact(424242)
    assert missing.value.code == "fact_not_found"
    assert missing.value.status == 404


def test_repeated_request_records_and_publishes_once(probe, subscriber):
    first = probe.record_fact("req-3", "once")
    second = probe.record_fact("req-3", "once")

    assert first == second
    assert len(subscriber.collect(expected=2, timeout=3)) == 1


def test_an_event_committed_elsewhere_wakes_the_relay_by_notify(
    nameko_config, probe_engine, probe_topology, container_factory, subscriber, monkeypatch
):
    """A commit outside the service's process (another instance, a script) reaches its relay
    by the outbox trigger's NOTIFY, long before the fallback poll would."""
    monkeypatch.setenv("OUTBOX_POLL_INTERVAL", "60")
    container = container_factory(ProbeService)
    container.start()
    eventlet.sleep(0.5)  # the relay's first batch and LISTEN are done

    started = time.monotonic()
    with Session(probe_engine, info={"producer": "probe"}) as session:
        emit(session, "fact_recorded", {"fact_id": 7, "text": "from a script"})
        emit(session, "fact_recorded", {"fact_id": 8, "text": "from a script"})
        session.commit()

    events = subscriber.collect(expected=2, timeout=10)
    assert sorted(event["data"]["fact_id"] for event in events) == [7, 8]
    assert time.monotonic() - started < 5, "published by the notify, not by a poll"


def test_an_event_the_process_commits_outside_its_workers_wakes_the_relay_at_once(
    nameko_config, probe_engine, probe_topology, container_factory, subscriber, monkeypatch
):
    """The calendar and the billing runner commit on engines of their own in the service's
    process, not through the workers' session that wakes the relay: their NOTIFY wakes it
    (it was taken for a worker's commit and left to the 60 s poll)."""
    from servicekit.db import make_engine

    monkeypatch.setenv("OUTBOX_POLL_INTERVAL", "60")
    container = container_factory(ProbeService)
    container.start()
    eventlet.sleep(0.5)  # the relay's first batch and LISTEN are done

    engine = make_engine("probe", pool_size=1, max_overflow=0)
    try:
        started = time.monotonic()
        with Session(engine, info={"producer": "probe"}) as session:
            emit(session, "fact_recorded", {"fact_id": 9, "text": "from the calendar"})
            session.commit()
        events = subscriber.collect(expected=1, timeout=10)
    finally:
        engine.dispose()
    assert [event["data"]["fact_id"] for event in events] == [9]
    assert time.monotonic() - started < 5, "published by the notify, not by a poll"


def test_two_relays_on_one_outbox_publish_no_row_twice(
    probe_engine, probe_topology, subscriber, vhost
):
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    with Session(probe_engine, info={"producer": "probe"}) as session:
        for n in range(600):
            emit(session, "fact_recorded", {"fact_id": n, "text": "bulk"})
        session.commit()

    import sqlalchemy as sa

    def drain(counts, index):
        engine = sa.create_engine(probe_engine.url)
        publisher = OutboxPublisher("probe", vhost)
        try:
            while True:
                published = relay_batch(engine, publisher, batch_size=25)
                if not published:
                    return
                counts[index] += published
                eventlet.sleep(0)
        finally:
            publisher.close()
            engine.dispose()

    counts = [0, 0]
    workers = [eventlet.spawn(drain, counts, i) for i in range(2)]
    for worker in workers:
        worker.wait()

    events = subscriber.collect(expected=600, timeout=20, quiet=1)
    ids = [event["event_id"] for event in events]
    assert len(ids) == 600
    assert len(set(ids)) == 600
    assert sum(counts) == 600
    assert min(counts) > 0, f"both relays should have taken part: {counts}"


def test_failing_handler_is_retried_then_parked_then_replayed(
    nameko_config, probe_engine, probe_topology, container_factory
):
    with probe_engine.begin() as conn:
        conn.execute(insert(switches).values(name="fail", on=True))
    container = container_factory(ProbeService)
    container.start()
    queue = probe_topology[0].queue + ".parked"

    with ClusterRpcClient() as client:
        fact_id = client.probe.record_fact("req-4", "fragile")

    [parked_event] = wait_for(lambda: parked.list_parked(queues=[queue]), timeout=15)
    assert parked_event["attempts"] == 3
    assert "the handler is broken" in parked_event["error"]
    with probe_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(handled)).scalar() == 0

    with probe_engine.begin() as conn:  # the operator fixes the fault
        conn.execute(update(switches).values(on=False))
    assert parked.replay(event_id=parked_event["event_id"], queues=[queue]) == 1

    wait_for(lambda: _handled(probe_engine) == [fact_id], timeout=10)
    assert parked.list_parked(queues=[queue]) == []
    time.sleep(0.5)
    assert _handled(probe_engine) == [fact_id]


def test_redelivered_event_is_handled_once(
    nameko_config, probe_engine, probe_topology, container_factory, vhost
):
    container = container_factory(ProbeService)
    container.start()
    with Session(probe_engine, info={"producer": "probe"}) as session:
        body = emit(session, "fact_recorded", {"fact_id": 7, "text": "twice"})
        session.commit()
    publisher = OutboxPublisher("probe", vhost)
    publisher.publish(body)
    publisher.publish(body)  # the relay crashed after publishing, before marking
    publisher.close()

    wait_for(lambda: _handled(probe_engine) == [7], timeout=10)
    time.sleep(1)
    assert _handled(probe_engine) == [7]


def _handled(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(handled.c.fact_id).order_by(handled.c.id)).scalars())


def test_the_relay_claims_by_walking_the_unsent_index_not_every_entry_it_holds(probe_engine):
    """Rows marked sent leave entries in the partial index until a vacuum; a bitmap scan of
    it read them all at every batch. The relay's connections take an index scan in id order,
    which stops at the batch's end and marks the dead entries it passes."""
    import sqlalchemy as sa

    from servicekit.db import make_engine
    from servicekit.outbox import CLAIM_PLAN, claim

    with Session(probe_engine, info={"producer": "probe"}) as session:
        for n in range(3000):
            emit(session, "fact_recorded", {"fact_id": n, "text": "old"})
        session.commit()
    with probe_engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id % 1000 != 0).values(published_at=func.now()))
    # no ANALYZE since (autovacuum is off here): a plain connection plans a bitmap scan
    statement = claim().compile(probe_engine, compile_kwargs={"literal_binds": True})
    relay = make_engine("probe", pool_size=1, max_overflow=0, connect_args=CLAIM_PLAN)
    try:
        with relay.connect() as conn:
            plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {statement}")).scalars())
    finally:
        relay.dispose()
    assert "Index Scan using ix_outbox_unpublished" in plan, plan
    assert "Bitmap" not in plan, plan
