"""Invoices and reports on the payments database (operations on a session, no broker):
advance 80 % of the plan, final = actual - advance, one of each per provider x municipality x
month, paid once by the paying municipality; the report's figures and its CSV.

The month's charges are written as billing leaves them once certificates answered (posted,
with what was debited); the debit itself is tested against certificates in
test_payments_billing.py."""

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from contracts.principal import Principal
from servicekit.errors import Conflict, Forbidden, NotFound
from services.payments import billing, contracts, invoices, reports
from services.payments.models import Charge
from tests.support.payments import confirmed_data


@pytest.fixture
def session(engine_of):
    engine = engine_of("payments")
    with Session(engine) as session:
        session.info["producer"] = "payments"
        yield session
        session.rollback()


def region(session, payer, org, children=2):
    base = uuid.uuid4().int % 10**6 * 100
    for n in range(children):
        contracts.activate(
            session,
            confirmed_data(child_id=base + n, group_id=base, organization_id=org, payer=payer,
                           direction="arts"),
        )  # fmt: skip
    session.flush()


def bill_as_posted(session, month, completeness_debit):
    """Charge the month and mark charges posted with `completeness_debit(charge)` debited."""
    run = billing.start_run(session, month, None, date(2026, 11, 29))
    after = 0
    while last := billing.charge_batch(session, run, after, 100):
        after = last
    for charge in session.execute(
        sa.select(Charge).where(Charge.month == month, Charge.run_id == run.id)
    ).scalars():
        charge.debited = completeness_debit(charge)
        charge.released = charge.certificate_planned - charge.debited
        charge.status = "posted"
    session.flush()
    return run


def test_advance_then_final_per_provider_and_municipality(session):
    payer, org = f"mun-{uuid.uuid4().hex[:6]}", uuid.uuid4().int % 10**6 + 10**6
    region(session, payer, org)
    advances = invoices.issue_advances(session, "2026-10")
    mine = [i for i in advances if i["organization_id"] == org]
    # 80 % of 2 x 3 037.50
    assert [(i["municipality_code"], i["kind"], i["amount"]) for i in mine] == [
        (payer, "advance", 486_000)
    ]
    assert invoices.issue_advances(session, "2026-10") == []  # once per key

    bill_as_posted(session, "2026-10", lambda charge: charge.certificate_charged)
    finals = [i for i in invoices.issue_finals(session, "2026-10") if i["organization_id"] == org]
    # no lesson recorded by the deadline: billed as delivered by schedule (issue 18, the
    # municipality's default), so the final asks the remaining 20 % of 2 x 3 037.50
    assert [(i["kind"], i["amount"]) for i in finals] == [("final", 121_500)]

    invoice_id = mine[0]["id"]
    with pytest.raises(Forbidden):
        invoices.mark_paid(session, Principal(1, "regional_operator"), invoice_id)
    with pytest.raises(NotFound):
        invoices.mark_paid(session, Principal(2, "municipal_operator", "elsewhere"), invoice_id)
    paid = invoices.mark_paid(session, Principal(3, "municipal_operator", payer), invoice_id)
    assert paid["status"] == "paid"
    with pytest.raises(Conflict):
        invoices.mark_paid(session, Principal(3, "municipal_operator", payer), invoice_id)
    seen = invoices.list_invoices(
        session, Principal(4, "provider", organization_id=org), {"month": "2026-10"}, 10, 0
    )
    assert {i["kind"] for i in seen["items"]} == {"advance", "final"}
    other = invoices.list_invoices(
        session, Principal(5, "provider", organization_id=org + 1), {"month": "2026-10"}, 10, 0
    )
    assert all(i["organization_id"] == org + 1 for i in other["items"])


def test_report_counts_children_and_money_and_opens_as_csv(session):
    payer, org = f"mun-{uuid.uuid4().hex[:6]}", uuid.uuid4().int % 10**6 + 2 * 10**6
    region(session, payer, org, children=3)
    bill_as_posted(session, "2026-09", lambda charge: charge.certificate_planned)
    report = reports.build(session, payer, "2026-09")
    assert report["children_covered"] == 3
    assert report["spending_by_direction"] == [
        {"key": "arts", "certificate": 900_000, "copay": 0, "charges": 3}
    ]
    assert report["spending_by_provider"][0]["key"] == str(org)
    assert report["certificate_money"]["in_contracts"] == 900_000  # September: 3 x 3 000.00
    assert report["certificate_money"]["debited"] == 900_000
    assert report["contracts_by_status"] == {"active": 3, "terminated": 0}
    # what accounts, certificates and enrollment answer (their RPCs against real data and
    # the whole report through the services: test_payments_reports.py)
    usage = {"credited": 3_000_000, "reserved": 1_800_000, "spent": 900_000, "expired": 0,
             "spent_in_month": 900_000}  # fmt: skip
    report = reports.complete(
        report,
        {"children_registered": 4, "certificate_usage": usage,
         "enrollments_by_status": {"enrolled": 3, "cancelled": 1}},
    )  # fmt: skip
    assert (report["children_registered"], report["children_covered_percent"]) == (4, "75.00")
    assert report["enrollments_by_status"]["enrolled"] == 3
    assert report["enrollments_by_status"]["requested"] == 0
    lines = reports.as_csv(report).decode("utf-8-sig").splitlines()
    for line in (
        "Расходы по направлениям;Художественная;9000,00;0,00;3",
        "Дети;Охвачено договорами;;;3",
        "Дети;Зарегистрировано;;;4",
        "Дети;Доля охваченных, %;;;75,00",
        "Сертификаты: движение средств;Зарезервировано;18000,00;;",
        "Сертификаты: движение средств;Списано за месяц;9000,00;;",
        "Заявки по статусам;Отменена;;;1",
    ):
        assert line in lines
    with pytest.raises(Forbidden):
        reports.check_access(Principal(1, "municipal_operator", "elsewhere"), payer)
    reports.check_access(Principal(1, "municipal_operator", payer), payer)
    with pytest.raises(Forbidden):
        reports.check_access(Principal(1, "municipal_operator", payer), None)
