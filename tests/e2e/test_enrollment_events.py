"""A plain AMQP client (kombu, not Nameko), bound as docs/asyncapi.yaml says, receives every
enrollment event of a full scenario exactly once, each valid against its JSON Schema."""

import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from kombu import Connection
from nameko.standalone.rpc import ClusterRpcClient

from servicekit import clock
from tests.support import enrollment as data
from tests.support.accounts import HOME_ORG

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import integrator  # noqa: E402

# the running services read the real clock: a contract starts no earlier than today
START = clock.today().isoformat()


def test_integrator_receives_every_enrollment_event_once_and_valid(
    accounts_world, databases, vhost, api
):
    catalog = sa.create_engine(databases["catalog"])
    data.period(sa.create_engine(databases["certificates"]))
    exchanges = sorted({exchange for exchange, _ in integrator.load_catalog()})
    assert "enrollment.events" in exchanges
    queue_name = f"test-integrator-{uuid.uuid4().hex[:8]}"
    with Connection(vhost) as connection:
        queue = integrator.bind(connection, queue_name, ["enrollment.events"], ["#"])

    parent = accounts_world.client("parent")
    provider = accounts_world.client("provider")
    kids = data.children(sa.create_engine(databases["accounts"]),
                         accounts_world.users["parent"].id, 5)  # fmt: skip
    one_seat = data.group(catalog, HOME_ORG, capacity=1)
    other = data.group(catalog, HOME_ORG, capacity=1)
    third = data.group(catalog, HOME_ORG, capacity=1)
    short = data.group(catalog, HOME_ORG, capacity=1)
    # a group that ends with December (others end in May): the catalog's and enrollment's
    # copy of it (as the catalog's event would bring it)
    for engine, table in ((catalog, "study_groups"), (data.enrollment_engine(catalog), "groups")):
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table} SET end_date = '2026-12-31' WHERE id = :g"),  # noqa: S608
                         {"g": short})  # fmt: skip

    def apply(child, group):
        response = parent.post("/enrollments", {"child_id": child, "group_id": group,
                                                "start_date": START})  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def ok(response):
        assert response.status_code == 200, response.text
        return response.json()

    a, b = apply(kids[0], one_seat), apply(kids[1], one_seat)
    ok(parent.post(f"/enrollments/{a}/cancel"))  # b is promoted
    ok(provider.post(f"/enrollments/{b}/confirm"))
    ok(parent.post(f"/enrollments/{b}/terminate", {"reason": "переезд"}))
    c = apply(kids[2], other)
    ok(provider.post(f"/enrollments/{c}/reject", {"reason": "нет мест по медпоказаниям"}))
    d = apply(kids[3], third)
    with ClusterRpcClient(uri=vhost) as rpc:
        later = (datetime.now(UTC) + timedelta(days=5, minutes=1)).isoformat()
        assert d in rpc.enrollment.expire_overdue(later)
        e = apply(kids[4], short)
        ok(provider.post(f"/enrollments/{e}/confirm"))
        # the group's last day has passed (region time): the enrollment completes
        assert e in rpc.enrollment.end_due("2027-01-01T00:01:00+07:00")["completed"]

    expected = {
        a: ["enrollment_requested", "enrollment_cancelled"],
        b: ["enrollment_waitlisted", "enrollment_promoted", "enrollment_confirmed",
            "enrollment_terminated"],
        c: ["enrollment_requested", "enrollment_rejected"],
        d: ["enrollment_requested", "enrollment_expired"],
        e: ["enrollment_requested", "enrollment_confirmed", "enrollment_completed"],
    }  # fmt: skip
    errors = integrator.validator(integrator.load_catalog())
    received, invalid, ids = {key: [] for key in expected}, [], Counter()
    with Connection(vhost) as connection:
        for exchange, body in integrator.events(connection, queue, timeout=5):
            enrollment_id = body["data"].get("enrollment_id")
            if enrollment_id not in expected:
                continue  # other tests' applications
            ids[body["event_id"]] += 1
            received[enrollment_id].append(body["type"])
            invalid += [(body["type"], e) for e in errors(exchange, body)]
            if sum(map(len, received.values())) == sum(map(len, expected.values())):
                break
        connection.channel().queue_delete(queue_name)
    assert received == expected
    assert invalid == []
    assert set(ids.values()) == {1}  # each event exactly once
