"""Issue 18, the certificates' side: a period closes at its end and not before (by the
calendar, or by hand once it is over), certificates expire at the 18th birthday on the
calendar, the payer is the certificate's municipality, nominals within a year and the
allowance of free places. Real PostgreSQL and RabbitMQ, the business clock frozen."""

import subprocess
import sys
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.errors import Conflict, NotFound
from services.certificates.models import Period
from tests.integration import test_certificates_ledger as ledger
from tests.integration.test_certificates_ledger import (
    child,
    clean_audit,
    fresh_municipality,
    funded,
)
from tests.support import sql

# the ledger module's fixtures: the service in a container, its engine, the current period
certificates, engine, period = ledger.certificates, ledger.engine, ledger.period


def far_periods(engine, count=2):
    """Consecutive periods in a year of their own, long past (so only they are due when the
    clock is frozen right after them)."""
    year = 300 + uuid.uuid4().int % 600
    ids = []
    with Session(engine) as session, session.begin():
        for i in range(count):
            row = Period(name=f"Далёкий {year + i}", start_date=date(year + i, 9, 1),
                         end_date=date(year + i + 1, 8, 31), status="open")  # fmt: skip
            session.add(row)
            session.flush()
            ids.append(row.id)
    return year, ids


def status_of(engine, period_id):
    return sql.scalar(engine, "SELECT status FROM periods WHERE id = :p", p=period_id)


# --- item 7: a period closes at its end, not before --------------------------------------


def test_closing_a_period_before_its_last_day_is_over_is_refused_and_changes_nothing(
    certificates, engine
):
    year, (old_id,) = far_periods(engine, count=1)  # leaves nothing open behind it
    mun = funded(engine, old_id, fresh_municipality(), 1_000_00, 1_000_00)
    kid = child(mun, birth=f"{year - 5:04d}-03-01")
    with clock.freeze(date(year + 1, 8, 31)):  # the last day itself: still running
        number = certificates.reserve_funds(f"c-{kid['id']}", kid, old_id, 0, True)[
            "certificate_number"
        ]
        with pytest.raises(Conflict) as refused:
            certificates.close_period(old_id)
    assert refused.value.code == "period_not_over"
    assert status_of(engine, old_id) == "open"
    expired = sql.scalar(
        engine,
        "SELECT b.expired FROM balances b JOIN certificates c ON c.id = b.certificate_id"
        " WHERE c.number = :n AND b.period_id = :p",
        n=number,
        p=old_id,
    )
    assert expired == 0
    with clock.freeze(date(year + 1, 9, 1)):
        done = certificates.close_period(old_id)
    assert done["expired"] == 1_000_00
    assert status_of(engine, old_id) == "closed"


