"""A crash after the business commit and before publishing loses no event and duplicates none."""

import uuid

from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy import func, select

from servicekit.outbox import outbox
from tests.support.amqp import PlainSubscriber
from tests.support.probe_service import facts
from tests.support.system import ServiceProcess, base_env

PROBE = "tests.support.probe_service:ProbeService"


def test_event_committed_before_a_crash_is_published_exactly_once_after_restart(
    vhost, nameko_config, probe_engine, tmp_path
):
    subscriber = PlainSubscriber(vhost, "probe", "fact_recorded", f"crash-{uuid.uuid4().hex[:6]}")
    env = base_env(vhost)
    probe = ServiceProcess("probe", PROBE, env, tmp_path)
    try:
        probe.start({"NAVIGATOR_CRASH_AT": "after_commit"})
        with ClusterRpcClient() as client:
            _wait_for_rpc_consumer(client, probe)
            client.probe.record_fact.call_async("crash-1", "survives a crash")
            assert probe.wait_exit(timeout=20) == 137, probe.log()

            with probe_engine.connect() as conn:  # committed, not yet published
                assert conn.execute(select(func.count()).select_from(facts)).scalar() == 1
                assert (
                    conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.published_at.is_(None))
                    ).scalar()
                    == 1
                )
            assert subscriber.collect(expected=1, timeout=1) == []

            probe.start()  # restarted without the fault

            events = subscriber.collect(expected=1, timeout=20, quiet=3)
        assert [e["data"]["text"] for e in events] == ["survives a crash"], probe.log()
        with probe_engine.connect() as conn:
            # the redelivered RPC request did not record the fact a second time
            assert conn.execute(select(func.count()).select_from(facts)).scalar() == 1
    finally:
        probe.stop()
        subscriber.close()


def _wait_for_rpc_consumer(client, process, timeout: float = 30):
    """Ping until the process answers; each ping has its own deadline (the queue may exist
    from an earlier test with nobody consuming it, and nameko's RPC would wait forever)."""
    import time

    import eventlet
    from nameko.exceptions import UnknownService

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with eventlet.Timeout(1):
                client.probe.ping()
            return
        except (UnknownService, eventlet.Timeout):
            time.sleep(0.2)
    raise AssertionError("probe service did not start:\n" + process.log()[-3000:])
