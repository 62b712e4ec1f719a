"""The calendar: jobs run by the business clock under a lease, so one instance of a service
runs a job at a time, and its timer runs them without an operator."""

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from servicekit import calendar, clock

pytestmark = pytest.mark.servers


def test_a_job_sees_the_business_clock(probe_database):
    engine = sa.create_engine(probe_database)
    seen = []
    job = calendar.Job("note", lambda sessions, now: seen.append(now) or {"noted": 1})
    with clock.freeze("2027-06-01T09:00:00+07:00") as instant:
        assert calendar.run_job(engine, "probe", job) == {"noted": 1}
    assert seen == [instant]
    engine.dispose()


def test_a_job_held_by_another_instance_is_not_run_twice(probe_database):
    engine = sa.create_engine(probe_database)
    inside, release, runs = threading.Event(), threading.Event(), []

    def slow(sessions, now):
        runs.append(now)
        inside.set()
        release.wait(10)
        return {"ran": 1}

    job = calendar.Job("slow", slow)
    first = threading.Thread(target=calendar.run_job, args=(engine, "probe", job))
    first.start()
    assert inside.wait(10)
    with pytest.raises(calendar.JobBusy):
        calendar.run_job(engine, "probe", job)  # the lease is held
    # another job of the same service has a lease of its own
    assert calendar.run_job(engine, "probe", calendar.Job("other", lambda s, n: {"x": 1}))
    release.set()
    first.join(10)
    assert len(runs) == 1
    assert calendar.run_job(engine, "probe", job) == {"ran": 1}  # the lease was given back
    engine.dispose()


def test_a_killed_holders_lease_ends_with_its_connection(probe_database):
    engine = sa.create_engine(probe_database)
    holder = engine.connect()
    key = calendar.lease_key("probe", "lease")
    assert holder.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
    job = calendar.Job("lease", lambda s, n: {"ran": 1})
    with pytest.raises(calendar.JobBusy):
        calendar.run_job(engine, "probe", job)
    holder.invalidate()  # the process died: its connection and its lease are gone
    holder.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert calendar.run_job(engine, "probe", job) == {"ran": 1}
            break
        except calendar.JobBusy:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    engine.dispose()


class CalendarProbe:
    name = "calendar_probe"
    ticks: list = []
    calendar = calendar.Calendar(
        calendar.Job("tick", lambda sessions, now: CalendarProbe.ticks.append(now) or {"t": 1}),
        database="probe",
    )

    from nameko.rpc import rpc

    @rpc
    def run_calendar_job(self, name):
        return self.calendar.run(name)


def test_the_timer_runs_jobs_without_an_operator(
    nameko_config, probe_database, container_factory, monkeypatch
):
    monkeypatch.setenv("CALENDAR_SECONDS", "0.2")
    CalendarProbe.ticks.clear()
    container = container_factory(CalendarProbe)
    with clock.freeze(datetime(2027, 9, 1, 3, tzinfo=UTC)):
        container.start()
        deadline = time.monotonic() + 10
        while len(CalendarProbe.ticks) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    container.stop()
    assert len(CalendarProbe.ticks) >= 2
    assert CalendarProbe.ticks[0] == datetime(2027, 9, 1, 3, tzinfo=UTC)


def test_an_operator_asking_for_a_running_job_is_told_409_job_running(
    nameko_config, probe_database, container_factory
):
    """Over RPC, as an operator's `run_calendar_job` reaches any service: a refusal with a
    code, not a bare RuntimeError that the gateway would answer with 500."""
    from nameko.standalone.rpc import ClusterRpcClient

    from servicekit.errors import Conflict

    container = container_factory(CalendarProbe)
    container.start()
    engine = sa.create_engine(probe_database)
    holder = engine.connect()  # another instance runs the job
    key = calendar.lease_key("calendar_probe", "tick")
    assert holder.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
    try:
        with ClusterRpcClient() as client:
            with pytest.raises(Conflict) as refused:
                client.calendar_probe.run_calendar_job("tick")
            assert refused.value.code == "job_running"
            assert refused.value.status == 409
    finally:
        holder.close()
        engine.dispose()
    with ClusterRpcClient() as client:
        assert client.calendar_probe.run_calendar_job("tick") == {"t": 1}
