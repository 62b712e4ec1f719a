"""Enrollment's seat steps on a session, without Nameko (moved from the catalog's tests with
the seats): a hold lives and dies with the caller's transaction, a full group holds nobody,
an unknown group and a seat never held are refused, and every step tells the catalog the
group's new counts through enrollment's outbox."""

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit.errors import NotFound
from services.enrollment import store
from tests.support import enrollment as world


@pytest.fixture
def group(engine_of):
    catalog = engine_of("catalog")
    return engine_of("enrollment"), world.group(catalog, world.organization(catalog), capacity=3)


def session_of(engine):
    return Session(engine, info={"producer": "enrollment"})


def test_seats_are_held_inside_the_callers_transaction_and_vanish_with_it(group):
    engine, group_id = group
    with session_of(engine) as session:
        assert store.hold_seat(session, group_id, "application-rolled-back")
        assert store.seat_counts(session, group_id)["held"] == 1
        assert store.seat_counts(session, group_id)["free_seats"] == 2
        session.rollback()  # the caller's transaction failed: nothing of the hold remains
    with session_of(engine) as session:
        assert store.seat_counts(session, group_id)["held"] == 0
        assert store.hold_seat(session, group_id, "application-1")
        assert store.hold_seat(session, group_id, "application-2")
        store.confirm_seat(session, group_id, "application-1")
        assert store.seat_counts(session, group_id)["enrolled"] == 1
        session.commit()
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT held, enrolled FROM groups WHERE id = :id"), {"id": group_id}
        ).one()
        told = (
            conn.execute(
                sa.text(
                    "SELECT body->'data' FROM outbox WHERE type = 'group_seats_changed'"
                    " AND (body->'data'->>'group_id')::int = :id ORDER BY id"
                ),
                {"id": group_id},
            )
            .scalars()
            .all()
        )
    assert tuple(row) == (1, 1)
    # one event per step that changed the seats, the newest with the counts as they are
    assert [t["version"] for t in told] == [1, 2, 3]
    assert told[-1] == {"group_id": group_id, "capacity": 3, "held": 1, "enrolled": 1,
                        "free_seats": 1, "version": 3}  # fmt: skip


def test_a_full_group_and_an_unknown_one_are_refused_on_the_session(group):
    engine, group_id = group
    with session_of(engine) as session:
        for i in range(3):
            assert store.hold_seat(session, group_id, f"application-{i}")
        assert not store.hold_seat(session, group_id, "application-late")  # full: the waiting list
        assert not store.hold_seat(session, 2_000_000_000, "application-x")
        with pytest.raises(NotFound) as unknown:
            store.seat_counts(session, 2_000_000_000)
        assert unknown.value.code == "group_not_found"
        with pytest.raises(NotFound) as never_held:
            store.confirm_seat(session, group_id, "application-never")
        assert never_held.value.code == "seat_not_held"
        session.rollback()
