"""The money rules of issue 18 on the payments database (operations on a session that is
rolled back, no broker): a month is billed only once its attendance is final, lessons are
facts recorded until the submission deadline, a month with no lesson recorded is billed as
the municipality says, invoices always add up to the money debited (corrections), each
invoice lists its contracts, and the payments audit names every difference.

Each test fails on the code before issue 18 (see the report of the branch)."""

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.principal import Principal
from servicekit import clock
from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.payments import attendance, audit, billing, contracts, invoices
from services.payments.models import Charge, Contract, Invoice
from tests.support.payments import confirmed_data

REGIONAL = Principal(1, "regional_operator")


@pytest.fixture
def session(engine_of):
    """Billing state is region-wide: this transaction forgets what earlier tests left (runs,
    charges, invoices, settings) and is rolled back at the end."""
    engine = engine_of("payments")
    with Session(engine) as session:
        session.info["producer"] = "payments"
        for table in ("charges", "billing_runs", "invoices", "advance_months",
                      "municipality_settings"):  # fmt: skip
            session.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
        yield session
        session.rollback()


def region(session, children=2, payer=None, start=date(2026, 9, 1)):
    """Contracts of one group of a new provider, paid by a new municipality."""
    payer = payer or f"mun-{uuid.uuid4().hex[:6]}"
    base = uuid.uuid4().int % 10**6 * 100 + 10**8
    org = base + 99
    made = []
    for n in range(children):
        made.append(
            contracts.activate(
                session,
                confirmed_data(
                    child_id=base + n,
                    group_id=base,
                    organization_id=org,
                    payer=payer,
                    start_date=start,
                ),
            )  # fmt: skip
        )
    session.flush()
    return payer, org, base, made


def only_these(session, month, contract_ids):
    """Contracts of other tests in this database count as charged for the month."""
    session.execute(
        sa.text(
            "UPDATE contract_months SET charged = true WHERE month = :m "
            "AND NOT (contract_id = ANY(:ids))"
        ),
        {"m": month, "ids": contract_ids},
    )


def charge_all(session, run):
    after = 0
    while last := billing.charge_batch(session, run, after, 100):
        after = last
    return {
        c.contract_id: c
        for c in session.execute(
            sa.select(Charge).where(Charge.month == run.month, Charge.run_id == run.id)
        ).scalars()
    }


def post(charges, debit=lambda charge: charge.certificate_planned):
    """Charges as billing leaves them once certificates answered, the month delivered in full
    (the debit itself is tested against certificates in test_payments_billing.py and
    test_payments_calendar.py)."""
    for charge in charges:
        charge.debited = debit(charge)
        charge.released = charge.certificate_planned - charge.debited
        charge.status = "posted"


# --- item 4: a month is billed after it ends ---------------------------------------------


def test_a_month_is_billed_only_after_it_ended_and_its_deadline_passed(session):
    # 3 December 2026: December is running, November's deadline (3rd working day) is today
    for month in ("2026-12", "2026-11", "2027-01"):
        with pytest.raises(Conflict) as refused:
            billing.start_run(session, month, None, date(2026, 12, 3))
        assert refused.value.code == "month_not_over"
    assert billing.start_run(session, "2026-11", None, date(2026, 12, 4)).month == "2026-11"


def test_a_later_deadline_of_one_municipality_holds_the_regions_run(session):
    payer, *_ = region(session, children=1)
    attendance.set_billing_settings(session, REGIONAL, payer, {"submission_workday": 5})
    # December 2026: Tue 1, Wed 2, Thu 3, Fri 4, Mon 7
    with pytest.raises(Conflict) as refused:
        billing.start_run(session, "2026-11", None, date(2026, 12, 7))
    assert refused.value.code == "month_not_over"
    assert billing.start_run(session, "2026-11", None, date(2026, 12, 8))


# --- item 5: lessons are facts, corrected until the deadline -----------------------------


def lesson(day, status="held", child=None):
    marks = [{"child_id": child, "present": True}] if child else []
    return {"date": day, "status": status, "attendance": marks}


def lessons_of(session, group):
    return session.execute(
        sa.text("SELECT count(*) FROM lessons WHERE group_id = :g"), {"g": group}
    ).scalar()


def test_a_lesson_after_today_is_refused_and_nothing_is_recorded(session):
    _, org, group, made = region(session)
    provider = Principal(7, "provider", organization_id=org)
    with clock.freeze(date(2026, 12, 3)):
        with pytest.raises(InvalidInput) as refused:
            attendance.record_lessons(
                session, provider, group,
                [lesson(date(2026, 12, 1)), lesson(date(2026, 12, 8)), lesson(date(2027, 3, 2))],
            )  # fmt: skip
        assert refused.value.code == "lesson_in_future"
        assert set(refused.value.fields) == {"lessons.1.date", "lessons.2.date"}
        assert lessons_of(session, group) == 0
        # today's lesson is a fact already
        attendance.record_lessons(session, provider, group, [lesson(date(2026, 12, 3))])
    assert lessons_of(session, group) == 1


