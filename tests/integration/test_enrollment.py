"""Enrollment through its service's entrypoints, with accounts and certificates running
in-process on the real servers: seats under concurrency, the waiting list, money reserved
and released, decisions, expiry by a clock the test controls, recovery of a broken saga."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient

from servicekit import clock
from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.accounts.service import AccountsService
from services.catalog.service import CatalogService
from services.certificates.service import CertificatesService
from services.enrollment import domain as enrollment_domain
from services.enrollment.service import EnrollmentService
from tests.support import enrollment as world

START = "2026-12-01"


@pytest.fixture(autouse=True)
def business_day():
    """The applications of these tests are made on START, the business day of the clock the
    services read (they run in this process): a contract never starts before it is made."""
    with clock.freeze(date.fromisoformat(START)) as instant:
        yield instant


@pytest.fixture
def rpc(nameko_config, databases, container_factory):
    # the catalog answers a provider's decision whether its organization is active
    for cls in (EnrollmentService, AccountsService, CertificatesService, CatalogService):
        container_factory(cls).start()
    with ClusterRpcClient() as client:
        yield client


@pytest.fixture
def engines(engine_of):
    return {name: engine_of(name) for name in ("catalog", "accounts", "certificates", "enrollment")}


@pytest.fixture
def period(engines):
    return world.period(engines["certificates"])


def as_parent(parent_id):
    return {"user_id": parent_id, "role": "parent", "organization_id": None}


def as_provider(organization_id, user_id=500):
    return {"user_id": user_id, "role": "provider", "organization_id": organization_id,
            "municipality_code": "krasnoyarsk"}  # fmt: skip


def seats(engines, group_id):
    with engines["enrollment"].connect() as conn:
        capacity, held, enrolled = conn.execute(
            sa.text("SELECT capacity, held, enrolled FROM groups WHERE id = :g"),
            {"g": group_id},
        ).one()
        holds = conn.execute(
            sa.text("SELECT count(*) FROM seat_holds WHERE group_id = :g"), {"g": group_id}
        ).scalar()
    return {"capacity": capacity, "held": held, "enrolled": enrolled, "holds": holds}


def rows(engines, group_id):
    with engines["enrollment"].connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT id::text, child_id, status, seat_held, arrival, money FROM enrollments"
                " WHERE group_id = :g ORDER BY arrival"
            ),
            {"g": group_id},
        ).all()


def outbox_types(engines, enrollment_id):
    with engines["enrollment"].connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT type FROM outbox WHERE body->'data'->>'enrollment_id' = :e ORDER BY id"
                ),
                {"e": enrollment_id},
            )
            .scalars()
            .all()
        )


def until_enrollment_knows(engines, group_id, column, value, seconds=10.0):
    """Wait for the catalog's event to reach enrollment's copy of a group's facts."""
    deadline = time.monotonic() + seconds
    while True:
        with engines["enrollment"].connect() as conn:
            known = conn.execute(
                sa.text(f"SELECT {column} FROM groups WHERE id = :g"),  # noqa: S608
                {"g": group_id},
            ).scalar()
        if known == value or time.monotonic() > deadline:
            return known
        time.sleep(0.05)


def balance(rpc, child_id):
    return rpc.certificates.get_balance(child_id)


def test_500_concurrent_applications_to_20_seats_hold_20_and_list_480_in_arrival_order(
    rpc, engines, period
):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=20, registry="paid")
    parent_id = world.parent(engines["accounts"])
    kids = world.children(engines["accounts"], parent_id, 500)

    def apply(child_id):
        return rpc.enrollment.apply.call_async(
            as_parent(parent_id),
            {"child_id": child_id, "group_id": group_id, "start_date": START,
             "accept_copay": True},
        )  # fmt: skip

    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(apply, kids))
    answers = [reply.result() for reply in replies]

    assert sorted(a["status"] for a in answers).count("awaiting_provider") == 20
    assert sum(a["status"] == "waitlisted" for a in answers) == 480
    assert seats(engines, group_id) == {"capacity": 20, "held": 20, "enrolled": 0, "holds": 20}
    ordered = rows(engines, group_id)
    # the first 20 to reach the group hold the seats, the rest wait in that same order
    assert [r.status for r in ordered] == ["awaiting_provider"] * 20 + ["waitlisted"] * 480
    positions = {a["id"]: a["waitlist_position"] for a in answers}
    assert [positions[r.id] for r in ordered[20:]] == list(range(1, 481))

    # cancellations free seats: the waiting list is served in arrival order
    for seated in ordered[:5]:
        cancelled = rpc.enrollment.decide(as_parent(parent_id), seated.id, "cancel")
        assert cancelled["status"] == "cancelled"
    after = rows(engines, group_id)
    promoted = [r for r in after if r.status == "awaiting_provider"]
    assert [r.id for r in promoted] == [r.id for r in ordered[:25] if r not in ordered[:5]]
    assert rpc.enrollment.get_enrollment(None, ordered[25].id)["waitlist_position"] == 1
    assert seats(engines, group_id)["held"] == 20
    assert outbox_types(engines, ordered[20].id) == ["enrollment_waitlisted", "enrollment_promoted"]


def test_certificate_share_is_reserved_and_a_cancellation_releases_it(rpc, engines, period):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, price=900_000, normative=900_000)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)

    quote = rpc.enrollment.quote(as_parent(parent_id), group_id, child, START)
    assert quote["certificate_available"] is None  # no certificate before the first application
    assert sum(p["certificate"] + p["copay"] for p in quote["schedule"]) == quote["total"]

    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    assert applied["status"] == "awaiting_provider"
    assert applied["certificate_number"]
    share = applied["terms"]["certificate_share"]
    assert share == quote["certificate_share"] > 0 and applied["terms"]["copay"] == 0
    money = balance(rpc, child)
    assert (money["reserved"], money["available"]) == (share, 1_000_000 - share)
    again = rpc.enrollment.quote(as_parent(parent_id), group_id, child, START)
    assert again["certificate_available"] == 1_000_000 - share

    cancelled = rpc.enrollment.decide(as_parent(parent_id), applied["id"], "cancel", "передумали")
    assert (cancelled["status"], cancelled["money"]) == ("cancelled", "released")
    money = balance(rpc, child)
    assert (money["reserved"], money["available"]) == (0, 1_000_000)
    assert seats(engines, group_id)["held"] == 0
    assert [h["status"] for h in cancelled["history"]] == ["requested", "awaiting_provider",
                                                           "cancelled"]  # fmt: skip
    # replaying the cancellation changes nothing; a wrong-state decision is refused
    assert rpc.enrollment.decide(as_parent(parent_id), applied["id"], "cancel")["status"] == (
        "cancelled"
    )
    with pytest.raises(Conflict) as refused:
        rpc.enrollment.decide(as_provider(org), applied["id"], "confirm")
    assert refused.value.code == "transition_refused"


