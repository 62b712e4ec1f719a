"""Seats of a group under concurrency, through the catalog service's entrypoints: a capacity
edit never goes below the held and enrolled children, and free seats always match a recount."""

import random
from datetime import date

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekit.errors import Conflict
from services.catalog import domain, search
from services.catalog.models import Group, Organization, Program
from services.catalog.service import CatalogService


@pytest.fixture
def published_group(engine_of):
    """An active organization's published program with one open group of 10 seats."""
    engine = engine_of("catalog")
    with Session(engine) as session:
        org = Organization(
            name="Секция seats",
            inn=domain.inn_with_check_digits(f"{random.randint(10**8, 10**9 - 1)}"),
            municipality_code="krasnoyarsk",
            address="адрес",
            status="active",
        )
        session.add(org)
        session.flush()
        program = Program(
            organization_id=org.id,
            title="Плавание",
            description="Бассейн",
            direction="sports",
            level="basic",
            format="in_person",
            adapted=False,
            registry_code="paid",
            certified=False,
            payment_type="own_money",
            min_age=7,
            max_age=12,
            status="published",
        )
        session.add(program)
        session.flush()
        group = Group(
            program_id=program.id,
            name="Группа 1",
            teacher="Петрова",
            address="адрес",
            lat=56.0,
            lon=92.8,
            schedule=[{"weekday": 2, "start": "16:00", "end": "17:00"}],
            start_date=date(2026, 9, 1),
            end_date=date(2027, 5, 31),
            min_age=7,
            max_age=12,
            capacity=10,
            held=0,
            enrolled=0,
            price_kopecks=900000,
            normative_cost_kopecks=0,
            monthly_price_kopecks=100000,
            enrollment_open=True,
        )
        session.add(group)
        session.flush()
        search.refresh_programs(session, [program.id])
        session.commit()
        return engine, org.id, group.id


@pytest.fixture
def catalog(nameko_config, databases, container_factory):
    container = container_factory(CatalogService)
    container.start()
    with ClusterRpcClient() as client:
        yield client.catalog


def recount(engine, group_id):
    with engine.connect() as conn:
        group = conn.execute(
            sa.text("SELECT capacity, held, enrolled FROM study_groups WHERE id = :id"),
            {"id": group_id},
        ).one()
        holds = dict(
            conn.execute(
                sa.text(
                    "SELECT state, count(*) FROM seat_holds WHERE group_id = :id GROUP BY state"
                ),
                {"id": group_id},
            ).all()
        )
        indexed = conn.execute(
            sa.text("SELECT free_seats FROM search_rows WHERE group_id = :id"), {"id": group_id}
        ).scalar()
    return group, holds, indexed


def test_capacity_edits_racing_seat_holds_never_overbook_a_group(catalog, published_group):
    engine, org_id, group_id = published_group
    provider = {"user_id": 1, "role": "provider", "organization_id": org_id}
    rng = random.Random(11)
    calls = []
    for i in range(40):
        calls.append(("hold", catalog.hold_seat.call_async(group_id, f"application-{i}")))
        calls.append(
            (
                "capacity",
                catalog.update_group.call_async(
                    provider, group_id, {"capacity": rng.randint(1, 14)}
                ),
            )
        )
        if i % 4 == 3:
            calls.append(
                ("release", catalog.release_seat.call_async(group_id, f"application-{i - 2}"))
            )
        if i % 5 == 4:
            calls.append(
                ("confirm", catalog.confirm_seat.call_async(group_id, f"application-{i - 1}"))
            )
    outcomes = {"ok": 0, "group_full": 0, "capacity_below_occupied": 0, "other": 0}
    for _, reply in calls:
        try:
            reply.result()
            outcomes["ok"] += 1
        except Conflict as error:
            outcomes[error.code] = outcomes.get(error.code, 0) + 1
        except Exception:  # noqa: BLE001 - a seat not yet held when confirmed, counted below
            outcomes["other"] += 1

    (capacity, held, enrolled), holds, indexed = recount(engine, group_id)
    assert held + enrolled <= capacity
    assert held == holds.get("held", 0)
    assert enrolled == holds.get("enrolled", 0)
    assert indexed == domain.free_seats(capacity, held, enrolled)
    final = catalog.get_group(group_id)
    assert final["free_seats"] == capacity - held - enrolled
    # the race really happened: some holds found the group full, some shrinks were refused
    assert outcomes["group_full"] > 0 and outcomes["capacity_below_occupied"] > 0, outcomes


def test_hold_is_idempotent_and_release_gives_the_seat_back(catalog, published_group):
    engine, _, group_id = published_group
    first = catalog.hold_seat(group_id, "application-a")
    again = catalog.hold_seat(group_id, "application-a")
    assert (
        first
        == again
        == {
            "group_id": group_id,
            "capacity": 10,
            "held": 1,
            "enrolled": 0,
            "free_seats": 9,
        }
    )
    assert catalog.confirm_seat(group_id, "application-a")["enrolled"] == 1
    assert catalog.release_seat(group_id, "application-a")["free_seats"] == 10
    assert catalog.release_seat(group_id, "application-a")["free_seats"] == 10
    assert recount(engine, group_id)[2] == 10


def test_capacity_cannot_go_below_occupied_seats(catalog, published_group):
    _, org_id, group_id = published_group
    provider = {"user_id": 1, "role": "provider", "organization_id": org_id}
    for i in range(4):
        catalog.hold_seat(group_id, f"application-{i}")
    with pytest.raises(Conflict) as refused:
        catalog.update_group(provider, group_id, {"capacity": 3})
    assert refused.value.code == "capacity_below_occupied"
    assert catalog.update_group(provider, group_id, {"capacity": 4})["free_seats"] == 0
    with pytest.raises(Conflict) as full:
        catalog.hold_seat(group_id, "application-late")
    assert full.value.code == "group_full"


def test_database_refuses_an_overbooked_group_whatever_the_code_does(published_group):
    engine, _, group_id = published_group
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE study_groups SET held = capacity + 1 WHERE id = :id"), {"id": group_id}
        )
