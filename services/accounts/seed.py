"""Demo accounts for development (`make run` loads them into an empty database; `make seed`
adds whichever are missing). DEVELOPMENT ONLY: the password is public, in docs/accounts.md.
deploy/seed.py calls `load` with the demo region.

Provider staff belong to organizations of the demo region deploy/seed.py hands over (the
same one it loads into the catalog), so their ids and municipalities agree.
"""

from collections.abc import Callable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contracts import roles
from contracts.principal import Principal
from servicekit import clock
from servicekit.db import make_engine
from services.accounts import domain, operations
from services.accounts.models import Child, User

DEMO_PASSWORD = "Demo-Navigator-2026"
MUNICIPALITY = "krasnoyarsk"
PATRONYMICS = ("Ивановна", "Петровна", "Олеговна")


class DemoDirectory:
    """The demo region the catalog is seeded with, read without the catalog service: its
    `.municipalities` and `.organizations` (plain dicts, as deploy/demo_region.py makes)."""

    def __init__(self, region):
        self.municipalities = {m["code"]: m for m in region.municipalities}
        self.organizations = {o["id"]: o for o in region.organizations}

    def municipality(self, code):
        return self.municipalities.get(code)

    def organization(self, organization_id):
        return self.organizations.get(organization_id)

    def active_organizations(self, municipality_code: str, count: int) -> list[dict]:
        found = [
            o
            for o in self.organizations.values()
            if o["municipality_code"] == municipality_code and o["status"] == "active"
        ]
        return sorted(found, key=lambda o: o["id"])[:count]


def snils(nine_digits: str) -> str:
    return nine_digits + f"{domain.snils_check_number(nine_digits):02d}"


def demo_staff(directory: DemoDirectory) -> list[dict]:
    staff = [
        {
            "email": "region@navigator.example",
            "full_name": "Регионова Ольга Игоревна",
            "role": "regional_operator",
        },
        {
            "email": "mun.krasnoyarsk@navigator.example",
            "full_name": "Муниципалов Андрей Сергеевич",
            "role": "municipal_operator",
            "municipality_code": MUNICIPALITY,
        },
        {
            "email": "mun.achinsk@navigator.example",
            "full_name": "Ачинская Дарья Павловна",
            "role": "municipal_operator",
            "municipality_code": "achinsk",
        },
    ]
    picks = directory.active_organizations(MUNICIPALITY, 2) + directory.active_organizations(
        "achinsk", 1
    )
    for number, organization in enumerate(picks, start=1):
        staff.append(
            {
                "email": f"provider{number}@navigator.example",
                "full_name": f"Поставщикова Елена {PATRONYMICS[number - 1]}",
                "role": "provider",
                "organization_id": organization["id"],
            }
        )
    return [{**person, "password": DEMO_PASSWORD} for person in staff]


PARENT = {
    "email": "parent@navigator.example",
    "full_name": "Иванова Мария Петровна",
    "phone": "+79131234567",
    "password": DEMO_PASSWORD,
    "consent_personal_data": True,
}
CHILDREN = [
    {
        "last_name": "Иванов",
        "first_name": "Пётр",
        "middle_name": "Сергеевич",
        "sex": "male",
        "birth_date": date(2015, 4, 12),
        "snils": snils("112233445"),
        "birth_certificate_series": "IV-БА",
        "birth_certificate_number": "123456",
        "municipality_code": MUNICIPALITY,
    },
    {
        "last_name": "Иванова",
        "first_name": "Анна",
        "middle_name": "Сергеевна",
        "sex": "female",
        "birth_date": date(2018, 11, 3),
        "snils": snils("198765432"),
        "birth_certificate_series": "II-СТ",
        "birth_certificate_number": "654321",
        "municipality_code": MUNICIPALITY,
    },
]


def seed(session: Session, passwords: operations.Passwords, directory: DemoDirectory) -> list:
    """Adds the demo accounts that are missing; returns the e-mails added."""
    added = []

    def exists(email: str) -> bool:
        return session.scalar(select(User.id).where(User.email == email)) is not None

    for person in demo_staff(directory):
        if not exists(person["email"]):
            operations.create_staff(session, passwords, None, person, directory)
            added.append(person["email"])
    if not exists(PARENT["email"]):
        parent = operations.register_parent(session, passwords, PARENT, operations.utcnow())
        # the demo parent applies at once: its (unreachable) address counts as confirmed
        session.get(User, parent["id"]).email_verified_at = operations.utcnow()
        viewer = Principal(parent["id"], roles.PARENT)
        for child in CHILDREN:
            if session.scalar(select(Child.id).where(Child.snils == child["snils"])) is None:
                operations.add_child(session, viewer, child, clock.today(), directory)
        added.append(PARENT["email"])
    return added


def load(make_region: Callable, if_empty: bool = False) -> str:
    """Adds the missing demo accounts for the region `make_region()` makes; with `if_empty`,
    a database that has users is left alone (nothing is made)."""
    engine = make_engine("accounts", pool_size=1, max_overflow=0)
    try:
        with Session(engine, info={"producer": "accounts"}) as session:
            if if_empty and session.scalar(select(func.count()).select_from(User)):
                return "accounts: not empty, demo accounts not loaded"
            added = seed(session, operations.Passwords(), DemoDirectory(make_region()))
            session.commit()
    finally:
        engine.dispose()
    return f"accounts: {len(added)} demo accounts added" + (
        f": {', '.join(added)}" if added else ""
    )
