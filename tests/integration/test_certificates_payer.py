"""Issue 18 item 8: the payer is the certificate's municipality. A certificate keeps the
municipality and the birth date of its issue: a child who moves is invoiced to (and paid
from the limit of) the issuing municipality; neither can change while money is reserved on
the certificate; a birth date edited before the first application does not raise the
nominal. Enrollment, accounts, certificates and the catalog in-process on the real servers."""

import itertools
import subprocess
import sys
import time
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from servicekit import clock
from servicekit.errors import Conflict, InvalidInput, NotFound
from services.certificates import audit, funding
from services.certificates.domain import AgeBand
from tests.integration import test_enrollment as enrollment_tests
from tests.support import enrollment as world
from tests.support import sql
from tests.support.accounts import child_body

START = "2026-12-01"


@pytest.fixture(autouse=True)
def business_day():
    """The applications here start on START: the business day is that day (a contract never
    starts before the day it is asked for)."""
    with clock.freeze(date.fromisoformat(START)):
        yield


# enrollment's fixtures: enrollment, accounts, certificates and the catalog in containers,
# and their engines
rpc, engines = enrollment_tests.rpc, enrollment_tests.engines
as_parent = enrollment_tests.as_parent


def operator_of(code):
    return {"user_id": 900, "role": "municipal_operator", "municipality_code": code}


def used(engines, code, period_id):
    return sql.scalar(
        engines["certificates"],
        "SELECT coalesce(sum(used), 0) FROM municipal_funds"
        " WHERE municipality_code = :m AND period_id = :p",
        m=code,
        p=period_id,
    )


def test_a_child_who_moves_is_paid_for_by_the_certificates_municipality(rpc, engines):
    period = world.period(engines["certificates"], "krasnoyarsk")
    world.period(engines["certificates"], "achinsk")
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    body = child_body(birth_date="2017-03-01", municipality_code="krasnoyarsk")
    child = rpc.accounts.add_child(as_parent(parent_id), body)["id"]
    number = rpc.certificates.ensure_certificate(child)["number"]
    # the family moves before the first application: nothing is reserved, so accounts takes it
    moved = rpc.accounts.change_child(as_parent(parent_id), child, {"municipality_code": "achinsk"})
    assert moved["municipality_code"] == "achinsk"
    achinsk_before = used(engines, "achinsk", period)

    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    assert applied["certificate_number"] == number
    enrolled = rpc.enrollment.decide(world.provider(engines["accounts"], org), applied["id"],
                                     "confirm")  # fmt: skip
    assert enrolled["status"] == "enrolled"
    # the contract is invoiced to the municipality whose limit financed the certificate
    confirmed = enrollment_tests.outbox_data(engines, applied["id"], "enrollment_confirmed")
    assert confirmed["child_municipality_code"] == "krasnoyarsk"
    assert used(engines, "achinsk", period) == achinsk_before
    # that municipality's operator sees the certificate; the new one's does not
    shown = rpc.certificates.show_certificate(operator_of("krasnoyarsk"), number)
    assert shown["municipality_code"] == "krasnoyarsk"
    with pytest.raises(NotFound):
        rpc.certificates.show_certificate(operator_of("achinsk"), number)

    # with money reserved, neither the birth date nor the municipality changes
    for change in ({"birth_date": "2015-03-01"}, {"municipality_code": "krasnoyarsk"}):
        with pytest.raises(Conflict) as refused:
            rpc.accounts.change_child(as_parent(parent_id), child, change)
        assert refused.value.code == "certificate_money_reserved"
    facts = rpc.accounts.get_child(child)
    assert (facts["birth_date"], facts["municipality_code"]) == ("2017-03-01", "achinsk")


def test_a_birth_date_edited_before_the_first_application_does_not_raise_the_nominal(rpc, engines):
    """The reproduction: 26,000 ₽ raised to 32,000 ₽ by editing the birth date first."""
    code = "bogotol"
    period = world.period(engines["certificates"], code)
    with sa.orm.Session(engines["certificates"], info={"producer": "certificates"}) as session:
        bands = [AgeBand(0, 9, 26_000_00), AgeBand(10, 17, 32_000_00)]
        funding.set_bands(session, code, period, bands)
        session.commit()
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, min_age=5, max_age=14)
    parent_id = world.parent(engines["accounts"])
    body = child_body(birth_date="2017-03-01", municipality_code=code)  # 9 on 1 Sep 2026
    child = rpc.accounts.add_child(as_parent(parent_id), body)["id"]
    deadline = time.monotonic() + 20
    while True:  # the certificate is issued from accounts' child_registered
        try:
            issued = rpc.certificates.child_certificate(child)
            break
        except NotFound:
            assert time.monotonic() < deadline, "no certificate issued on registration"
            time.sleep(0.1)
    assert issued["birth_date"] == "2017-03-01"
    rpc.accounts.change_child(as_parent(parent_id), child, {"birth_date": "2015-03-01"})
    applied = rpc.enrollment.apply(
        as_parent(parent_id),
        {"child_id": child, "group_id": group_id, "start_date": START, "accept_copay": True},
    )
    assert applied["certificate_number"] == issued["certificate_number"]
    balance = rpc.certificates.get_balance(child)
    assert (balance["type"], balance["credited"]) == ("financing", 26_000_00)


