"""Payments' jobs on the business calendar (servicekit.calendar): nothing here waits for an
operator.

- `advances`: on or after the 1st of a month, that month's advance invoices, once (the month
  is noted in `advance_months`; a missed 1st is made up on the next tick);
- `final_billing`: every month that has ended, whose submission deadline has passed and that
  has no completed billing run gets one started (billing.start_run); the service's
  BillingRunner works it batch by batch, and its progress is GET /billing/runs/{id}, as for a
  run an operator starts. A month whose run is still going is left to the runner.

Each job is idempotent: run twice, or by two instances (the calendar's lease), it does
nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from servicekit import clock
from services.payments import attendance, billing, domain, invoices
from services.payments.models import AdvanceMonth, BillingRun, ContractMonth


def advances(sessions, now: datetime) -> dict:
    month = domain.month_of(clock.region_date(now))
    with sessions() as session, session.begin():
        if session.get(AdvanceMonth, month) is not None:
            return {}
        issued = invoices.issue_advances(session, month)
        session.add(AdvanceMonth(month=month, invoices=len(issued)))
    return {"month": month, "advances": len(issued)}


def months_to_bill(sessions, today) -> list[str]:
    """Months before today's that have contracts and no completed run."""
    current = domain.month_of(today)
    with sessions() as session:
        months = session.execute(
            select(ContractMonth.month)
            .where(ContractMonth.month < current)
            .distinct()
            .order_by(ContractMonth.month)
        ).scalars()
        completed = set(
            session.execute(
                select(BillingRun.month).where(BillingRun.status == "completed").distinct()
            ).scalars()
        )
        return [month for month in months if month not in completed]


def final_billing(sessions, now: datetime) -> dict:
    today = clock.region_date(now)
    started, running = {}, {}
    for month in months_to_bill(sessions, today):
        with sessions() as session, session.begin():
            if not today > attendance.month_deadline(session, month):
                continue  # attendance of the month can still be corrected
            before = session.execute(
                select(BillingRun.id).where(
                    BillingRun.month == month, BillingRun.status == "running"
                )
            ).scalar()
            run = billing.start_run(session, month, None, today)
            (running if before == run.id else started)[month] = run.id
    return {key: value for key, value in (("started", started), ("running", running)) if value}
