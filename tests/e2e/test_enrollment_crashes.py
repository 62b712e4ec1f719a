"""Crash tests of the apply saga: the enrollment or the certificates process is killed hard
(os._exit, as SIGKILL would) at each step in turn and restarted; every application ends
consistent (seat, reservation and state agree) and the integrator gets every event of it
exactly once (by event_id; a re-published copy carries the same id).

Steps (NAVIGATOR_CRASH_AT): enrollment after step 1 (seat held, nothing reserved); after
step 2 (reserved, not finished); after the final commit (events in the outbox, not
published); the relay after publishing and before marking (published twice); certificates
after committing the reservation, before answering."""

import time
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection

from servicekit import clock
from tests.e2e.test_enrollment_events import integrator
from tests.support import enrollment as data
from tests.support import sql
from tests.support.accounts import HOME_ORG

# the running services read the real clock: a contract starts no earlier than today
START = clock.today().isoformat()
SETTLED = ("reserved", "released", "contract")

CASES = [
    # (process to crash, crash point); every application ends before the provider, its money
    # reserved once
    ("enrollment", "enrollment_after_open"),
    ("enrollment", "enrollment_after_reserve"),
    ("enrollment", "after_commit"),
    ("enrollment", "after_publish_before_mark"),
    # the reservation's answer lost: the outcome is unknown, the application stays pending
    # and the recovery settles it (the reservation is idempotent), not cancelled (issue 20)
    ("certificates", "after_commit"),
]


def restart(system, name, crash_at=None):
    process = system.processes[name]
    process.stop()
    process.start({"NAVIGATOR_CRASH_AT": crash_at} if crash_at else None)
    system.wait_healthy(90)


def wait_dead(system, name, timeout=30):
    process = system.processes[name].process
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() == 137, f"{name} did not crash: {process.poll()}"


def application_of(enrollment, child_id, group_id):
    return sql.first(
        enrollment,
        "SELECT id::text AS id, status, money, seat_held,"
        " (terms->>'certificate_share')::bigint AS share FROM enrollments"
        " WHERE child_id = :c AND group_id = :g",
        c=child_id,
        g=group_id,
    )


def wait_settled(enrollment, child_id, group_id, timeout=60):
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = application_of(enrollment, child_id, group_id)
        if row is not None and row.money in SETTLED:
            return row
        time.sleep(0.5)
    raise AssertionError(f"not settled in {timeout}s: {row}")


def reserved_for(certificates, enrollment_id):
    return sql.scalar(
        certificates,
        "SELECT coalesce(sum(reserved), 0) FROM reservations WHERE enrollment_id = :e",
        e=enrollment_id,
    )


def seat_holds(enrollment, group_id, enrollment_id):
    return sql.one(
        enrollment,
        "SELECT (SELECT held + enrolled FROM groups WHERE id = :g),"
        " (SELECT count(*) FROM seat_holds WHERE group_id = :g AND holder = :h)",
        g=group_id,
        h=enrollment_id,
    )


@pytest.mark.parametrize("process,point", CASES, ids=[f"{p}-{c}" for p, c in CASES])
def test_a_crash_at_each_step_ends_consistent_with_every_event_once(
    system, accounts_world, databases, vhost, process, point
):
    catalog = sa.create_engine(databases["catalog"])
    certificates = sa.create_engine(databases["certificates"])
    data.period(certificates)
    (child,) = data.children(sa.create_engine(databases["accounts"]),
                             accounts_world.users["parent"].id, 1)  # fmt: skip
    group_id = data.group(catalog, HOME_ORG, capacity=5)
    queue_name = f"test-crash-{uuid.uuid4().hex[:8]}"
    with Connection(vhost) as connection:
        queue = integrator.bind(connection, queue_name, ["enrollment.events"], ["#"])
    try:
        restart(system, process, point)
        response = accounts_world.client("parent").post(
            "/enrollments",
            {"child_id": child, "group_id": group_id, "start_date": START},
            timeout=30,
        )
        if point != "after_publish_before_mark":  # the relay dies after the answer is sent
            assert response.status_code in (201, 503), response.text
        wait_dead(system, process)
    finally:
        restart(system, process)

    enrollment = sa.create_engine(databases["enrollment"])
    row = wait_settled(enrollment, child, group_id)
    assert row.status == "awaiting_provider", row
    total, held = seat_holds(enrollment, group_id, row.id)
    assert row.seat_held and held == 1 and total == 1
    assert row.money == "reserved" and reserved_for(certificates, row.id) == row.share > 0

    seen, types = set(), []
    with Connection(vhost) as connection:
        for _, body in integrator.events(connection, queue, timeout=8):
            if body["data"].get("enrollment_id") != row.id or body["event_id"] in seen:
                continue  # another application's, or a re-published copy (same event_id)
            seen.add(body["event_id"])
            types.append(body["type"])
        connection.channel().queue_delete(queue_name)
    assert types == ["enrollment_requested"]