def test_concurrent_applications_reserve_in_batches_each_its_own_money(rpc, engines, period):
    """Issue 20: reservations asked while a batch is on its way go together in the next one
    (`reserve_many`): 60 children of 60 parents applying at once to 40 seats take fewer
    batches than reservations, and each seated application holds exactly its own share, its
    certificate's balance exactly that, no reservation for a waiter."""
    from servicekit import metrics

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=40, price=900_000,
                           normative=900_000)  # fmt: skip
    families = [(p, world.children(engines["accounts"], p, 1)[0])
                for p in (world.parent(engines["accounts"]) for _ in range(60))]  # fmt: skip
    counted = ("certificates.reserve_many",)
    batches_before = metrics.RPC_BATCHES.labels(*counted)._value.get()
    items_before = metrics.RPC_BATCHED_ITEMS.labels(*counted)._value.get()

    def apply(family):
        parent_id, child_id = family
        return rpc.enrollment.apply.call_async(
            as_parent(parent_id), {"child_id": child_id, "group_id": group_id, "start_date": START}
        )

    with ThreadPoolExecutor(60) as pool:
        replies = list(pool.map(apply, families))
    answers = [reply.result() for reply in replies]

    batches = metrics.RPC_BATCHES.labels(*counted)._value.get() - batches_before
    items = metrics.RPC_BATCHED_ITEMS.labels(*counted)._value.get() - items_before
    assert items == 40 and batches < items, (batches, items)
    seated = [a for a in answers if a["status"] == "awaiting_provider"]
    assert len(seated) == 40 and sum(a["status"] == "waitlisted" for a in answers) == 20
    for answer in seated:  # a waiter asked certificates nothing: no certificate, no money
        money = balance(rpc, answer["child_id"])
        held = answer["terms"]["certificate_share"]
        assert answer["money"] == "reserved" and answer["certificate_number"]
        assert (money["reserved"], money["available"]) == (held, 1_000_000 - held)
    assert {a["money"] for a in answers if a not in seated} == {"none"}
    with engines["certificates"].connect() as conn:
        held = dict(conn.execute(sa.text(
            "SELECT enrollment_id, reserved FROM reservations WHERE enrollment_id = ANY(:ids)"
        ), {"ids": [a["id"] for a in answers]}).all())  # fmt: skip
    assert held == {a["id"]: a["terms"]["certificate_share"] for a in seated}


def test_a_period_opened_a_moment_ago_is_not_refused_on_the_kept_list(rpc, engines, period):
    """Enrollment keeps certificates' periods a minute: an application whose period is not in
    the kept list (opened since) asks for them again before it is refused `no_period`."""
    from services.enrollment import saga

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    saga._periods_cache["periods"] = (time.monotonic(), [])  # kept before the period opened
    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    assert applied["status"] == "awaiting_provider"
    assert [p["id"] for p in saga._periods_cache["periods"][1]].count(period) == 1


def test_copay_not_accepted_is_refused_and_changes_nothing(rpc, engines, period):
    org = world.organization(engines["catalog"])
    # the price is above the normative cost: a co-payment is due whatever the balance
    group_id = world.group(engines["catalog"], org, capacity=1, price=1_200_000, normative=900_000)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    body = {"child_id": child, "group_id": group_id, "start_date": START}
    with pytest.raises(InvalidInput) as refused:
        rpc.enrollment.apply(as_parent(parent_id), body)
    assert refused.value.code == "copay_not_accepted" and "accept_copay" in refused.value.fields
    assert rows(engines, group_id) == [] and seats(engines, group_id)["held"] == 0

    accepted = rpc.enrollment.apply(as_parent(parent_id), {**body, "accept_copay": True})
    terms = accepted["terms"]
    assert terms["copay"] == terms["total"] - terms["certificate_share"] > 0


def two_groups_one_child(engines):
    """Two groups whose share leaves too little of a certificate for the other, a parent
    and a child: (first, second, parent, child, the body of an application without group)."""
    org = world.organization(engines["catalog"])
    first = world.group(engines["catalog"], org, price=900_000, normative=900_000)
    second = world.group(engines["catalog"], org, price=900_000, normative=900_000)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    return first, second, parent_id, child, {"child_id": child, "start_date": START}


def test_a_short_balance_caps_the_share_and_asks_for_consent(rpc, engines, period):
    first, second, parent_id, child, body = two_groups_one_child(engines)
    one = rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": first})
    left = 1_000_000 - one["terms"]["certificate_share"]
    assert left < one["terms"]["certificate_share"]

    with pytest.raises(InvalidInput) as refused:
        rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": second})
    assert refused.value.code == "copay_not_accepted"
    assert rows(engines, second) == [] and balance(rpc, child)["available"] == left

    two = rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": second,
                                                      "accept_copay": True})  # fmt: skip
    assert two["terms"]["certificate_share"] == left
    assert two["terms"]["copay"] == two["terms"]["total"] - left
    assert balance(rpc, child)["available"] == 0


def test_application_rules_are_refused_with_their_codes(rpc, engines, period):
    org = world.organization(engines["catalog"])
    open_group = world.group(engines["catalog"], org, registry="paid")
    closed = world.group(engines["catalog"], org, registry="paid", open_=False)
    parent_id = world.parent(engines["accounts"])
    other_parent = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    (toddler,) = world.children(
        engines["accounts"], parent_id, 1, birth_date=datetime(2023, 1, 1).date()
    )
    me = as_parent(parent_id)

    def apply(who, child_id, group_id):
        return rpc.enrollment.apply(who, {"child_id": child_id, "group_id": group_id,
                                          "start_date": START, "accept_copay": True})  # fmt: skip

    with pytest.raises(NotFound):
        apply(as_parent(other_parent), child, open_group)  # not their child
    with pytest.raises(InvalidInput) as closed_refusal:
        apply(me, child, closed)
    assert closed_refusal.value.code == "enrollment_closed"
    with pytest.raises(InvalidInput) as age:
        apply(me, toddler, open_group)
    assert age.value.code == "age_mismatch"
    first = apply(me, child, open_group)
    with pytest.raises(Conflict) as twice:
        apply(me, child, open_group)
    assert twice.value.code == "already_applied"
    assert twice.value.extra["enrollment_id"] == first["id"]
    with pytest.raises(NotFound):
        rpc.enrollment.get_enrollment(as_parent(other_parent), first["id"])
    with pytest.raises(NotFound):  # another organization's application does not exist for it
        rpc.enrollment.decide(as_provider(org + 10_000), first["id"], "confirm")
    with pytest.raises(Forbidden):  # the parent sees it but does not decide it
        rpc.enrollment.decide(me, first["id"], "confirm")