def test_attendance_is_corrected_until_the_submission_deadline_and_locked_after(session):
    payer, org, group, made = region(session)
    provider = Principal(7, "provider", organization_id=org)
    child = made[0].child_id
    # October 2026's deadline: the 3rd working day of November, Wednesday the 4th
    with clock.freeze(date(2026, 11, 4)):
        attendance.record_lessons(
            session, provider, group, [lesson(date(2026, 10, 29), child=child)]
        )
    with clock.freeze(date(2026, 11, 5)):
        with pytest.raises(Conflict) as closed:
            attendance.record_lessons(
                session, provider, group, [lesson(date(2026, 10, 29), "cancelled")]
            )
        assert closed.value.code == "submission_closed"
        # November is open
        attendance.record_lessons(session, provider, group, [lesson(date(2026, 11, 3))])
    month = attendance.group_month(session, provider, group, "2026-10")
    assert month["submission_deadline"] == date(2026, 11, 4)
    # a municipality that gives its providers until the 5th working day
    attendance.set_billing_settings(
        session, Principal(3, "municipal_operator", payer), payer, {"submission_workday": 5}
    )
    with clock.freeze(date(2026, 11, 6)):
        attendance.record_lessons(session, provider, group, [lesson(date(2026, 10, 27))])
    with pytest.raises(Forbidden):
        attendance.set_billing_settings(
            session, Principal(3, "municipal_operator", "elsewhere"), payer,
            {"submission_workday": 1},
        )  # fmt: skip


def test_a_month_with_no_lesson_recorded_is_billed_as_the_municipality_says(session):
    silent, org, silent_group, silent_contracts = region(session, children=1)
    strict, _, strict_group, strict_contracts = region(session, children=1)
    attendance.set_billing_settings(session, REGIONAL, strict, {"unrecorded_percent": 0})
    _, recorded_org, recorded_group, recorded_contracts = region(session, children=1)
    provider = Principal(7, "provider", organization_id=recorded_org)
    with clock.freeze(date(2026, 11, 2)):
        # one lesson of nine held, the rest not recorded: 1/9 delivered
        attendance.record_lessons(session, provider, recorded_group, [lesson(date(2026, 10, 6))])
    ids = [c.id for c in silent_contracts + strict_contracts + recorded_contracts]
    only_these(session, "2026-10", ids)
    run = billing.start_run(session, "2026-10", None, date(2026, 11, 5))
    charges = charge_all(session, run)
    figures = {cid: (c.certificate_planned, c.certificate_charged) for cid, c in charges.items()}
    # default: as delivered by schedule, 100 % (today's code: 0 %)
    assert figures[silent_contracts[0].id] == (303_750, 303_750)
    assert figures[strict_contracts[0].id] == (303_750, 0)
    assert figures[recorded_contracts[0].id] == (303_750, 33_750)  # 1/9, half up


# --- item 6: invoices always equal the money debited --------------------------------------


def invoiced(session, org, month):
    return {
        (i.kind, i.number): i.amount
        for i in session.execute(
            sa.select(Invoice).where(Invoice.organization_id == org, Invoice.month == month)
        ).scalars()
    }


def test_a_later_run_of_an_invoiced_month_brings_a_correction_invoice(session):
    payer, org, group, made = region(session, children=3)
    ids = [c.id for c in made]
    only_these(session, "2026-10", ids)
    invoices.issue_advances(session, "2026-10")  # 80 % of 3 x 3 037.50 = 7 290.00
    run = billing.start_run(session, "2026-10", None, date(2026, 11, 5))
    charges = charge_all(session, run)
    late = charges[ids[2]]
    post([charges[ids[0]], charges[ids[1]]])
    late.status, late.refusal = "refused", "frozen"  # certificates refused it this time
    session.flush()
    assert billing.finish(session, run.id)
    assert invoiced(session, org, "2026-10") == {("advance", 0): 729_000, ("final", 0): -121_500}
    # the certificate is unfrozen; the next run posts the refused charge: today's code
    # debits it and invoices it to no one
    rerun = billing.start_run(session, "2026-10", None, date(2026, 11, 20))
    assert session.get(Charge, late.id).status == "pending"
    post([late])
    session.flush()
    assert billing.finish(session, rerun.id)
    books = invoiced(session, org, "2026-10")
    assert books == {("advance", 0): 729_000, ("final", 0): -121_500, ("correction", 1): 303_750}
    assert sum(books.values()) == 3 * 303_750
    assert [
        d for d in invoices.differences(session, ["2026-10"]) if d["organization_id"] == org
    ] == []