def test_make_close_period_refuses_a_period_that_is_not_over(engine):
    """`make close-period PERIOD=<id>` is this command, on this run's database."""
    with Session(engine) as session, session.begin():
        year = 2500 + uuid.uuid4().int % 400
        row = Period(name=f"Будущий {year}", start_date=date(year, 9, 1),
                     end_date=date(year + 1, 8, 31), status="open")  # fmt: skip
        session.add(row)
        session.flush()
        period_id = row.id
    run = subprocess.run(
        [sys.executable, "-m", "services.certificates.rollover", str(period_id)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "period_not_over" in run.stderr
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM periods WHERE id = :p"), {"p": period_id}
        ).scalar()
    assert status == "open"


def test_the_calendar_closes_a_period_the_day_after_its_end_and_credits_the_next(
    certificates, engine
):
    year, (old_id, new_id) = far_periods(engine)
    mun = fresh_municipality()
    funded(engine, old_id, mun, 1_000_00, 10_000_00)
    funded(engine, new_id, mun, 1_500_00, 10_000_00)
    kid = child(mun, birth=f"{year - 6:04d}-03-01")
    with clock.freeze(date(year, 10, 1)):
        number = certificates.reserve_funds(f"c-{kid['id']}", kid, old_id, 300_00, True)[
            "certificate_number"
        ]
    with clock.freeze(date(year + 1, 8, 31)):
        assert certificates.run_calendar_job("close_periods") == {}  # not over yet
    assert status_of(engine, old_id) == "open"
    with clock.freeze(date(year + 1, 9, 1)):
        done = certificates.run_calendar_job("close_periods")
        again = certificates.run_calendar_job("close_periods")
    assert done["closed"] == [old_id]
    assert (done["expired"], done["credited"]) == (700_00, 1)
    assert again == {}  # nothing more is due
    assert status_of(engine, old_id) == "closed"
    rows = sql.rows(
        engine,
        "SELECT b.period_id, b.available, b.reserved, b.expired FROM balances b"
        " JOIN certificates c ON c.id = b.certificate_id WHERE c.number = :n"
        " ORDER BY b.period_id",
        n=number,
    )
    assert [tuple(r) for r in rows] == [(old_id, 0, 300_00, 700_00), (new_id, 1_500_00, 0, 0)]
    assert clean_audit(engine) == []


def test_the_calendar_expires_certificates_at_the_eighteenth_birthday(certificates, engine, period):
    with engine.connect() as conn:
        start = conn.execute(
            sa.text("SELECT start_date FROM periods WHERE id = :p"), {"p": period}
        ).scalar()
    mun = funded(engine, period, fresh_municipality(), 2_000_00, 2_000_00)
    birthday = start + timedelta(days=40)
    older = child(mun, birth=birthday.replace(year=birthday.year - 18).isoformat())
    with clock.freeze(start + timedelta(days=1)):
        certificates.reserve_funds(f"age-{older['id']}", older, period, 0, True)
    with clock.freeze(birthday - timedelta(days=1)):
        certificates.run_calendar_job("expire_aged")
        assert certificates.get_balance(older["id"])["status"] == "active"
    with clock.freeze(birthday):
        done = certificates.run_calendar_job("expire_aged")
        assert certificates.run_calendar_job("expire_aged") == {}
        gone = certificates.get_balance(older["id"])
    assert done["expired_certificates"] >= 1
    assert (gone["status"], gone["available"], gone["expired"]) == ("expired", 0, 2_000_00)


def test_an_unknown_calendar_job_is_not_found(certificates):
    with pytest.raises(NotFound):
        certificates.run_calendar_job("nothing")


def expiring_events(engine, certificate_number):
    return sql.scalars(
        engine,
        "SELECT body->'data' FROM outbox WHERE type = 'certificate_expiring'"
        " AND body->'data'->>'certificate_number' = :n ORDER BY id",
        n=certificate_number,
    )


def test_the_calendar_tells_once_that_a_certificate_expires_within_thirty_days(
    certificates, engine, period
):
    """Issue 23: `announce_expiring` emits `certificate_expiring` once the validity's end
    (the 18th birthday) is 30 days away or less, once per certificate: a rerun, a later day
    and the expired certificate announce nothing more."""
    mun = fresh_municipality()
    birthday = clock.today() + timedelta(days=45)
    older = child(mun, birth=birthday.replace(year=birthday.year - 18).isoformat())
    number = certificates.ensure_certificate(older["id"], older)["number"]
    with clock.freeze(birthday - timedelta(days=31)):
        certificates.run_calendar_job("announce_expiring")
    assert expiring_events(engine, number) == []
    with clock.freeze(birthday - timedelta(days=30)):
        done = certificates.run_calendar_job("announce_expiring")
        assert certificates.run_calendar_job("announce_expiring") == {}
    assert done["expiring_announced"] >= 1
    assert expiring_events(engine, number) == [
        {"certificate_number": number, "child_id": older["id"], "parent_id": older["parent_id"],
         "municipality_code": mun, "valid_until": birthday.isoformat(), "days_left": 30}
    ]  # fmt: skip
    with clock.freeze(birthday - timedelta(days=1)):
        certificates.run_calendar_job("announce_expiring")
    with clock.freeze(birthday):
        certificates.run_calendar_job("expire_aged")
        certificates.run_calendar_job("announce_expiring")
    assert len(expiring_events(engine, number)) == 1