def test_confirm_enrolls_verifies_the_child_and_announces_the_contract(rpc, engines, period):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    staff = world.provider(engines["accounts"], org)
    enrolled = rpc.enrollment.decide(staff, applied["id"], "confirm")
    assert (enrolled["status"], enrolled["money"]) == ("enrolled", "contract")
    assert seats(engines, group_id) == {"capacity": 20, "held": 0, "enrolled": 1, "holds": 1}
    assert rpc.accounts.get_child(child)["verified"] is True
    with engines["enrollment"].connect() as conn:
        data = conn.execute(
            sa.text(
                "SELECT body->'data' FROM outbox WHERE type = 'enrollment_confirmed'"
                " AND body->'data'->>'enrollment_id' = :e"
            ),
            {"e": applied["id"]},
        ).scalar()
    share = applied["terms"]["certificate_share"]
    assert data["certificate_share"] == f"{share // 100}.{share % 100:02d}"
    assert data["certificate_number"] == applied["certificate_number"]
    assert data["child_municipality_code"] == "krasnoyarsk" and data["registry"] == "certified"
    assert data["group_schedule"] and data["schedule"][0]["month"] == "2026-12"

    ended = rpc.enrollment.decide(as_parent(parent_id), applied["id"], "terminate", "переезд")
    assert ended["status"] == "terminated" and ended["effective_end_date"].endswith(("30", "31"))
    assert ended["money"] == "contract"  # payments releases the months after the contract
    # the child attends to the month's end: the seat stays taken until the sweep after it
    assert ended["seat_held"] is True
    assert seats(engines, group_id)["enrolled"] == 1
    assert outbox_types(engines, applied["id"])[-1] == "enrollment_terminated"


def test_undecided_application_expires_by_the_clock_and_promotes_the_next(rpc, engines, period):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    parent_id = world.parent(engines["accounts"])
    first_child, second_child = world.children(engines["accounts"], parent_id, 2)
    body = {"group_id": group_id, "start_date": START}
    first = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": first_child})
    second = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": second_child})
    assert (first["status"], second["status"]) == ("awaiting_provider", "waitlisted")

    now = clock.now()
    # (other tests' applications share the database: look at ours)
    assert first["id"] not in rpc.enrollment.expire_overdue((now + timedelta(days=4)).isoformat())
    expired = rpc.enrollment.expire_overdue((now + timedelta(days=5, minutes=1)).isoformat())
    assert first["id"] in expired and second["id"] not in expired
    gone = rpc.enrollment.get_enrollment(None, first["id"])
    assert (gone["status"], gone["money"]) == ("expired", "released")
    assert balance(rpc, first_child)["reserved"] == 0
    promoted = rpc.enrollment.get_enrollment(None, second["id"])
    assert promoted["status"] == "awaiting_provider" and promoted["waitlist_position"] is None
    assert second["id"] not in rpc.enrollment.expire_overdue(
        (now + timedelta(days=5, minutes=2)).isoformat()
    )  # promoted a minute ago: its five days start now


def test_recovery_finishes_an_application_a_crash_left_after_its_seat(rpc, engines, period):
    """Step 1 committed and then the process died: the timer's recovery reserves the money
    (idempotently) and finishes the application."""
    from sqlalchemy.orm import Session

    from services.enrollment import operations

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    facts = rpc.accounts.get_child(child)
    enrollment_id = str(uuid.uuid4())
    with Session(engines["enrollment"], info={"producer": "enrollment"}) as session:
        operations.open_application(
            session, enrollment_id=enrollment_id, child=facts, group_id=group_id,
            start_date=datetime(2026, 12, 1).date(), accept_copay=False,
            periods=rpc.certificates.list_periods(), today=clock.today(),
        )  # fmt: skip
        session.commit()
    assert rpc.enrollment.settle()["driven"] == 0  # still within the grace period
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert rpc.enrollment.settle(later)["driven"] == 1
    done = rpc.enrollment.get_enrollment(None, enrollment_id)
    assert (done["status"], done["money"]) == ("awaiting_provider", "reserved")
    assert balance(rpc, child)["reserved"] == done["terms"]["certificate_share"]
    assert rpc.enrollment.settle(later)["driven"] == 0
    assert outbox_types(engines, enrollment_id) == ["enrollment_requested"]


