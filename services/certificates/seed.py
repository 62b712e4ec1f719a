"""Demo periods, nominals, limits and certificates for development (`make run` loads them
into an empty database; `make seed` adds whatever is missing). DEVELOPMENT ONLY.

deploy/seed.py calls `load` with the demo region's municipalities:

- two periods: the program year that contains today and the next one;
- for every municipality of the demo region, nominals by age band (5-13 and 14-17 years)
  that differ by municipality, and a generous limit, except Krasnoyarsk, whose limit is one
  nominal of the older band: its first child asking for money is financed, the next waits
  in the queue;
- certificates for the demo parent's children: Пётр (2015) financed, Анна (2018) queued.

The children's facts are read from the accounts database (the seed runs before any service
does, so there is nobody to ask over RPC); the services themselves ask accounts' `get_child`.
"""

import zlib
from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicekit import clock, config
from servicekit.db import make_engine
from services.certificates import domain, funding, operations
from services.certificates.models import MunicipalFund, Period

DEMO_PARENT = "parent@navigator.example"
BIG_TOWN = "krasnoyarsk"


def program_year(today: date) -> tuple[date, date]:
    start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    return start, date(start.year + 1, 8, 31)


def bands_for(code: str) -> list[domain.AgeBand]:
    """Nominals that differ by municipality: 18,000-26,000 ₽ for 5-13, 6,000 ₽ more for 14-17."""
    base = 18_000_00 + (zlib.crc32(code.encode()) % 5) * 2_000_00
    return [domain.AgeBand(5, 13, base), domain.AgeBand(14, 17, base + 6_000_00)]


def demo_children() -> list[dict]:
    """The demo parent's children as accounts' `get_child` would answer."""
    engine = sa.create_engine(config.database_url("accounts"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.id, c.parent_id, c.birth_date, c.municipality_code FROM children c"
                    " JOIN users u ON u.id = c.parent_id WHERE u.email = :email"
                    " ORDER BY c.birth_date"
                ),
                {"email": DEMO_PARENT},
            ).mappings()
            return [dict(row) for row in rows]
    except sa.exc.SQLAlchemyError as exc:
        print(f"certificates: demo children not read from accounts ({exc.__class__.__name__})")
        return []
    finally:
        engine.dispose()


def seed(session: Session, today: date, municipalities: Iterable[dict]) -> dict:
    """Periods, funds of `municipalities` ({code, ...} dicts) and the demo certificates."""
    codes = [municipality["code"] for municipality in municipalities]
    start, end = program_year(today)
    periods = []
    for first, last, name in (
        (start, end, f"{start.year}/{end.year} учебный год"),
        (date(start.year + 1, 9, 1), date(end.year + 1, 8, 31),
         f"{start.year + 1}/{end.year + 1} учебный год"),
    ):  # fmt: skip
        period = session.scalar(select(Period).where(Period.start_date == first))
        if period is None:
            period = Period(name=name, start_date=first, end_date=last, status="open")
            session.add(period)
            session.flush()
        periods.append(period)
    for period in periods:
        for code in codes:
            if funding.fund(session, code, period.id) is not None:
                continue
            bands = bands_for(code)
            limit = bands[1].amount if code == BIG_TOWN else 5_000 * bands[1].amount
            session.add(
                MunicipalFund(
                    municipality_code=code,
                    period_id=period.id,
                    limit_amount=limit,
                    used=0,
                    bands=[vars(b) for b in bands],
                )
            )
        session.flush()
    issued = []
    for child in demo_children():
        certificate = operations.ensure_certificate(session, child)
        funding.finance(session, certificate, periods[0])
        issued.append(certificate.number)
    return {"periods": len(periods), "certificates": issued}


def load(municipalities: Iterable[dict], if_empty: bool = False) -> str:
    """Adds what is missing of the demo data for `municipalities`; with `if_empty`, a
    database that has periods is left alone."""
    engine = make_engine("certificates", pool_size=1, max_overflow=0)
    try:
        with Session(engine, info={"producer": "certificates"}) as session:
            if if_empty and session.scalar(select(func.count()).select_from(Period)):
                return "certificates: not empty, demo data not loaded"
            done = seed(session, clock.today(), municipalities)
            session.commit()
    finally:
        engine.dispose()
    return f"certificates: {done['periods']} periods, certificates {done['certificates']}"
