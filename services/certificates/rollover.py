"""Closing a period: what is left on every balance expires, the next period's nominals are
credited to the financing certificates (or their children queued), events are emitted.

`--expire-aged` expires the certificates of children who turned 18. Both run by themselves
on the certificates service's calendar (jobs `close_periods` and `expire_aged`; its
`announce_expiring` tells parents 30 days ahead); a period is closed only once its last day
is over (`period_not_over` before).

Each step is idempotent (ledger keys `expire:<certificate>:<period>` and
`credit:<certificate>:<period>`, one queue place per period) and committed in batches, so
the job can be re-run, and resumed after a crash, safely:

    python -m services.certificates.rollover PERIOD_ID
    python -m services.certificates.rollover --expire-aged
    python -m services.certificates.rollover --finance-registered

`--finance-registered` (the calendar's `finance_registered`, each tick) finances the
certificates of registered children before they apply, while the municipality's limit has
room and nobody waits in its queue (funding.finance_registered).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicekit import clock, config
from servicekit.db import inserted_once
from servicekit.outbox import emit
from services.certificates import domain, funding, ledger
from services.certificates.domain import Refused
from services.certificates.event_schemas import CertificateExpiringSchema
from services.certificates.models import (
    Balance,
    Certificate,
    ExpiryNotice,
    MunicipalFund,
    Period,
)

BATCH = 200


def sessions_on(bind) -> Callable[[], Session]:
    """Sessions of their own for the job's batches, emitting as the certificates service."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind, expire_on_commit=False, info={"producer": "certificates"})


def next_period(session: Session, period: Period) -> Period | None:
    return session.scalar(
        select(Period)
        .where(Period.start_date > period.end_date)
        .order_by(Period.start_date)
        .limit(1)
    )


def close_period(
    session_factory: Callable[[], Session], period_id: int, today: date | None = None
) -> dict:
    """Runs in its own transactions (one per batch); answers what it did. Refused
    (`period_not_over`) until the period's last day is over, by the business clock."""
    today = today or clock.today()
    with session_factory() as session, session.begin():
        period = session.get(Period, period_id, with_for_update=True)
        if period is None:
            raise Refused("period_not_found", "Период не найден")
        domain.check_period_over(period.end_date, today)
        if period.status == domain.PERIOD_OPEN:
            period.status = domain.PERIOD_CLOSING  # no new financing in it from now on
        name = period.name
    expired = credited = queued = 0
    last_id = 0
    while True:  # leftovers expire
        with session_factory() as session, session.begin():
            session.info.setdefault("producer", "certificates")
            rows = session.execute(
                select(Certificate, Balance.available)
                .join(Balance, Balance.certificate_id == Certificate.id)
                .where(Balance.period_id == period_id, Certificate.id > last_id)
                .order_by(Certificate.id)
                .limit(BATCH)
            ).all()
            for certificate, _available in rows:
                done = ledger.expire(
                    session, certificate, period_id, f"expire:{certificate.id}:{period_id}",
                    f"Остаток не перенесён: период «{name}» закрыт",
                )  # fmt: skip
                expired += int(done.get("expired", 0))
            if not rows:
                break
            last_id = rows[-1][0].id
    last_id = 0
    while True:  # the next period's nominals
        with session_factory() as session, session.begin():
            session.info.setdefault("producer", "certificates")
            period = session.get(Period, period_id)
            following = next_period(session, period)
            if following is None or following.status != domain.PERIOD_OPEN:
                break
            ids = session.scalars(
                select(Certificate.id)
                .join(Balance, Balance.certificate_id == Certificate.id)
                .where(
                    Balance.period_id == period_id,  # financed in the closing period
                    Certificate.type == domain.FINANCING,
                    Certificate.status != domain.EXPIRED,
                    Certificate.id > last_id,
                )
                .order_by(Certificate.id)
                .limit(BATCH)
            ).all()
            for certificate_id in ids:
                certificate = session.get(Certificate, certificate_id)
                try:
                    outcome = funding.finance(session, certificate, following)
                except Refused:
                    continue  # the child turns 18 before the next period
                credited += outcome == "financed"
                queued += outcome == "queued"
            if not ids:
                break
            last_id = ids[-1]
    with session_factory() as session, session.begin():
        session.get(Period, period_id).status = domain.PERIOD_CLOSED
    return {"period_id": period_id, "expired": expired, "credited": credited, "queued": queued}


def expire_aged(session_factory: Callable[[], Session], today) -> list[str]:
    """Certificates of children who turned 18: they expire, what is available expires and
    goes back to the municipality's room, which the queue may take. Safe to re-run."""
    from services.certificates import operations

    expired = []
    while True:
        with session_factory() as session, session.begin():
            session.info.setdefault("producer", "certificates")
            batch = session.scalars(
                select(Certificate)
                .where(Certificate.valid_until <= today, Certificate.status != domain.EXPIRED)
                .order_by(Certificate.id)
                .limit(BATCH)
            ).all()
            for certificate in batch:
                operations.expire_certificate(
                    session, certificate, "Ребёнку исполнилось 18 лет: сертификат истёк"
                )
                expired.append(certificate.number)
        if not batch:
            return expired


# --- the calendar's jobs (servicekit.calendar): what is due at `now` and not yet done -----