def test_the_seats_end_where_the_pure_seat_allocation_says_under_concurrent_apply_and_release(
    rpc, engines, period
):
    """domain.seating is the rule; the SQL carries it out. 80 children apply at once to a
    group of 8 seats while parents cancel some applications as soon as they are answered
    (seated or waiting): whatever the interleaving, the database ends with the first 8 of
    those who stayed (in arrival order) holding the seats and the rest waiting in that order.
    Then the provider rejects every seated application at once while ten more children
    apply: each freed seat is a promotion of the first waiter (never a newcomer), whose money
    is reserved and who goes before the provider, announced `enrollment_promoted` once."""
    import random

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=8, registry="paid")
    parent_id = world.parent(engines["accounts"])
    kids = world.children(engines["accounts"], parent_id, 80)
    rng = random.Random(19)
    leaving = set(rng.sample(kids, 30))

    def apply(child_id):
        return rpc.enrollment.apply.call_async(
            as_parent(parent_id),
            {"child_id": child_id, "group_id": group_id, "start_date": START,
             "accept_copay": True},
        )  # fmt: skip

    def cancel(answer):
        return rpc.enrollment.decide.call_async(as_parent(parent_id), answer["id"], "cancel")

    def cancelled(reply, answer):
        """A promotion whose money step is in flight answers 409 `application_in_progress`:
        the parent tries again, as the answer asks."""
        for _ in range(50):
            try:
                return reply.result()["status"] == "cancelled"
            except Conflict as error:
                assert error.code == "application_in_progress"
                time.sleep(0.1)
                reply = cancel(answer)
        return False

    first, second = kids[:40], kids[40:]
    answers = {k: reply.result() for k, reply in [(k, apply(k)) for k in first]}
    # the first wave's leavers cancel while the second wave applies, interleaved
    applying, cancelling = [], []
    for i, child_id in enumerate(second):
        applying.append((child_id, apply(child_id)))
        if first[i] in leaving:
            cancelling.append((cancel(answers[first[i]]), answers[first[i]]))
    for child_id, reply in applying:
        answers[child_id] = reply.result()
    for reply, answer in cancelling:
        assert cancelled(reply, answer)
    for reply, answer in [(cancel(answers[k]), answers[k]) for k in second if k in leaving]:
        assert cancelled(reply, answer)

    ordered = rows(engines, group_id)  # every application, in arrival order
    left = {r.id for r in ordered if r.status == "cancelled"}
    assert len(left) == 30
    expected = enrollment_domain.seating(8, [r.id for r in ordered], left)
    seated = tuple(r.id for r in ordered if r.seat_held)
    waiting = tuple(r.id for r in ordered if r.status == "waitlisted" and not r.seat_held)
    assert (seated, waiting) == (expected.seated, expected.waiting)
    assert all(r.status == "awaiting_provider" for r in ordered if r.seat_held)
    assert seats(engines, group_id) == {"capacity": 8, "held": 8, "enrolled": 0, "holds": 8}

    # promotions on release, concurrently: eight rejections interleaved with ten applications
    staff = world.provider(engines["accounts"], org)
    rejected = set(seated)
    newcomers = world.children(engines["accounts"], parent_id, 10)
    replies = []
    for i, child_id in enumerate(newcomers):
        if i < len(seated):
            replies.append(rpc.enrollment.decide.call_async(staff, seated[i], "reject", "мест нет"))
        replies.append(apply(child_id))
    for reply in replies:
        reply.result()

    ordered = rows(engines, group_id)
    assert {r.id for r in ordered if r.status == "rejected"} == rejected
    expected = enrollment_domain.seating(8, [r.id for r in ordered], left | rejected)
    seated = tuple(r.id for r in ordered if r.seat_held)
    waiting = tuple(r.id for r in ordered if r.status == "waitlisted" and not r.seat_held)
    assert (seated, waiting) == (expected.seated, expected.waiting)
    assert len(waiting) == 50 - 8 - 8 + 10 and not set(seated) & {
        answers[k]["id"] for k in answers if k in newcomers
    }
    for row in ordered:
        if row.seat_held:  # every seat of this round is a waiter's promotion, settled
            assert (row.status, row.money) == ("awaiting_provider", "reserved")
            assert outbox_types(engines, row.id) == ["enrollment_waitlisted", "enrollment_promoted"]
        elif row.id in rejected:
            assert row.money == "released"
            assert outbox_types(engines, row.id)[-1] == "enrollment_rejected"
    assert seats(engines, group_id) == {"capacity": 8, "held": 8, "enrolled": 0, "holds": 8}


