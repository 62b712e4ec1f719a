"""The enrollment state machine and its rules, called directly (no server)."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.enrollment import domain
from services.enrollment.domain import (
    AWAITING_PROVIDER,
    CANCELLED,
    COMPLETED,
    ENROLLED,
    EXPIRED,
    REJECTED,
    REQUESTED,
    STATUSES,
    TERMINATED,
    WAITLISTED,
    InvalidField,
    Parties,
    TransitionRefused,
)

ALLOWED = {
    (REQUESTED, AWAITING_PROVIDER),
    (REQUESTED, WAITLISTED),
    (REQUESTED, REJECTED),
    (REQUESTED, CANCELLED),
    (REQUESTED, EXPIRED),
    (WAITLISTED, AWAITING_PROVIDER),
    (WAITLISTED, REJECTED),
    (WAITLISTED, CANCELLED),
    (WAITLISTED, EXPIRED),
    (AWAITING_PROVIDER, ENROLLED),
    (AWAITING_PROVIDER, REJECTED),
    (AWAITING_PROVIDER, CANCELLED),
    (AWAITING_PROVIDER, EXPIRED),
    (ENROLLED, COMPLETED),
    (ENROLLED, TERMINATED),
}


@pytest.mark.parametrize("current,target", sorted(ALLOWED))
def test_every_transition_of_the_lifecycle_is_allowed(current, target):
    assert domain.transition(current, target) is True


@pytest.mark.parametrize(
    "current,target",
    [(c, t) for c in STATUSES for t in STATUSES if c != t and (c, t) not in ALLOWED],
)
def test_a_transition_from_a_wrong_state_is_refused(current, target):
    with pytest.raises(TransitionRefused) as refused:
        domain.transition(current, target)
    assert refused.value.code == "transition_refused"
    assert (refused.value.current, refused.value.target) == (current, target)


@pytest.mark.parametrize("status", STATUSES)
def test_a_replayed_transition_changes_nothing(status):
    assert domain.transition(status, status) is False


def test_final_statuses_lead_nowhere_and_live_ones_do():
    for status in domain.FINAL:
        assert domain.allowed(status) == ()
    for status in domain.LIVE:
        assert domain.allowed(status)


def test_unknown_statuses_are_programming_errors():
    with pytest.raises(ValueError):
        domain.transition("requested", "approved")
    with pytest.raises(ValueError):
        domain.allowed("lost")


def test_money_step_puts_a_seated_application_before_the_provider_else_on_the_list():
    assert domain.after_seat_step(True) == AWAITING_PROVIDER
    assert domain.after_seat_step(False) == WAITLISTED


def test_only_applications_that_never_became_a_contract_release_their_reservation():
    assert set(domain.RELEASES_RESERVATION) == {REJECTED, CANCELLED, EXPIRED}
    assert TERMINATED not in domain.RELEASES_RESERVATION
    assert COMPLETED not in domain.RELEASES_RESERVATION


def test_a_termination_keeps_its_seat_and_a_completion_frees_it_without_promoting():
    # the terminated child attends to the month's end: the seat is not freed at the decision
    assert TERMINATED not in domain.FREES_SEAT
    assert domain.KEEPS_SEAT_UNTIL_EFFECTIVE_END == (TERMINATED,)
    assert set(domain.FREES_SEAT) == {REJECTED, CANCELLED, EXPIRED, COMPLETED}
    assert COMPLETED not in domain.PROMOTES_ON_FREE
    assert set(domain.PROMOTES_ON_FREE) == {REJECTED, CANCELLED, EXPIRED}


@pytest.mark.parametrize(
    "today,contract_end,effective",
    [
        (date(2026, 11, 30), date(2027, 5, 31), date(2026, 11, 30)),  # its last day
        (date(2026, 12, 1), date(2027, 5, 31), date(2026, 12, 31)),
        (date(2027, 2, 10), date(2027, 5, 31), date(2027, 2, 28)),
        (date(2027, 5, 3), date(2027, 5, 20), date(2027, 5, 20)),  # the contract ends sooner
        (date(2027, 5, 20), date(2027, 5, 20), date(2027, 5, 20)),
    ],
)
def test_termination_ends_at_the_months_end_or_the_contracts_if_sooner(
    today, contract_end, effective
):
    assert domain.termination_end(today, contract_end) == effective


def test_a_terminated_seat_comes_back_only_after_its_last_day():
    last = date(2026, 11, 30)
    assert not domain.seat_due_back(TERMINATED, True, last, date(2026, 11, 30))
    assert domain.seat_due_back(TERMINATED, True, last, date(2026, 12, 1))
    assert not domain.seat_due_back(TERMINATED, False, last, date(2026, 12, 1))  # given back
    assert not domain.seat_due_back(ENROLLED, True, last, date(2026, 12, 1))
    assert not domain.seat_due_back(TERMINATED, True, None, date(2026, 12, 1))


def test_an_enrollment_completes_once_its_group_ended():
    group_end = date(2027, 5, 31)
    assert not domain.has_ended(ENROLLED, group_end, date(2027, 5, 31))
    assert domain.has_ended(ENROLLED, group_end, date(2027, 6, 1))
    for status in (TERMINATED, AWAITING_PROVIDER, WAITLISTED, COMPLETED):
        assert not domain.has_ended(status, group_end, date(2027, 6, 1))
    assert domain.transition(ENROLLED, COMPLETED) is True
    for wrong in (AWAITING_PROVIDER, TERMINATED, WAITLISTED):
        with pytest.raises(TransitionRefused):
            domain.transition(wrong, COMPLETED)
    # a seat given back in an ended group promotes nobody
    assert domain.promotes_after_release(group_end, date(2027, 5, 31))
    assert not domain.promotes_after_release(group_end, date(2027, 6, 1))


def test_provider_has_five_days_then_the_application_is_overdue():
    held = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
    deadline = domain.decision_deadline(held)
    assert deadline == datetime(2026, 9, 6, 10, 0, tzinfo=UTC)
    assert not domain.is_overdue(
        AWAITING_PROVIDER, deadline, datetime(2026, 9, 6, 9, 59, tzinfo=UTC)
    )
    assert domain.is_overdue(AWAITING_PROVIDER, deadline, deadline)
    assert not domain.is_overdue(WAITLISTED, deadline, deadline)  # nobody decides a waitlist
    assert not domain.is_overdue(ENROLLED, deadline, deadline)


@pytest.mark.parametrize(
    "day,end",
    [
        (date(2026, 9, 15), date(2026, 9, 30)),
        (date(2027, 2, 1), date(2027, 2, 28)),
        (date(2028, 2, 29), date(2028, 2, 29)),
        (date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_termination_takes_effect_at_the_end_of_the_month(day, end):
    assert domain.end_of_month(day) == end


def test_age_on_the_first_day_of_study_must_fit_the_group():
    domain.check_age(date(2019, 9, 1), date(2026, 9, 1), 7, 12)  # seven that very day
    with pytest.raises(InvalidField) as young:
        domain.check_age(date(2019, 9, 2), date(2026, 9, 1), 7, 12)
    assert (young.value.code, young.value.field) == ("age_mismatch", "child_id")
    with pytest.raises(InvalidField):
        domain.check_age(date(2013, 8, 31), date(2026, 9, 1), 7, 12)  # thirteen
    assert domain.age_on(date(2016, 2, 29), date(2027, 2, 28)) == 11


def test_closed_group_and_unaccepted_copay_are_refused():
    with pytest.raises(InvalidField) as closed:
        domain.check_open(False)
    assert closed.value.code == "enrollment_closed"
    domain.check_open(True)
    domain.check_copay(0, False)
    domain.check_copay(150_00, True)
    with pytest.raises(InvalidField) as copay:
        domain.check_copay(1, False)
    assert (copay.value.code, copay.value.field) == ("copay_not_accepted", "accept_copay")


PARTIES = Parties(
    parent_id=10, organization_id=3, organization_municipality="krasnoyarsk",
    child_municipality="achinsk",
)  # fmt: skip


@pytest.mark.parametrize(
    "principal,seen",
    [
        (None, True),
        ({"role": "parent", "user_id": 10}, True),
        ({"role": "parent", "user_id": 11}, False),
        ({"role": "provider", "user_id": 5, "organization_id": 3}, True),
        ({"role": "provider", "user_id": 5, "organization_id": 4}, False),
        ({"role": "provider", "user_id": 5, "organization_id": None}, False),
        ({"role": "municipal_operator", "municipality_code": "krasnoyarsk"}, True),
        ({"role": "municipal_operator", "municipality_code": "achinsk"}, True),
        ({"role": "municipal_operator", "municipality_code": "norilsk"}, False),
        ({"role": "regional_operator"}, True),
    ],
)
def test_who_sees_an_application(principal, seen):
    assert domain.sees(principal, PARTIES) is seen


@pytest.mark.parametrize(
    "role,action,allowed",
    [
        ("own_parent", "cancel", True),
        ("own_parent", "terminate", True),
        ("own_parent", "confirm", False),
        ("own_parent", "reject", False),
        ("other_parent", "cancel", False),
        ("other_parent", "terminate", False),
        ("own_provider", "confirm", True),
        ("own_provider", "reject", True),
        ("own_provider", "terminate", True),
        ("own_provider", "cancel", False),
        ("other_provider", "confirm", False),
        ("other_provider", "reject", False),
        ("other_provider", "terminate", False),
        ("municipal", "confirm", False),
        ("regional", "cancel", False),
    ],
)
def test_who_may_decide_cancel_or_terminate(role, action, allowed):
    principals = {
        "own_parent": {"role": "parent", "user_id": 10},
        "other_parent": {"role": "parent", "user_id": 11},
        "own_provider": {"role": "provider", "organization_id": 3},
        "other_provider": {"role": "provider", "organization_id": 4},
        "municipal": {"role": "municipal_operator", "municipality_code": "krasnoyarsk"},
        "regional": {"role": "regional_operator"},
    }
    assert domain.may(principals[role], action, PARTIES) is allowed


# --- issue 18: dates of the money -------------------------------------------------------------


def test_a_start_before_the_application_day_is_refused_on_start_date():
    with pytest.raises(domain.InvalidField) as refused:
        domain.check_start(date(2026, 9, 1), date(2026, 12, 3))
    assert refused.value.code == "start_in_past" and "start_date" in refused.value.fields
    domain.check_start(date(2026, 12, 3), date(2026, 12, 3))  # today is fine


def test_the_first_day_is_today_or_the_groups_start_and_a_promotion_starts_on_its_day():
    assert domain.first_day(date(2026, 9, 1), date(2027, 5, 31), date(2026, 12, 3)) == date(
        2026, 12, 3
    )
    assert domain.first_day(date(2027, 2, 1), date(2027, 5, 31), date(2026, 12, 3)) == date(
        2027, 2, 1
    )
    # asked for 1 December, promoted on 15 January: January the 15th
    assert domain.promoted_start(
        date(2026, 12, 1), date(2026, 9, 1), date(2027, 5, 31), date(2027, 1, 15)
    ) == date(2027, 1, 15)
    # asked for March, promoted in January: March still
    assert domain.promoted_start(
        date(2027, 3, 1), date(2026, 9, 1), date(2027, 5, 31), date(2027, 1, 15)
    ) == date(2027, 3, 1)


def test_the_18th_birthday_ends_a_contract_at_the_end_of_its_month():
    born = date(2009, 2, 10)
    assert domain.aged_out_end(born, date(2027, 5, 31), date(2027, 2, 9)) is None
    assert domain.aged_out_end(born, date(2027, 5, 31), date(2027, 2, 10)) == date(2027, 2, 28)
    assert domain.aged_out_end(born, date(2027, 2, 28), date(2027, 2, 10)) is None  # ends anyway
    assert domain.aged_out_end(None, date(2027, 5, 31), date(2027, 2, 10)) is None
    assert domain.eighteenth_birthday(date(2008, 2, 29)) == date(2026, 2, 28)
    assert domain.shortened_end(date(2027, 5, 31), date(2027, 1, 15)) == date(2027, 1, 15)
    assert domain.shortened_end(date(2027, 1, 15), date(2027, 5, 31)) is None


# --- seat allocation: capacity, arrival order, promotion -------------------------------------


def test_the_first_arrivals_hold_the_seats_and_the_rest_wait_in_arrival_order():
    assert domain.seating(2, ["a", "b", "c", "d"]) == domain.Seating(("a", "b"), ("c", "d"))
    assert domain.seating(5, ["a", "b"]) == domain.Seating(("a", "b"), ())
    assert domain.seating(0, ["a"]) == domain.Seating((), ("a",))


def test_a_freed_seat_goes_to_the_first_on_the_list_and_a_leaving_waiter_frees_nothing():
    assert domain.seating(2, ["a", "b", "c", "d"], left={"a"}) == domain.Seating(("b", "c"), ("d",))
    assert domain.seating(2, ["a", "b", "c", "d"], left={"c"}) == domain.Seating(("a", "b"), ("d",))
    assert domain.seating(2, ["a", "b", "c"], left={"a", "b", "c"}) == domain.Seating((), ())


def test_seating_refuses_what_cannot_be():
    with pytest.raises(ValueError):
        domain.seating(-1, ["a"])
    with pytest.raises(ValueError):
        domain.seating(1, ["a", "a"])


def _replay(capacity, steps):
    """The sequential process the services run, one step at a time: an arrival holds a free
    seat or joins the end of the list; a leaving seated application's seat goes to the first
    on the list; a leaving waiter just leaves."""
    seated, waiting, arrivals, left = [], [], [], set()
    for kind, who in steps:
        if kind == "arrive":
            arrivals.append(who)
            (seated if len(seated) < capacity else waiting).append(who)
        else:
            left.add(who)
            if who in seated:
                seated.remove(who)
                if waiting:
                    seated.append(waiting.pop(0))
            else:
                waiting.remove(who)
    return arrivals, left, seated, waiting


@pytest.mark.parametrize("seed", range(200))
def test_any_interleaving_of_arrivals_and_leavings_ends_where_seating_says(seed):
    import random

    rng = random.Random(seed)
    capacity = rng.randint(0, 6)
    steps, present, counter = [], [], 0
    for _ in range(rng.randint(1, 40)):
        if present and rng.random() < 0.35:
            who = present.pop(rng.randrange(len(present)))
            steps.append(("leave", who))
        else:
            counter += 1
            present.append(f"a{counter}")
            steps.append(("arrive", f"a{counter}"))
    arrivals, left, seated, waiting = _replay(capacity, steps)
    expected = domain.seating(capacity, arrivals, left)
    # the seated are a set (a promoted one sits after later seated ones in the replay)
    assert sorted(seated, key=arrivals.index) == list(expected.seated)
    assert waiting == list(expected.waiting)


# --- the money's own machine, and a move's effects as data ----------------------------------

MONEY_ALLOWED = {
    ("pending", "reserved"),
    ("pending", "none"),
    ("pending", "release_pending"),
    ("reserved", "contract"),
    ("reserved", "release_pending"),
    ("reserved", "pending"),
    ("none", "pending"),
    ("release_pending", "released"),
    ("released", "release_pending"),  # closing asks certificates again (idempotent)
}


@pytest.mark.parametrize("current", domain.MONEY_STATES)
@pytest.mark.parametrize("target", domain.MONEY_STATES)
def test_the_money_moves_only_as_its_table_says_and_a_replay_is_a_no_op(current, target):
    if current == target:
        assert domain.money_transition(current, target) is False
    elif (current, target) in MONEY_ALLOWED:
        assert domain.money_transition(current, target) is True
    else:
        with pytest.raises(TransitionRefused):
            domain.money_transition(current, target)


def test_confirming_takes_the_seat_and_hands_the_money_to_the_contract():
    change = domain.move(AWAITING_PROVIDER, ENROLLED, seat_held=True, money="reserved")
    assert change == domain.Move(
        status=ENROLLED, money="contract", seat="confirm", seat_held=True, decide_by="clear",
        fixes_effective_end=False, promotes=False, event="enrollment_confirmed",
    )  # fmt: skip


def test_closing_a_seated_application_frees_its_seat_promotes_and_gives_the_money_back():
    for target in (REJECTED, CANCELLED, EXPIRED):
        change = domain.move(AWAITING_PROVIDER, target, seat_held=True, money="reserved")
        assert (change.seat, change.seat_held, change.promotes, change.money) == (
            "release", False, True, "release_pending"
        )  # fmt: skip


def test_a_waiter_leaving_frees_no_seat_and_holds_no_money_to_give_back():
    change = domain.move(WAITLISTED, CANCELLED, seat_held=False, money="none")
    assert (change.seat, change.promotes, change.money, change.event) == (
        None, False, "none", "enrollment_cancelled"
    )  # fmt: skip


def test_a_completed_group_frees_the_seat_and_promotes_nobody():
    change = domain.move(ENROLLED, COMPLETED, seat_held=True, money="contract")
    assert (change.seat, change.promotes, change.money) == ("release", False, "contract")


def test_a_termination_keeps_the_seat_to_its_last_day():
    change = domain.move(ENROLLED, TERMINATED, seat_held=True, money="contract")
    assert (change.seat, change.seat_held, change.fixes_effective_end) == (None, True, True)


def test_a_replayed_move_does_nothing_and_a_wrong_one_is_refused_by_either_machine():
    assert domain.move(ENROLLED, ENROLLED, seat_held=True, money="contract") is None
    with pytest.raises(TransitionRefused):
        domain.move(REJECTED, ENROLLED, seat_held=False, money="released")
    with pytest.raises(TransitionRefused):  # the status may move, the money may not
        domain.move(AWAITING_PROVIDER, ENROLLED, seat_held=True, money="released")


def test_enrollment_keeps_the_catalogs_facts_of_a_group_by_its_own_column_names():
    from services.enrollment import groups

    facts = {
        "group_id": 7, "program_id": 3, "organization_id": 2,
        "organization_municipality": "krasnoyarsk", "organization_status": "active",
        "program_status": "published", "direction": "technical", "registry": "certified",
        "certified": True, "schedule": [{"weekday": 2, "start": "16:00", "end": "17:00"}],
        "start_date": "2026-09-01", "end_date": "2027-05-31", "min_age": 7, "max_age": 12,
        "price_kopecks": 900_000, "normative_cost_kopecks": 800_000, "enrollment_open": True,
        "capacity": 20, "a_fact_added_later": 1,
    }  # fmt: skip
    row = groups.row_of(facts)
    assert row["id"] == 7 and row["registry"] == "certified" and "group_id" not in row
    assert (row["start_date"], row["end_date"]) == (date(2026, 9, 1), date(2027, 5, 31))
    assert "a_fact_added_later" not in row
    # a refresh never sets the capacity (set_capacity does) nor the seats (enrollment's own)
    assert not {"capacity", "held", "enrolled", "seats_version"} & set(groups.FACT_COLUMNS)


def test_an_application_is_due_tomorrow_only_the_day_before_its_decide_by_while_undecided():
    today = date(2026, 12, 3)
    assert domain.decides_tomorrow(domain.AWAITING_PROVIDER, date(2026, 12, 4), today)
    assert not domain.decides_tomorrow(domain.AWAITING_PROVIDER, date(2026, 12, 5), today)
    assert not domain.decides_tomorrow(domain.AWAITING_PROVIDER, date(2026, 12, 3), today)
    assert not domain.decides_tomorrow(domain.AWAITING_PROVIDER, None, today)
    assert not domain.decides_tomorrow(domain.ENROLLED, date(2026, 12, 4), today)
    # the last day of a month and of a year
    assert domain.decides_tomorrow(domain.AWAITING_PROVIDER, date(2027, 1, 1), date(2026, 12, 31))


def test_the_digest_groups_applications_per_organization_in_their_order():
    from types import SimpleNamespace as Row

    rows = [Row(organization_id=o, n=n) for n, o in enumerate((7, 5, 7, 5, 9))]
    grouped = domain.by_organization(rows)
    assert list(grouped) == [7, 5, 9]
    assert [r.n for r in grouped[7]] == [0, 2] and [r.n for r in grouped[5]] == [1, 3]


# --- the application, a plain object --------------------------------------------------------


def application(**changes) -> domain.Application:
    base = domain.Application(
        id="00000000-0000-0000-0000-000000000001", child_id=1, parent_id=2, group_id=3,
        program_id=4, organization_id=5, organization_municipality="krasnoyarsk",
        child_municipality="achinsk", child_birth_date=date(2015, 1, 1), status=REQUESTED,
        arrival=7, seat_held=True, accept_copay=False, start_date=date(2026, 12, 1),
        end_date=date(2027, 5, 31), terms={}, period_id=1, certificate_number=None,
        money=domain.PENDING, reason=None, decide_by=None, effective_end_date=None,
    )  # fmt: skip
    return replace(base, **changes)


def test_the_application_has_a_field_for_every_column_of_its_row_and_nothing_else():
    """store.py turns a row into an Application and back by these names: a column added to
    the table without the field (or the reverse) fails here, not in production."""
    from dataclasses import fields

    from services.enrollment.models import Enrollment, EnrollmentGroup

    assert {f.name for f in fields(domain.Application)} == set(Enrollment.__table__.columns.keys())
    group_columns = set(EnrollmentGroup.__table__.columns.keys()) - {"facts_at", "registry"}
    assert {f.name for f in fields(domain.Group)} == group_columns | {"registry_code"}


def test_a_move_answers_the_application_after_it_and_leaves_the_one_before_as_it_was():
    deadline = datetime(2026, 12, 6, tzinfo=UTC)
    before = application(money=domain.RESERVED)
    change = domain.move(REQUESTED, AWAITING_PROVIDER, seat_held=True, money=domain.RESERVED)
    after = before.moved(change, reason=None, decide_by=deadline, effective_end_date=None)
    assert (after.status, after.money, after.seat_held, after.decide_by) == (
        AWAITING_PROVIDER, domain.RESERVED, True, deadline
    )  # fmt: skip
    assert (before.status, before.decide_by) == (REQUESTED, None)

    change = domain.move(AWAITING_PROVIDER, REJECTED, seat_held=True, money=domain.RESERVED)
    rejected = after.moved(change, reason="мест нет", decide_by=deadline, effective_end_date=None)
    assert (rejected.status, rejected.money, rejected.seat_held, rejected.decide_by) == (
        REJECTED, domain.RELEASE_PENDING, False, None
    )  # fmt: skip
    assert rejected.reason == "мест нет"


def test_only_a_termination_fixes_its_last_day_and_a_kept_deadline_stays():
    enrolled = application(status=ENROLLED, money=domain.CONTRACT, decide_by=None)
    change = domain.move(ENROLLED, TERMINATED, seat_held=True, money=domain.CONTRACT)
    ended = enrolled.moved(
        change, reason=None, decide_by=datetime(2027, 1, 1, tzinfo=UTC),
        effective_end_date=date(2026, 12, 31),
    )  # fmt: skip
    assert (ended.effective_end_date, ended.decide_by, ended.seat_held) == (
        date(2026, 12, 31), None, True
    )  # fmt: skip
    waiting = application(seat_held=False, decide_by=datetime(2026, 12, 2, tzinfo=UTC))
    change = domain.move(REQUESTED, WAITLISTED, seat_held=False, money=domain.NO_MONEY)
    listed = waiting.moved(
        change, reason=None, decide_by=None, effective_end_date=date(2026, 12, 31)
    )  # fmt: skip
    assert (listed.decide_by, listed.effective_end_date) == (waiting.decide_by, None)


def test_the_applications_money_moves_by_its_table_and_its_place_on_the_list_is_read_off_it():
    waiting = application(status=WAITLISTED, seat_held=False, money=domain.NO_MONEY)
    assert waiting.on_waiting_list and not waiting.promotion_in_flight
    promoted = replace(waiting, seat_held=True).with_money(domain.PENDING)
    assert promoted.promotion_in_flight and not promoted.on_waiting_list
    with pytest.raises(TransitionRefused):
        waiting.with_money(domain.CONTRACT)
    assert waiting.money == domain.NO_MONEY
    assert application().parties == Parties(2, 5, "krasnoyarsk", "achinsk")