def close_due_periods(session_factory: Callable[[], Session], now: datetime) -> dict:
    """Every period whose last day is over and that is not closed yet is closed, oldest
    first, and the next one credited. A run cut short is finished by the next tick."""
    today = clock.region_date(now)
    with session_factory() as session:
        due = session.scalars(
            select(Period.id)
            .where(Period.end_date < today, Period.status != domain.PERIOD_CLOSED)
            .order_by(Period.start_date)
        ).all()
    closed = [close_period(session_factory, period_id, today) for period_id in due]
    if not closed:
        return {}
    return {
        "closed": [done["period_id"] for done in closed],
        **{k: sum(done[k] for done in closed) for k in ("expired", "credited", "queued")},
    }


def finance_registered(session_factory: Callable[[], Session], today: date) -> int:
    """Certificates ready before opening day (issue 20, funding.finance_registered): every
    open period not over, every municipality with a fund in it, in batches of BATCH each
    committed on its own; stops at a municipality's first certificate that finds no room."""
    with session_factory() as session:
        funds = session.execute(
            select(MunicipalFund.municipality_code, MunicipalFund.period_id)
            .join(Period, Period.id == MunicipalFund.period_id)
            .where(Period.status == domain.PERIOD_OPEN, Period.end_date >= today)
            .order_by(Period.start_date, MunicipalFund.municipality_code)
        ).all()
    total = 0
    for municipality_code, period_id in funds:
        after: int | None = 0
        while after is not None:
            with session_factory() as session, session.begin():
                financed, after = funding.finance_registered(
                    session, municipality_code, period_id, after, BATCH
                )
            total += financed
    return total


def finance_registered_job(session_factory: Callable[[], Session], now: datetime) -> dict:
    """Each tick: children registered since (and room the limit gained) get their
    certificates financed before they apply. A re-run finds nothing to do."""
    financed = finance_registered(session_factory, clock.region_date(now))
    return {"financed_certificates": financed} if financed else {}


def expire_aged_job(session_factory: Callable[[], Session], now: datetime) -> dict:
    """Daily (each tick, in fact: a re-run finds nothing): certificates of children who
    turned 18 by the region's date expire."""
    expired = expire_aged(session_factory, clock.region_date(now))
    return {"expired_certificates": len(expired)} if expired else {}


def expiry_notice_days() -> int:
    return int(config.env("CERTIFICATE_EXPIRY_NOTICE_DAYS", str(domain.EXPIRY_NOTICE_DAYS)))


def announce_expiring(session_factory: Callable[[], Session], today: date) -> list[str]:
    """`certificate_expiring` for every certificate whose validity ends within the horizon
    (domain.expires_soon), once per certificate and `valid_until` (expiry_notices, in the
    event's transaction), in batches. A rerun, or a tick after a day the service was down,
    announces only what was not announced yet."""
    horizon = expiry_notice_days()
    announced: list[str] = []
    last_id = 0
    while True:
        with session_factory() as session, session.begin():
            session.info.setdefault("producer", "certificates")
            batch = session.scalars(
                select(Certificate)
                .where(
                    Certificate.status != domain.EXPIRED,
                    Certificate.valid_until > today,
                    Certificate.valid_until <= date.fromordinal(today.toordinal() + horizon),
                    Certificate.id > last_id,
                )
                .order_by(Certificate.id)
                .limit(BATCH)
            ).all()
            for certificate in batch:
                if not domain.expires_soon(
                    certificate.valid_until, certificate.status, today, horizon
                ):
                    continue
                if not inserted_once(
                    session, ExpiryNotice,
                    certificate_id=certificate.id, valid_until=certificate.valid_until,
                ):  # fmt: skip
                    continue
                data = {
                    "certificate_number": certificate.number,
                    "child_id": certificate.child_id,
                    "parent_id": certificate.parent_id,
                    "municipality_code": certificate.municipality_code,
                    "valid_until": certificate.valid_until.isoformat(),
                    "days_left": (certificate.valid_until - today).days,
                }
                emit(session, "certificate_expiring", CertificateExpiringSchema().dump(data))
                announced.append(certificate.number)
        if not batch:
            return announced
        last_id = batch[-1].id


def announce_expiring_job(session_factory: Callable[[], Session], now: datetime) -> dict:
    """Each tick: parents hear that a certificate's validity ends within the horizon
    (CERTIFICATE_EXPIRY_NOTICE_DAYS, 30), once per certificate."""
    announced = announce_expiring(session_factory, clock.region_date(now))
    return {"expiring_announced": len(announced)} if announced else {}


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.orm import sessionmaker

    from servicekit.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m services.certificates.rollover")
    parser.add_argument("period_id", type=int, nargs="?", help="the period to close")
    parser.add_argument(
        "--expire-aged", action="store_true", help="expire certificates of children now 18"
    )
    parser.add_argument(
        "--finance-registered",
        action="store_true",
        help="finance registered children's certificates while the limits have room",
    )
    args = parser.parse_args(argv)
    if args.period_id is None and not args.expire_aged and not args.finance_registered:
        parser.error("give a PERIOD_ID to close, --expire-aged or --finance-registered")
    engine = make_engine("certificates", pool_size=1)
    factory = sessionmaker(engine, expire_on_commit=False, info={"producer": "certificates"})
    if args.expire_aged:
        print({"expired_certificates": len(expire_aged(factory, clock.today()))})
    if args.finance_registered:
        print({"financed_certificates": finance_registered(factory, clock.today())})
    status = 0
    if args.period_id is not None:
        try:
            print(close_period(factory, args.period_id))
        except Refused as refusal:
            print(f"{refusal.code}: {refusal.message}", file=sys.stderr)
            status = 1
    engine.dispose()
    return status


if __name__ == "__main__":
    sys.exit(main())