def test_apply_path_costs_few_catalog_statements_and_two_commits(rpc, engines, period):
    """Opening day is decided by the apply path: count what one application costs on
    enrollment's database (the figure the README quotes; a regression fails here)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    first, second = world.children(engines["accounts"], parent_id, 2)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if conn.engine.url.database.endswith("_enrollment") and "outbox" not in statement[:60]:
            statements.append(statement.split()[0].upper())

    body = {"group_id": group_id, "start_date": START}
    rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": first})  # warm caches
    event.listen(Engine, "before_cursor_execute", count)
    try:
        rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": second})
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    print(f"catalog statements per application: {len(statements)} {statements}")
    assert len(statements) <= 9, statements  # 9 on 3 Dec 2026 (stop 30), 11 before, 20 on 28 Nov


# --- the calendar: a termination takes effect at the month's end, a group ends ------------

REGION = ZoneInfo("Asia/Krasnoyarsk")


def region_instant(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=REGION).isoformat()


def outbox_data(engines, enrollment_id, event_type):
    with engines["enrollment"].connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT body->'data' FROM outbox WHERE type = :t"
                " AND body->'data'->>'enrollment_id' = :e"
            ),
            {"t": event_type, "e": enrollment_id},
        ).scalar()


def test_termination_keeps_the_seat_to_the_months_end_then_the_sweep_frees_and_promotes(
    rpc, engines, period
):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    parent_id = world.parent(engines["accounts"])
    first_child, second_child = world.children(engines["accounts"], parent_id, 2)
    body = {"group_id": group_id, "start_date": START}
    first = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": first_child})
    second = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": second_child})
    staff = world.provider(engines["accounts"], org)
    rpc.enrollment.decide(staff, first["id"], "confirm")
    today = clock.today()

    ended = rpc.enrollment.decide(staff, first["id"], "terminate", "отчислен")
    last_day = date.fromisoformat(ended["effective_end_date"])
    assert last_day == min(
        enrollment_domain.end_of_month(today), date.fromisoformat(first["end_date"])
    )
    assert (ended["status"], ended["seat_held"], ended["money"]) == ("terminated", True, "contract")
    assert seats(engines, group_id) == {"capacity": 1, "held": 0, "enrolled": 1, "holds": 1}
    waiting = rpc.enrollment.get_enrollment(None, second["id"])
    assert (waiting["status"], waiting["waitlist_position"]) == ("waitlisted", 1)
    # the event's data contract (payments ends the contract from it) is unchanged
    assert outbox_data(engines, first["id"], "enrollment_terminated") == {
        "enrollment_id": first["id"], "child_id": first_child, "group_id": group_id,
        "effective_end_date": last_day.isoformat(), "reason": "отчислен",
    }  # fmt: skip
    # terminating again changes nothing
    assert rpc.enrollment.decide(staff, first["id"], "terminate")["effective_end_date"] == (
        last_day.isoformat()
    )
    # the child keeps its place to the last day: applying again takes no second seat
    with pytest.raises(Conflict) as again:
        rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": first_child})
    assert again.value.code == "already_applied"
    assert seats(engines, group_id) == {"capacity": 1, "held": 0, "enrolled": 1, "holds": 1}

    # its last day, to the last minute: the child still attends
    swept = rpc.enrollment.end_due(region_instant(last_day, 23, 59))
    assert first["id"] not in swept["seats_freed"]
    assert seats(engines, group_id)["enrolled"] == 1

    # the day after: the seat comes back and goes to the first on the list
    swept = rpc.enrollment.end_due(region_instant(last_day + timedelta(days=1), 0, 1))
    assert first["id"] in swept["seats_freed"]
    done = rpc.enrollment.get_enrollment(None, first["id"])
    assert (done["status"], done["seat_held"]) == ("terminated", False)
    assert done["history"][-1]["reason"] == "seat_freed_after_effective_end"
    promoted = rpc.enrollment.get_enrollment(None, second["id"])
    assert promoted["status"] == "awaiting_provider" and promoted["seat_held"] is True
    assert seats(engines, group_id) == {"capacity": 1, "held": 1, "enrolled": 0, "holds": 1}
    assert outbox_types(engines, second["id"])[-1] == "enrollment_promoted"
    assert outbox_types(engines, first["id"])[-1] == "enrollment_terminated"
    # a second sweep changes nothing
    again = rpc.enrollment.end_due(region_instant(last_day + timedelta(days=2), 0, 1))
    assert first["id"] not in again["seats_freed"]
    assert seats(engines, group_id) == {"capacity": 1, "held": 1, "enrolled": 0, "holds": 1}


def test_an_enrollment_completes_by_the_sweep_once_its_group_ended(rpc, engines, period):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    group_end = date(2027, 1, 31)  # earlier than other tests' groups: only ours are due
    for engine, table in ((engines["catalog"], "study_groups"), (engines["enrollment"], "groups")):
        with engine.begin() as conn:  # the catalog's change, and what its event tells enrollment
            conn.execute(
                sa.text(f"UPDATE {table} SET end_date = :end WHERE id = :g"),  # noqa: S608
                {"end": group_end, "g": group_id},
            )
    parent_id = world.parent(engines["accounts"])
    first_child, second_child = world.children(engines["accounts"], parent_id, 2)
    body = {"group_id": group_id, "start_date": START}
    first = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": first_child})
    second = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": second_child})
    assert first["end_date"] == group_end.isoformat()
    staff = world.provider(engines["accounts"], org)
    rpc.enrollment.decide(staff, first["id"], "confirm")

    swept = rpc.enrollment.end_due(region_instant(group_end, 23, 59))
    assert first["id"] not in swept["completed"]
    assert rpc.enrollment.get_enrollment(None, first["id"])["status"] == "enrolled"

    swept = rpc.enrollment.end_due(region_instant(group_end + timedelta(days=1), 0, 1))
    assert swept["completed"] == [first["id"]]
    done = rpc.enrollment.get_enrollment(None, first["id"])
    assert (done["status"], done["seat_held"], done["money"]) == ("completed", False, "contract")
    assert done["history"][-1] == {**done["history"][-1], "status": "completed",
                                   "actor": "system", "reason": "group_ended"}  # fmt: skip
    # the seat is freed, and nobody is promoted into a group that ended
    assert seats(engines, group_id) == {"capacity": 1, "held": 0, "enrolled": 0, "holds": 0}
    assert rpc.enrollment.get_enrollment(None, second["id"])["status"] == "waitlisted"
    assert outbox_types(engines, first["id"])[-1] == "enrollment_completed"
    data = outbox_data(engines, first["id"], "enrollment_completed")
    assert data == {
        "enrollment_id": first["id"], "child_id": first_child, "parent_id": parent_id,
        "group_id": group_id, "program_id": first["program_id"], "organization_id": org,
        "status": "completed", "start_date": START, "end_date": group_end.isoformat(),
    }  # fmt: skip
    assert (
        rpc.enrollment.end_due(region_instant(group_end + timedelta(days=2), 0, 1))["completed"]
        == []
    )
    with pytest.raises(Conflict):  # a completed enrollment is not terminated any more
        rpc.enrollment.decide(staff, first["id"], "terminate")


def test_a_provider_sees_only_children_who_applied_to_its_organization(
    nameko_config, databases, container_factory, engines, period
):
    """Accounts learns from enrollment's events who applied where: the staff of organization
    A see (masked) the child who applied to A, and a child of the same municipality who
    applied nowhere or only to B is 404 to them."""
    for cls in (EnrollmentService, AccountsService, CertificatesService, CatalogService):
        container_factory(cls).start()
    org_a = world.organization(engines["catalog"])
    org_b = world.organization(engines["catalog"])
    group_a = world.group(engines["catalog"], org_a, registry="paid")
    group_b = world.group(engines["catalog"], org_b, registry="paid")
    parent_id = world.parent(engines["accounts"])
    to_a, to_b, nowhere = world.children(engines["accounts"], parent_id, 3)
    staff_a = world.provider(engines["accounts"], org_a)
    staff_b = world.provider(engines["accounts"], org_b)
    with ClusterRpcClient() as rpc:
        for child, group in ((to_a, group_a), (to_b, group_b)):
            rpc.enrollment.apply(as_parent(parent_id), {"child_id": child, "group_id": group,
                                 "start_date": START, "accept_copay": True})  # fmt: skip

        def shown(staff, child, seconds=10.0):
            deadline = time.monotonic() + seconds
            while True:
                try:
                    return rpc.accounts.show_child(staff, child)
                except NotFound:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        seen = shown(staff_a, to_a)
        assert seen["id"] == to_a and seen["masked"] is True and "*" in seen["snils"]
        assert shown(staff_b, to_b)["id"] == to_b
        for staff, child in ((staff_a, to_b), (staff_a, nowhere), (staff_b, to_a)):
            with pytest.raises(NotFound):
                rpc.accounts.show_child(staff, child)
        page = rpc.accounts.list_children(staff_a, 100, 0)
        assert [c["id"] for c in page["items"]] == [to_a] and page["total"] == 1
        # a staff member whose account is not of the organization in the token sees nothing
        with pytest.raises(NotFound):
            rpc.accounts.show_child({**staff_b, "organization_id": org_a}, to_a)
    with engines["accounts"].connect() as conn:
        recorded = conn.execute(
            sa.text(
                "SELECT organization_id, child_id FROM child_applications"
                " WHERE child_id IN (:a, :b, :n) ORDER BY child_id"
            ),
            {"a": to_a, "b": to_b, "n": nowhere},
        ).all()
    assert [tuple(r) for r in recorded] == [(org_a, to_a), (org_b, to_b)]


# --- issue 18: money rules of an application -----------------------------------------------


def test_a_contract_never_starts_before_the_application_and_defaults_to_the_first_day(
    rpc, engines, period
):
    """Applied on 1 December with a September start, months never attended would be billed:
    refused on `start_date`, nothing held; without a start the contract begins on the day of
    the application (the group started in September)."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    me = as_parent(parent_id)
    for past in ("2026-09-01", "2026-11-30"):
        with pytest.raises(InvalidInput) as refused:
            rpc.enrollment.apply(me, {"child_id": child, "group_id": group_id,
                                      "start_date": past})  # fmt: skip
        assert refused.value.code == "start_in_past" and "start_date" in refused.value.fields
        with pytest.raises(InvalidInput) as quoted:
            rpc.enrollment.quote(me, group_id, child, past)
        assert quoted.value.code == "start_in_past"
    assert rows(engines, group_id) == [] and seats(engines, group_id)["held"] == 0

    applied = rpc.enrollment.apply(me, {"child_id": child, "group_id": group_id})
    assert applied["start_date"] == START == applied["terms"]["start_date"]
    assert applied["terms"]["schedule"][0]["month"] == "2026-12"