# --- item 11: nominals within a year --------------------------------------------------------

REGIONAL = {"user_id": 901, "role": "regional_operator"}


def fresh_child(code, birth="2016-05-20"):
    return {"id": next(_ids), "parent_id": 77, "birth_date": birth, "municipality_code": code}


_ids = itertools.count(int(uuid.uuid4().int % 10**6) * 1000 + 7 * 10**8)


def financed_on(rpc, day, code, period):
    kid = fresh_child(code)
    with clock.freeze(day):
        rpc.certificates.reserve_funds(f"probe-{uuid.uuid4()}", kid, period, 0, True)
        return rpc.certificates.get_balance(kid["id"])


def test_a_certificate_financed_mid_period_gets_the_months_left_when_the_municipality_says_so(
    rpc, engines
):
    prorated, full = "kansk", "borodino"
    period = world.period(engines["certificates"], prorated, nominal=24_000_00)
    world.period(engines["certificates"], full, nominal=24_000_00)
    settings = rpc.certificates.set_settings(REGIONAL, prorated, {"nominal_mode": "prorated"})
    assert settings == {"municipality_code": prorated, "nominal_mode": "prorated",
                        "free_allowance": 2}  # fmt: skip
    assert rpc.certificates.get_settings(REGIONAL, full)["nominal_mode"] == "full"
    # 10 March 2027: March to August left, 6 of the period's 12 months
    assert financed_on(rpc, date(2027, 3, 10), prorated, period)["credited"] == 12_000_00
    assert financed_on(rpc, date(2027, 3, 10), full, period)["credited"] == 24_000_00
    assert financed_on(rpc, date(2026, 9, 1), prorated, period)["credited"] == 24_000_00
    with pytest.raises(InvalidInput):
        rpc.certificates.set_settings(REGIONAL, prorated, {"nominal_mode": "half"})


def test_a_change_of_nominal_bands_applies_from_its_date_and_keeps_its_reason(rpc, engines):
    code = "divnogorsk"
    period = world.period(engines["certificates"], code, nominal=20_000_00)
    with clock.freeze(date(2026, 12, 10)):
        with pytest.raises(InvalidInput) as backwards:
            rpc.certificates.set_nominals(REGIONAL, code, period, {
                "bands": [{"age_from": 0, "age_to": 17, "amount": 30_000_00}],
                "effective_from": "2026-12-01", "reason": "Задним числом"})  # fmt: skip
        assert "effective_from" in backwards.value.fields
        view = rpc.certificates.set_nominals(REGIONAL, code, period, {
            "bands": [{"age_from": 0, "age_to": 17, "amount": 30_000_00}],
            "effective_from": "2027-01-01", "reason": "Решение горсовета № 12"})  # fmt: skip
    assert view["bands"] == [{"age_from": 0, "age_to": 17, "amount": 20_000_00}]  # not yet
    change = view["changes"][-1]
    assert (change["effective_from"], change["reason"], change["in_force"]) == (
        "2027-01-01", "Решение горсовета № 12", False)  # fmt: skip
    assert change["actor"] == "user:901"
    assert financed_on(rpc, date(2026, 12, 31), code, period)["credited"] == 20_000_00
    assert financed_on(rpc, date(2027, 1, 1), code, period)["credited"] == 30_000_00


def test_an_operators_change_of_one_nominal_needs_a_reason_and_names_the_operator(rpc, engines):
    code = "eniseysk"
    period = world.period(engines["certificates"], code, nominal=20_000_00)
    with engines["accounts"].begin() as conn:
        operator_id = conn.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, role, municipality_code,"
                " is_active) VALUES (:e, 'x', 'Оператор Петрова', 'municipal_operator', :m,"
                " true) RETURNING id"
            ),
            {"e": f"op-{uuid.uuid4().hex[:10]}@example.ru", "m": code},
        ).scalar()
    operator = {"user_id": operator_id, "role": "municipal_operator", "municipality_code": code}
    kid = fresh_child(code)
    number = rpc.certificates.reserve_funds(f"probe-{uuid.uuid4()}", kid, period, 0, True)[
        "certificate_number"
    ]
    for reason in (None, "  "):
        with pytest.raises(InvalidInput) as refused:
            rpc.certificates.change_nominal(operator, number, 50_000_00, reason)
        assert "reason" in refused.value.fields
    assert rpc.certificates.get_balance(kid["id"])["credited"] == 20_000_00
    rpc.certificates.change_nominal(operator, number, 25_000_00, "Ребёнок-инвалид: надбавка")
    rpc.certificates.change_nominal(operator, number, 21_000_00, "Ошибка в надбавке")
    entries = rpc.certificates.list_transactions(operator, number, 10, 0)["items"]
    raised, lowered = entries[1], entries[0]
    assert (raised["kind"], raised["amount"]) == ("credit", 5_000_00)
    assert "Ребёнок-инвалид: надбавка" in raised["reason"]
    assert (lowered["kind"], lowered["amount"]) == ("adjust", -4_000_00)
    assert "Ошибка в надбавке" in lowered["reason"]
    for entry in (raised, lowered):
        assert (entry["actor"], entry["actor_name"]) == (f"user:{operator_id}",
                                                         "Оператор Петрова")  # fmt: skip


