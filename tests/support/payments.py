"""Enrollment's events as enrollment publishes them (the envelope of docs/design.md on
`enrollment.events`), with the money terms from contracts/cost.py: a real producer
of real messages."""

import uuid
from datetime import date

import sqlalchemy as sa

from contracts.cost import contract_terms
from servicekit.money import format_kopecks
from servicekit.outbox import OutboxPublisher, envelope

TUE_THU = [
    {"weekday": 2, "start": "16:00", "end": "17:30"},
    {"weekday": 4, "start": "16:00", "end": "17:30"},
]


def confirmed_data(
    *,
    child_id: int,
    group_id: int,
    organization_id: int,
    parent_id: int = 500,
    payer: str = "krasnoyarsk",
    start_date: date = date(2026, 9, 1),
    price: int = 2_730_000,
    normative: int = 3_000_000,
    available: int = 5_000_000,
    registry: str = "certified",
    direction: str = "sports",
    enrollment_id: str | None = None,
) -> dict:
    terms = contract_terms(
        group_start=date(2026, 9, 1),
        group_end=date(2027, 5, 31),
        period_start=date(2026, 9, 1),
        period_end=date(2027, 8, 31),
        start_date=start_date,
        group_price=price,
        group_normative=normative,
        available=available,
        paid_registry=registry == "paid",
    )
    return {
        "enrollment_id": enrollment_id or str(uuid.uuid4()),
        "child_id": child_id,
        "parent_id": parent_id,
        "group_id": group_id,
        "program_id": group_id * 10,
        "organization_id": organization_id,
        "organization_municipality_code": "krasnoyarsk",
        "child_municipality_code": payer,
        "direction": direction,
        "registry": registry,
        "certificate_number": f"{child_id:010d}",
        "start_date": terms.start_date.isoformat(),
        "end_date": terms.end_date.isoformat(),
        "total": format_kopecks(terms.total),
        "normative_cost": format_kopecks(terms.normative_cost),
        "certificate_share": format_kopecks(terms.certificate_share),
        "copay": format_kopecks(terms.copay),
        "schedule": [
            {
                "month": p.month,
                "certificate": format_kopecks(p.certificate),
                "copay": format_kopecks(p.copay),
            }
            for p in terms.schedule
        ],
        "group_schedule": TUE_THU,
        "occurred_at": "2026-08-20T10:00:00Z",
    }


class Enrollment:
    """Publishes enrollment's events to `enrollment.events` with publisher confirms."""

    def __init__(self, amqp_uri: str):
        self.publisher = OutboxPublisher("enrollment", amqp_uri)

    def publish(self, event_type: str, data: dict, event_id: str | None = None) -> dict:
        body = envelope(event_type, data, "enrollment")
        if event_id:
            body["event_id"] = event_id
        self.publisher.publish(body)
        return body

    def close(self):
        self.publisher.close()


def reset_billing(engine):
    """Billing state is region-wide (a run closes a month for everyone, a municipality has one
    completeness mode): forget the runs, charges, invoices, lessons and settings earlier tests
    of this session left (the e2e schemathesis run bills any month and sets any mode), so
    each test starts from open months and the default mode."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE charges, billing_runs, invoices, advance_months, attendance, lessons, "
                "municipality_settings CASCADE"
            )
        )
        conn.execute(sa.text("UPDATE contract_months SET charged = false WHERE charged"))


def school_year(engine) -> int:
    """The 2026/2027 period in certificates' database, made open by whichever test asks first
    (and left as it is after): the year contracts are billed in."""
    from sqlalchemy.orm import Session

    from services.certificates.models import Period

    with Session(engine) as session, session.begin():
        existing = session.scalar(sa.select(Period).where(Period.start_date == date(2026, 9, 1)))
        if existing:
            return existing.id
        row = Period(name="2026/2027", start_date=date(2026, 9, 1), end_date=date(2027, 8, 31),
                     status="open")  # fmt: skip
        session.add(row)
        session.flush()
        return row.id