def reserved_of(rpc, child_id) -> int:
    """What the child's certificate holds reserved (0 before the child has one)."""
    try:
        return balance(rpc, child_id)["reserved"]
    except NotFound:
        return 0


def test_a_waiting_list_holds_no_money_and_a_promotion_reserves_on_terms_from_its_day(
    rpc, engines, period
):
    """Waitlisted on 1 December, promoted on 15 January: nothing is reserved while it waits;
    at the promotion the contract starts that day (December is not charged) and the share of
    January–May is reserved then."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    parent_id = world.parent(engines["accounts"])
    seated_child, waiting_child = world.children(engines["accounts"], parent_id, 2)
    body = {"group_id": group_id, "start_date": START}
    seated = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": seated_child})
    waiting = rpc.enrollment.apply(as_parent(parent_id), {**body, "child_id": waiting_child})
    assert (waiting["status"], waiting["money"]) == ("waitlisted", "none")
    assert reserved_of(rpc, waiting_child) == 0
    assert reserved_of(rpc, seated_child) == seated["terms"]["certificate_share"] > 0

    clock.travel(timedelta(days=45))  # 15 January 2027
    rpc.enrollment.decide(as_parent(parent_id), seated["id"], "cancel")
    promoted = rpc.enrollment.get_enrollment(None, waiting["id"])
    assert (promoted["status"], promoted["money"]) == ("awaiting_provider", "reserved")
    assert promoted["start_date"] == "2027-01-15" == promoted["terms"]["start_date"]
    assert [p["month"] for p in promoted["terms"]["schedule"]][0] == "2027-01"
    share = promoted["terms"]["certificate_share"]
    assert 0 < share < waiting["terms"]["certificate_share"]
    assert reserved_of(rpc, waiting_child) == share
    assert promoted["decide_by"] == (clock.now() + timedelta(days=5)).isoformat()
    assert outbox_types(engines, waiting["id"]) == ["enrollment_waitlisted", "enrollment_promoted"]


def test_a_promotion_whose_money_is_gone_is_refused_and_the_next_in_line_is_promoted(
    rpc, engines, period
):
    """The rule: an application whose certificate no longer covers its share (and whose parent
    did not accept a co-payment) leaves the list, cancelled with `promotion_refused:...`; the
    seat goes to the next in line, whose money is reserved in turn."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    elsewhere = [world.group(engines["catalog"], org) for _ in range(2)]
    parent_id = world.parent(engines["accounts"])
    first, short, next_ = world.children(engines["accounts"], parent_id, 3)
    me = as_parent(parent_id)
    body = {"group_id": group_id, "start_date": START}
    seated = rpc.enrollment.apply(me, {**body, "child_id": first})
    broke = rpc.enrollment.apply(me, {**body, "child_id": short})
    waiting = rpc.enrollment.apply(me, {**body, "child_id": next_})
    assert (broke["status"], waiting["status"]) == ("waitlisted", "waitlisted")
    # meanwhile the second child's certificate is spent on two other groups
    for other in elsewhere:
        rpc.enrollment.apply(me, {"child_id": short, "group_id": other, "start_date": START,
                                  "accept_copay": True})  # fmt: skip
    assert balance(rpc, short)["available"] == 0
    spent = balance(rpc, short)["reserved"]

    rpc.enrollment.decide(me, seated["id"], "cancel")
    refused = rpc.enrollment.get_enrollment(None, broke["id"])
    assert (refused["status"], refused["seat_held"], refused["money"]) == (
        "cancelled", False, "none"
    )  # fmt: skip
    assert refused["reason"].startswith("promotion_refused:")
    assert balance(rpc, short)["reserved"] == spent  # nothing taken, nothing given back
    assert outbox_types(engines, broke["id"]) == ["enrollment_waitlisted", "enrollment_cancelled"]
    promoted = rpc.enrollment.get_enrollment(None, waiting["id"])
    assert (promoted["status"], promoted["money"]) == ("awaiting_provider", "reserved")
    assert reserved_of(rpc, next_) == promoted["terms"]["certificate_share"] > 0
    assert seats(engines, group_id) == {"capacity": 1, "held": 1, "enrolled": 0, "holds": 1}


def test_the_calendar_expires_an_undecided_application_by_the_business_clock(rpc, engines, period):
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    assert reserved_of(rpc, child) > 0
    clock.travel(timedelta(days=4, hours=23))
    assert applied["id"] not in rpc.enrollment.run_calendar_job("decision_deadlines")["expired"]
    clock.travel(timedelta(hours=1, minutes=1))  # past decide_by
    assert applied["id"] in rpc.enrollment.run_calendar_job("decision_deadlines")["expired"]
    gone = rpc.enrollment.get_enrollment(None, applied["id"])
    assert (gone["status"], gone["money"], gone["reason"]) == (
        "expired", "released", "no_decision_in_time"
    )  # fmt: skip
    assert reserved_of(rpc, child) == 0
    with pytest.raises(NotFound):
        rpc.enrollment.run_calendar_job("no_such_job")


def deadline_digests(engines, organization_id):
    with engines["enrollment"].connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT body->'data' FROM outbox WHERE type = 'decisions_due_tomorrow'"
                    " AND (body->'data'->>'organization_id')::int = :o ORDER BY id"
                ),
                {"o": organization_id},
            )
            .scalars()
            .all()
        )


