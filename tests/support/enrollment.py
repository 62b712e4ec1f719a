"""Test data for enrollment, written straight into the services' databases (untimed, as a
seed would): organizations, programs and open groups in the catalog (and each group's facts
in enrollment's database, as the catalog's `group_changed` would bring them), parents and
children in accounts, a period with nominals in certificates."""

import itertools
import random
import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.catalog import domain as catalog_domain
from services.catalog import event_data, search
from services.catalog.models import Group, Organization, Program
from services.enrollment import groups as enrollment_groups

PERIOD = {"name": "2026/2027", "start_date": date(2026, 9, 1), "end_date": date(2027, 8, 31)}
_rng = random.Random()
_snils = itertools.count(_rng.randint(10**9, 2 * 10**9) * 10)


def organization(engine, municipality="krasnoyarsk") -> int:
    with Session(engine) as session:
        org = Organization(
            name=f"Центр {uuid.uuid4().hex[:6]}",
            inn=catalog_domain.inn_with_check_digits(f"{_rng.randint(10**8, 10**9 - 1)}"),
            municipality_code=municipality,
            address="г. Красноярск, ул. Ленина, 1",
            status="active",
        )
        session.add(org)
        session.commit()
        return org.id


def group(
    engine,
    organization_id: int,
    *,
    capacity=20,
    registry="certified",
    price=900_000,
    normative=900_000,
    open_=True,
    min_age=7,
    max_age=12,
    title="Робототехника",
) -> int:
    """A published program's group, 1 Sep 2026 – 31 May 2027 (273 days)."""
    with Session(engine) as session:
        program = Program(
            organization_id=organization_id,
            title=title,
            description="Конструирование и программирование",
            direction="technical",
            level="basic",
            format="in_person",
            adapted=False,
            registry_code=registry,
            certified=registry == "certified",
            payment_type=catalog_domain.program_payment_type(registry, registry == "certified"),
            min_age=min_age,
            max_age=max_age,
            status="published",
        )
        session.add(program)
        session.flush()
        row = Group(
            program_id=program.id,
            name="Группа 1",
            teacher="Петрова",
            address="адрес",
            lat=56.0,
            lon=92.8,
            schedule=[{"weekday": 2, "start": "16:00", "end": "17:00"}],
            start_date=date(2026, 9, 1),
            end_date=date(2027, 5, 31),
            min_age=min_age,
            max_age=max_age,
            capacity=capacity,
            held=0,
            enrolled=0,
            price_kopecks=price,
            normative_cost_kopecks=normative,
            monthly_price_kopecks=100_000,
            enrollment_open=open_,
        )
        session.add(row)
        session.flush()
        search.refresh_programs(session, [program.id])
        org = session.get(Organization, organization_id)
        facts = event_data.group_facts(row, program, org)
        session.commit()
    known(engine, [facts])
    return facts["group_id"]


def enrollment_engine(catalog_engine):
    """Enrollment's database beside a catalog's: the same name with `enrollment` for its
    last `catalog` (navtest_<run>_catalog, navigator_bench_catalog, ...)."""
    url = catalog_engine.url
    head, _, tail = url.database.rpartition("catalog")
    return sa.create_engine(url.set(database=f"{head}enrollment{tail}"))


def known(catalog_engine, facts: list[dict]) -> None:
    """Enrollment learns the groups' facts (what its handler of `group_changed` stores)."""
    engine = enrollment_engine(catalog_engine)
    try:
        with Session(engine) as session:
            enrollment_groups.store(session, facts)
            session.commit()
    finally:
        engine.dispose()


def parent(engine, municipality="krasnoyarsk") -> int:
    with engine.begin() as conn:
        return conn.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, role, is_active)"
                " VALUES (:email, 'x', 'Родитель', 'parent', true) RETURNING id"
            ),
            {"email": f"parent-{uuid.uuid4().hex[:12]}@example.ru"},
        ).scalar()


def children(
    engine, parent_id: int, count: int, birth_date=date(2017, 3, 1), municipality="krasnoyarsk"
):
    rows = [
        {
            "parent_id": parent_id,
            "snils": f"{next(_snils) % 10**11:011d}",
            "birth_date": birth_date,
            "municipality_code": municipality,
        }
        for _ in range(count)
    ]
    with engine.begin() as conn:
        return (
            conn.execute(
                sa.text(
                    "INSERT INTO children (parent_id, last_name, first_name, sex, birth_date, snils,"  # noqa: E501
                    " birth_certificate_series, birth_certificate_number, municipality_code)"
                    " SELECT * FROM unnest(CAST(:parents AS int[]), :last, :first, :sex,"
                    " CAST(:births AS date[]), CAST(:snils AS text[]), :series, :number,"
                    " CAST(:muns AS text[])) RETURNING id"
                ),
                {
                    "parents": [r["parent_id"] for r in rows],
                    "last": ["Иванов"] * count,
                    "first": ["Пётр"] * count,
                    "sex": ["male"] * count,
                    "births": [r["birth_date"] for r in rows],
                    "snils": [r["snils"] for r in rows],
                    "series": ["IV-БА"] * count,
                    "number": ["123456"] * count,
                    "muns": [r["municipality_code"] for r in rows],
                },
            )
            .scalars()
            .all()
        )


def period(engine, municipality="krasnoyarsk", nominal=1_000_000, limit=10**12) -> int:
    """The 2026/2027 period (opened once per test database) with a nominal and a limit."""
    from services.certificates import funding
    from services.certificates.domain import AgeBand
    from services.certificates.models import Period

    with Session(engine, info={"producer": "certificates"}) as session:
        # certificates' own tests of this run may have opened (or closed) the same year
        existing = session.scalar(
            sa.select(Period).where(Period.start_date == PERIOD["start_date"])
        )
        if existing is None:
            existing = Period(**PERIOD, status="open")
            session.add(existing)
            session.flush()
        existing.status = "open"
        funding.set_bands(session, municipality, existing.id, [AgeBand(0, 17, nominal)])
        funding.set_limit(session, municipality, existing.id, limit)
        session.commit()
        return existing.id


def provider(engine, organization_id: int, municipality="krasnoyarsk") -> dict:
    """A provider's staff member, as the gateway passes them (Principal.as_rpc())."""
    with engine.begin() as conn:
        user_id = conn.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, role, organization_id,"
                " municipality_code, is_active) VALUES (:email, 'x', 'Педагог', 'provider',"
                " :org, :mun, true) RETURNING id"
            ),
            {
                "email": f"staff-{uuid.uuid4().hex[:12]}@example.ru",
                "org": organization_id,
                "mun": municipality,
            },
        ).scalar()
    return {"user_id": user_id, "role": "provider", "organization_id": organization_id,
            "municipality_code": municipality}  # fmt: skip