# --- item 13: free programs have an allowance ----------------------------------------------


def test_a_child_holds_at_most_the_allowance_of_free_places_at_a_time(rpc, engines):
    code = "zato-zelenogorsk"
    world.period(engines["certificates"], code)
    org = world.organization(engines["catalog"], code)
    groups = [world.group(engines["catalog"], org, registry=r)
              for r in ("general", "significant", "pre_professional")]  # fmt: skip
    paid = world.group(engines["catalog"], org)  # certified: not a free place
    parent_id = world.parent(engines["accounts"])
    body = child_body(birth_date="2017-03-01", municipality_code=code)
    child = rpc.accounts.add_child(as_parent(parent_id), body)["id"]

    def apply(group_id):
        return rpc.enrollment.apply(
            as_parent(parent_id),
            {"child_id": child, "group_id": group_id, "start_date": START, "accept_copay": True},
        )

    first, second = apply(groups[0]), apply(groups[1])
    with pytest.raises(Conflict) as refused:
        apply(groups[2])
    assert refused.value.code == "free_allowance_exhausted"
    # a certified program is no free place
    assert apply(paid)["status"] in ("awaiting_provider", "waitlisted")
    rpc.enrollment.decide(as_parent(parent_id), first["id"], "cancel")
    assert apply(groups[2])["status"] in ("awaiting_provider", "waitlisted")
    # the municipality lowers its allowance: nothing more until a place ends
    rpc.certificates.set_settings(REGIONAL, code, {"free_allowance": 1})
    rpc.enrollment.decide(as_parent(parent_id), second["id"], "cancel")
    with pytest.raises(Conflict):
        apply(groups[0])


# --- make audit-ledger: reservations against live applications ------------------------------


def test_audit_ledger_names_reservations_no_live_application_stands_behind(rpc, engines):
    period = world.period(engines["certificates"])
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    children = [
        rpc.accounts.add_child(as_parent(parent_id), child_body(birth_date="2017-03-01"))["id"]
        for _ in range(3)
    ]
    live, released, lost = (
        rpc.enrollment.apply(
            as_parent(parent_id), {"child_id": c, "group_id": group_id, "start_date": START}
        )
        for c in children
    )
    # a reservation nobody applied for (a script, a lost compensation)
    stray = str(uuid.uuid4())
    rpc.certificates.reserve_funds(stray, fresh_child("krasnoyarsk"), period, 1_000_00, True)
    with engines["enrollment"].begin() as conn:
        # enrollment believes it gave the money back; certificates still holds it
        conn.execute(
            sa.text("UPDATE enrollments SET money = 'released' WHERE id = :e"),
            {"e": released["id"]},
        )
    certificates = engines["certificates"]
    with certificates.begin() as conn:
        # the money of an application that holds its seat went missing
        entries = (
            conn.execute(
                sa.text("SELECT * FROM ledger_entries WHERE enrollment_id = :e"), {"e": lost["id"]}
            )
            .mappings()
            .all()
        )
        reservation = conn.execute(
            sa.text("SELECT amount, reserved FROM reservations WHERE enrollment_id = :e"),
            {"e": lost["id"]},
        ).one()
        conn.execute(
            sa.text("DELETE FROM ledger_entries WHERE enrollment_id = :e"), {"e": lost["id"]}
        )
        conn.execute(
            sa.text("UPDATE reservations SET amount = 0, reserved = 0 WHERE enrollment_id = :e"),
            {"e": lost["id"]},
        )
    try:
        run = subprocess.run(
            [sys.executable, "-m", "services.certificates.audit", "--applications"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        # the databases are the session's: put the ledger back, or every later region-wide
        # audit finds this certificate's balance (reserved) without its entries
        with certificates.begin() as conn:
            for entry in entries:  # the table's own column names
                columns = ", ".join(entry)
                values = ", ".join(":" + k for k in entry)
                insert = f"INSERT INTO ledger_entries ({columns}) VALUES ({values})"  # noqa: S608
                conn.execute(sa.text(insert), dict(entry))
            conn.execute(
                sa.text(
                    "UPDATE reservations SET amount = :a, reserved = :r WHERE enrollment_id = :e"
                ),
                {"a": reservation.amount, "r": reservation.reserved, "e": lost["id"]},
            )
            assert not [p for p in audit.audit(conn) if lost["id"] in p]
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert any(stray in line and "no such application" in line for line in lines)
    assert any(released["id"] in line and "money released" in line for line in lines)
    assert any(lost["id"] in line and "has no reservation" in line for line in lines)
    assert not any(live["id"] in line for line in lines)