def test_the_calendar_reminds_of_decisions_due_tomorrow_once_a_day(rpc, engines, period):
    """Issue 23: the day before an application's decide-by (the region's calendar) the
    calendar's `deadline_reminders` emits `application_expiring` for it and one
    `decisions_due_tomorrow` for its organization; a rerun emits nothing more, and an
    application decided by then is left out."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=3)
    parent_id = world.parent(engines["accounts"])
    children = world.children(engines["accounts"], parent_id, 3)
    applied = [
        rpc.enrollment.apply(
            as_parent(parent_id), {"child_id": c, "group_id": group_id, "start_date": START}
        )
        for c in children
    ]
    rpc.enrollment.run_calendar_job("deadline_reminders")  # due in five days: not yet
    assert [outbox_types(engines, a["id"])[-1] for a in applied] == ["enrollment_requested"] * 3
    assert deadline_digests(engines, org) == []
    rejected = applied[2]
    rpc.enrollment.decide(as_provider(org), rejected["id"], "reject", "нет мест")

    clock.travel(timedelta(days=4))  # decide-by is tomorrow
    done = rpc.enrollment.run_calendar_job("deadline_reminders")
    assert done["application_expiring"] >= 2 and done["decisions_due_tomorrow"] >= 1
    due_on = (date.fromisoformat(START) + timedelta(days=5)).isoformat()
    for application in applied[:2]:
        expiring = outbox_data(engines, application["id"], "application_expiring")
        assert (expiring["due_on"], expiring["organization_id"]) == (due_on, org)
        assert expiring["decide_by"].startswith(application["decide_by"][:16])
    assert "application_expiring" not in outbox_types(engines, rejected["id"])
    (digest,) = deadline_digests(engines, org)
    assert digest["due_on"] == due_on
    assert [a["enrollment_id"] for a in digest["applications"]] == [a["id"] for a in applied[:2]]

    rpc.enrollment.run_calendar_job("deadline_reminders")  # a rerun, or another instance
    assert len(deadline_digests(engines, org)) == 1
    for application in applied[:2]:
        assert outbox_types(engines, application["id"]).count("application_expiring") == 1


def test_a_child_who_turns_18_leaves_at_the_end_of_that_month(rpc, engines, period):
    """Born 10 February 2009: the certificate's money ends with the 18th birthday, so the
    enrollment ends on 28 February 2027 (`enrollment_terminated`, payments releases March–May);
    a child whose contract ends in the birthday's month anyway is left to complete."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, min_age=7, max_age=17)
    parent_id = world.parent(engines["accounts"])
    (older,) = world.children(engines["accounts"], parent_id, 1, birth_date=date(2009, 2, 10))
    (may_born,) = world.children(engines["accounts"], parent_id, 1, birth_date=date(2009, 5, 10))
    staff = world.provider(engines["accounts"], org)
    ids = {}
    for child in (older, may_born):
        applied = rpc.enrollment.apply(as_parent(parent_id), {"child_id": child,
                                       "group_id": group_id})  # fmt: skip
        rpc.enrollment.decide(staff, applied["id"], "confirm")
        ids[child] = applied["id"]
    with engines["enrollment"].begin() as conn:  # as if made before the birth date was kept
        conn.execute(
            sa.text("UPDATE enrollments SET child_birth_date = NULL WHERE id = :e"),
            {"e": ids[older]},
        )

    swept = rpc.enrollment.end_due(region_instant(date(2027, 2, 9), 23, 59))
    assert ids[older] not in swept["aged_out"]
    swept = rpc.enrollment.end_due(region_instant(date(2027, 2, 10), 0, 1))
    assert ids[older] in swept["aged_out"] and ids[may_born] not in swept["aged_out"]
    ended = rpc.enrollment.get_enrollment(None, ids[older])
    assert (ended["status"], ended["effective_end_date"], ended["reason"], ended["seat_held"]) == (
        "terminated", "2027-02-28", "turned_18", True
    )  # fmt: skip
    assert outbox_data(engines, ids[older], "enrollment_terminated") == {
        "enrollment_id": ids[older], "child_id": older, "group_id": group_id,
        "effective_end_date": "2027-02-28", "reason": "turned_18",
    }  # fmt: skip
    again = rpc.enrollment.end_due(region_instant(date(2027, 2, 20), 0, 1))
    assert ids[older] not in again["aged_out"]
    assert outbox_types(engines, ids[older]).count("enrollment_terminated") == 1
    assert (
        ids[older] in rpc.enrollment.end_due(region_instant(date(2027, 3, 1), 0, 1))["seats_freed"]
    )
    swept = rpc.enrollment.end_due(region_instant(date(2027, 5, 10), 12, 0))
    assert ids[may_born] not in swept["aged_out"]
    assert rpc.enrollment.get_enrollment(None, ids[may_born])["status"] == "enrolled"


def test_a_group_whose_end_moves_earlier_ends_its_contracts_there(
    nameko_config, databases, container_factory, engines, period
):
    for cls in (EnrollmentService, AccountsService, CertificatesService, CatalogService):
        container_factory(cls).start()
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    staff = world.provider(engines["accounts"], org)
    with ClusterRpcClient() as rpc:
        applied = rpc.enrollment.apply(as_parent(parent_id), {"child_id": child,
                                       "group_id": group_id})  # fmt: skip
        rpc.enrollment.decide(staff, applied["id"], "confirm")
        assert applied["end_date"] == "2027-05-31"
        assert applied["id"] not in rpc.enrollment.run_calendar_job("end_due")["group_shortened"]
        rpc.catalog.update_group(staff, group_id, {"end_date": "2027-01-15"})
        # enrollment learns it from the catalog's `group_changed` (its own copy of the facts)
        until_enrollment_knows(engines, group_id, "end_date", date(2027, 1, 15))
        swept = rpc.enrollment.run_calendar_job("end_due")
        assert applied["id"] in swept["group_shortened"]
        ended = rpc.enrollment.get_enrollment(None, applied["id"])
        assert (ended["status"], ended["effective_end_date"], ended["reason"]) == (
            "terminated", "2027-01-15", "group_shortened"
        )  # fmt: skip
        assert applied["id"] not in rpc.enrollment.run_calendar_job("end_due")["group_shortened"]
    assert outbox_data(engines, applied["id"], "enrollment_terminated")["effective_end_date"] == (
        "2027-01-15"
    )


def test_the_recovery_measures_its_grace_on_the_records_time_not_the_business_clock(
    rpc, engines, period, monkeypatch
):
    """The business clock of these tests stands on 1 December, before the rows' real
    `updated_at`: a grace measured on it would hold the recovery off for ever (as a
    demonstration's clock started in the past would)."""
    from sqlalchemy.orm import Session

    from services.enrollment import operations

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    enrollment_id = str(uuid.uuid4())
    with Session(engines["enrollment"], info={"producer": "enrollment"}) as session:
        operations.open_application(
            session, enrollment_id=enrollment_id, child=rpc.accounts.get_child(child),
            group_id=group_id, start_date=None, accept_copay=False,
            periods=rpc.certificates.list_periods(), today=clock.today(),
        )  # fmt: skip
        session.commit()
    monkeypatch.setenv("ENROLLMENT_SETTLE_GRACE_SECONDS", "0")
    time.sleep(0.1)
    assert rpc.enrollment.settle()["driven"] >= 1
    done = rpc.enrollment.get_enrollment(None, enrollment_id)
    assert (done["status"], done["money"]) == ("awaiting_provider", "reserved")
    assert done["decide_by"] == (clock.now() + timedelta(days=5)).isoformat()