def billed_alone(session, contracts, month="2026-10", today=date(2026, 11, 5)):
    """A run of the month for these contracts alone, each charge posted: whether it finished."""
    only_these(session, month, [c.id for c in contracts])
    run = billing.start_run(session, month, None, today)
    post(charge_all(session, run).values())
    session.flush()
    return billing.finish(session, run.id)


def test_an_advance_issued_after_the_final_is_netted(session):
    payer, org, group, made = region(session, children=2)
    assert billed_alone(session, made)
    assert invoiced(session, org, "2026-10") == {("final", 0): 607_500}
    # someone issues October's advances by hand afterwards: today's code invoices 180 %
    invoices.issue_advances(session, "2026-10")
    assert sum(invoiced(session, org, "2026-10").values()) == 607_500


def test_the_audit_names_each_key_whose_invoices_differ_from_the_debits(session):
    payer, org, group, made = region(session, children=2)
    assert billed_alone(session, made)
    mine = [line for line in audit.audit(session) if f"organization {org} " in line]
    assert mine == []
    # a charge posted behind the invoices' back (what ON CONFLICT DO NOTHING left before)
    charge = (
        session.execute(sa.select(Charge).where(Charge.organization_id == org)).scalars().first()
    )
    charge.debited -= 100
    session.flush()
    mine = [line for line in audit.audit(session) if f"organization {org} " in line]
    assert mine == [
        f"invoices != debits: organization {org} x {payer} x 2026-10: invoiced 6075.00, "
        "debited 6074.00"
    ]


def test_an_invoice_lists_its_contracts_to_whoever_sees_the_invoice(session):
    payer, org, group, made = region(session, children=2)
    only_these(session, "2026-10", [c.id for c in made])
    (advance,) = [
        i for i in invoices.issue_advances(session, "2026-10") if i["organization_id"] == org
    ]
    run = billing.start_run(session, "2026-10", None, date(2026, 11, 5))
    post(charge_all(session, run).values())
    session.flush()
    billing.finish(session, run.id)
    owner = Principal(7, "provider", organization_id=org)
    register = invoices.register(session, owner, advance["id"])
    assert [line["contract_id"] for line in register["contracts"]] == [c.id for c in made]
    assert register["planned"] == register["debited"] == register["invoiced"] == 607_500
    assert {line["charge_status"] for line in register["contracts"]} == {"posted"}
    assert register["contracts"][0]["certificate_number"] == made[0].certificate_number
    for who in (Principal(3, "municipal_operator", payer), REGIONAL):
        assert invoices.register(session, who, advance["id"])["invoice"]["id"] == advance["id"]
    for stranger in (
        Principal(8, "provider", organization_id=org + 1),
        Principal(9, "municipal_operator", "elsewhere"),
    ):
        with pytest.raises(NotFound):
            invoices.register(session, stranger, advance["id"])
    with pytest.raises(Forbidden):
        invoices.register(session, Principal(10, "parent"), advance["id"])
    lines = invoices.register_csv(session, owner, advance["id"]).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("contract_id;enrollment_id;child_id;certificate_number")
    assert len(lines) == 4  # header, two contracts, the total
    assert lines[-1] == "total;;;;;;;;6075,00;;;;6075,00"


# --- item 9: a contract never bills a month after its end ---------------------------------


def test_a_completed_enrollment_releases_the_months_after_its_end_once(session):
    _, _, _, made = region(session, children=1)
    contract = made[0]
    released = []

    def release(enrollment_id, amount, key):
        released.append((enrollment_id, amount, key))
        return {"released": amount}

    data = {"enrollment_id": contract.enrollment_id, "end_date": "2027-01-15"}
    contracts.complete(session, data, release)
    contracts.complete(session, data, release)  # redelivered: nothing twice
    key = f"release:{contract.enrollment_id}:completed"
    assert released == [(contract.enrollment_id, 4 * 303_750, key)]  # February..May
    assert session.get(Contract, contract.id).end_date == date(2027, 1, 31)
    only_these(session, "2027-02", [contract.id])
    run = billing.start_run(session, "2027-02", None, date(2027, 3, 5))
    assert charge_all(session, run) == {}
    # a completion at the contract's own end releases nothing
    other = region(session, children=1)[3][0]
    contracts.complete(session, {"enrollment_id": other.enrollment_id, "end_date": "2027-05-31"},
                       release)  # fmt: skip
    assert len(released) == 1
