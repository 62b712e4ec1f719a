"""Seats of a group under concurrency. The seats are enrollment's (services/enrollment/store.py,
on its own database); the catalog keeps the free seats it is told of for its search, and asks
enrollment before it changes a capacity. Capacity edits through the catalog's entrypoint race
seat steps on enrollment's database: a capacity never goes below the held and enrolled
children, the counters always match a recount, and the catalog's free seats catch up with
them."""

import random
import threading
import time

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekit.errors import Conflict, NotFound
from services.catalog import domain
from services.catalog.service import CatalogService
from services.enrollment import store
from services.enrollment.service import EnrollmentService
from tests.support import enrollment as world


@pytest.fixture
def published_group(engine_of):
    """An active organization's published program (paid by the parent) with one open group of
    10 seats, known to enrollment."""
    engine = engine_of("catalog")
    org_id = world.organization(engine)
    group_id = world.group(engine, org_id, capacity=10, registry="paid", normative=0)
    return engine, engine_of("enrollment"), org_id, group_id


@pytest.fixture
def catalog(nameko_config, databases, container_factory):
    for cls in (CatalogService, EnrollmentService):
        container_factory(cls).start()
    with ClusterRpcClient() as client:
        yield client.catalog


def step(engine, name: str, group_id: int, holder: str):
    """One seat step in a transaction of its own on enrollment's database, as the
    application's step would run it."""
    with Session(engine, info={"producer": "enrollment"}) as session:
        if name == "hold":
            session.execute(
                sa.text("SELECT id FROM groups WHERE id = :g FOR UPDATE"), {"g": group_id}
            )
            taken = session.execute(
                sa.text("SELECT 1 FROM seat_holds WHERE group_id = :g AND holder = :h"),
                {"g": group_id, "h": holder},
            ).first()
            if taken is None and not store.hold_seat(session, group_id, holder):
                raise Conflict("Свободных мест нет", code="group_full")
        elif name == "release":
            store.release_seat(session, group_id, holder)
        else:
            store.confirm_seat(session, group_id, holder)
        session.commit()


def recount(engine, group_id):
    with engine.connect() as conn:
        group = conn.execute(
            sa.text("SELECT capacity, held, enrolled FROM groups WHERE id = :id"), {"id": group_id}
        ).one()
        holds = dict(
            conn.execute(
                sa.text(
                    "SELECT state, count(*) FROM seat_holds WHERE group_id = :id GROUP BY state"
                ),
                {"id": group_id},
            ).all()
        )
    return group, holds


def indexed(catalog_engine, group_id, expected, seconds=10.0):
    """The catalog's free seats of the group, once they are `expected` (its projection catches
    up with enrollment's events) or the time is out."""
    deadline = time.monotonic() + seconds
    while True:
        with catalog_engine.connect() as conn:
            free = conn.execute(
                sa.text("SELECT free_seats FROM search_rows WHERE group_id = :id"),
                {"id": group_id},
            ).scalar()
        if free == expected or time.monotonic() > deadline:
            return free
        time.sleep(0.05)


def test_capacity_edits_racing_seat_holds_never_overbook_a_group(catalog, published_group):
    catalog_engine, engine, org_id, group_id = published_group
    provider = {"user_id": 1, "role": "provider", "organization_id": org_id}
    rng = random.Random(11)
    outcomes = {"ok": 0, "group_full": 0, "capacity_below_occupied": 0, "other": 0}
    lock = threading.Lock()

    def count(error=None):
        with lock:
            if error is None:
                outcomes["ok"] += 1
            elif isinstance(error, Conflict):
                outcomes[error.code] = outcomes.get(error.code, 0) + 1
            else:  # a seat not yet held when confirmed, counted below
                outcomes["other"] += 1

    def run_step(name, holder):
        try:
            step(engine, name, group_id, holder)
            count()
        except (Conflict, NotFound) as error:
            count(error)

    calls, threads = [], []

    def launch(name, holder):
        thread = threading.Thread(target=run_step, args=(name, holder))
        thread.start()
        threads.append(thread)

    for i in range(40):
        launch("hold", f"application-{i}")
        calls.append(
            catalog.update_group.call_async(provider, group_id, {"capacity": rng.randint(1, 14)})
        )
        if i % 4 == 3:
            launch("release", f"application-{i - 2}")
        if i % 5 == 4:
            launch("confirm", f"application-{i - 1}")
    for reply in calls:
        try:
            reply.result()
            count()
        except Exception as error:  # noqa: BLE001 - counted by kind
            count(error)
    for thread in threads:
        thread.join()

    (capacity, held, enrolled), holds = recount(engine, group_id)
    assert held + enrolled <= capacity
    assert held == holds.get("held", 0)
    assert enrolled == holds.get("enrolled", 0)
    expected = domain.free_seats(capacity, held, enrolled)
    assert indexed(catalog_engine, group_id, expected) == expected
    final = catalog.get_group(group_id)
    assert final["free_seats"] == capacity - held - enrolled
    # the race really happened: some holds found the group full, some shrinks were refused
    assert outcomes["group_full"] > 0 and outcomes["capacity_below_occupied"] > 0, outcomes


def test_hold_is_idempotent_and_release_gives_the_seat_back(catalog, published_group):
    catalog_engine, engine, _, group_id = published_group
    step(engine, "hold", group_id, "application-a")
    step(engine, "hold", group_id, "application-a")
    with Session(engine) as session:
        counts = store.seat_counts(session, group_id)
    assert {k: v for k, v in counts.items() if k != "version"} == {
        "group_id": group_id,
        "capacity": 10,
        "held": 1,
        "enrolled": 0,
        "free_seats": 9,
    }
    step(engine, "confirm", group_id, "application-a")
    assert recount(engine, group_id)[0] == (10, 0, 1)
    step(engine, "release", group_id, "application-a")
    step(engine, "release", group_id, "application-a")
    assert recount(engine, group_id)[0] == (10, 0, 0)
    assert indexed(catalog_engine, group_id, 10) == 10


def test_capacity_cannot_go_below_occupied_seats(catalog, published_group):
    catalog_engine, engine, org_id, group_id = published_group
    provider = {"user_id": 1, "role": "provider", "organization_id": org_id}
    for i in range(4):
        step(engine, "hold", group_id, f"application-{i}")
    with pytest.raises(Conflict) as refused:
        catalog.update_group(provider, group_id, {"capacity": 3})
    assert refused.value.code == "capacity_below_occupied"
    assert catalog.update_group(provider, group_id, {"capacity": 4})["free_seats"] == 0
    with pytest.raises(Conflict) as full:
        step(engine, "hold", group_id, "application-late")
    assert full.value.code == "group_full"


def test_database_refuses_an_overbooked_group_whatever_the_code_does(published_group):
    _, engine, _, group_id = published_group
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE groups SET held = capacity + 1 WHERE id = :id"), {"id": group_id}
        )