# --- issue 20: a repeat answers the first result; an unknown outcome stays pending ---------


def reservations_of(engines, enrollment_id):
    with engines["certificates"].connect() as conn:
        return conn.execute(
            sa.text("SELECT coalesce(sum(reserved), 0) FROM reservations WHERE enrollment_id = :e"),
            {"e": enrollment_id},
        ).scalar()


def one_child_one_group(engines):
    """(organization, group, parent, child, the body of the child's application)."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    return org, group_id, parent_id, child, {"child_id": child, "group_id": group_id,
                                             "start_date": START}  # fmt: skip


def test_a_repeat_of_one_operation_answers_the_application_it_opened(rpc, engines, period):
    """The operation id (the gateway's, from the Idempotency-Key) is the application's id: a
    repeat opens nothing and answers the first application, not 409 already_applied."""
    org, group_id, parent_id, child, body = one_child_one_group(engines)
    operation = str(uuid.uuid4())

    first = rpc.enrollment.apply(as_parent(parent_id), body, operation)
    again = rpc.enrollment.apply(as_parent(parent_id), body, operation)

    assert first["id"] == again["id"] == operation
    assert (again["status"], again["money"]) == ("awaiting_provider", "reserved")
    assert [r.id for r in rows(engines, group_id)] == [operation]
    assert outbox_types(engines, operation) == ["enrollment_requested"]
    # another operation of the same child and group is refused, naming the application
    with pytest.raises(Conflict) as refused:
        rpc.enrollment.apply(as_parent(parent_id), body, str(uuid.uuid4()))
    assert refused.value.code == "already_applied"
    assert refused.value.extra["enrollment_id"] == operation
    # the same operation id for another group is the key reused for another request
    other = world.group(engines["catalog"], org)
    with pytest.raises(InvalidInput) as reused:
        rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": other}, operation)
    assert reused.value.code == "idempotency_key_reused"


def test_an_unknown_money_outcome_stays_pending_and_the_repeat_answers_it(
    rpc, engines, period, monkeypatch
):
    """The reservation was made but its answer lost (a timeout): the application is not
    compensated at once, it stays pending; the repeat of the operation finds it, settles its
    money (the reservation is idempotent) and answers it."""
    from servicekit.errors import ServiceUnavailable
    from services.enrollment import saga

    _, group_id, parent_id, child, body = one_child_one_group(engines)
    operation = str(uuid.uuid4())
    reserve = saga.Certificates.reserve

    def reserved_then_lost(self, *args):
        reserve(self, *args)
        raise ServiceUnavailable("service certificates did not answer", code="service_timeout")

    monkeypatch.setattr(saga.Certificates, "reserve", reserved_then_lost)
    with pytest.raises(ServiceUnavailable):
        rpc.enrollment.apply(as_parent(parent_id), body, operation)
    (row,) = rows(engines, group_id)
    assert (row.id, row.status, row.money, row.seat_held) == (
        operation,
        "requested",
        "pending",
        True,
    )
    share = reservations_of(engines, operation)
    assert share > 0

    monkeypatch.setattr(saga.Certificates, "reserve", reserve)
    again = rpc.enrollment.apply(as_parent(parent_id), body, operation)
    assert (again["id"], again["status"], again["money"]) == (
        operation,
        "awaiting_provider",
        "reserved",
    )
    assert reservations_of(engines, operation) == share == again["terms"]["certificate_share"]
    assert balance(rpc, child)["reserved"] == share
    assert seats(engines, group_id)["held"] == 1


def test_a_retry_is_not_refused_for_the_money_of_an_abandoned_application(
    rpc, engines, period, monkeypatch
):
    """An application closed while certificates was away keeps its reservation until the
    recovery gives it back: a new application of the child gives it back first, then judges
    its own money, instead of answering copay_not_accepted for the parent's own money."""
    from servicekit.errors import ServiceUnavailable
    from services.enrollment import saga

    first, second, parent_id, child, body = two_groups_one_child(engines)
    one = rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": first})

    def away(self, *args):
        raise ServiceUnavailable("service certificates did not answer", code="service_timeout")

    monkeypatch.setattr(saga.Certificates, "release", away)
    cancelled = rpc.enrollment.decide(as_parent(parent_id), one["id"], "cancel")
    assert (cancelled["status"], cancelled["money"]) == ("cancelled", "release_pending")
    monkeypatch.undo()
    assert balance(rpc, child)["reserved"] == one["terms"]["certificate_share"]

    two = rpc.enrollment.apply(as_parent(parent_id), {**body, "group_id": second})
    assert (two["status"], two["money"]) == ("awaiting_provider", "reserved")
    assert two["terms"]["copay"] == 0
    assert rpc.enrollment.get_enrollment(None, one["id"])["money"] == "released"
    assert balance(rpc, child)["reserved"] == two["terms"]["certificate_share"]


def test_nothing_is_opened_past_the_callers_deadline(rpc, engines, period):
    """An apply whose caller's deadline passed while it asked accounts and certificates opens
    no application (503 deadline_passed): the caller has been answered 503 already."""
    from sqlalchemy.orm import Session

    from servicekit.errors import ServiceUnavailable
    from services.enrollment import saga

    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    (child,) = world.children(engines["accounts"], parent_id, 1)
    facts = rpc.accounts.get_child(child)

    class Periods:
        def periods(self):
            return rpc.certificates.list_periods()

    with Session(engines["enrollment"], info={"producer": "enrollment"}) as session:
        with pytest.raises(ServiceUnavailable) as late:
            saga.apply(
                session, Periods(), child=facts, group_id=group_id,
                start_date=date.fromisoformat(START), accept_copay=False, today=clock.today(),
                now=clock.now(), enrollment_id=str(uuid.uuid4()), deadline=time.time() - 0.1,
            )  # fmt: skip
    assert late.value.code == "deadline_passed"
    assert rows(engines, group_id) == [] and seats(engines, group_id)["held"] == 0
