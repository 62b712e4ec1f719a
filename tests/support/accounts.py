"""Real users for end-to-end tests: a regional operator made by the operator command, staff
made through POST /staff, parents through POST /auth/register, each logged in through HTTP.

Every request here comes "from" its own client address (X-Forwarded-For, believed from the
test's 127.0.0.1 because the system runs with TRUSTED_PROXIES=127.0.0.1), so the login
throttle of one test never answers another test's logins.
"""

import itertools
import random
import uuid
from dataclasses import dataclass, field

import requests
import sqlalchemy as sa

from servicekit import clock
from services.accounts.domain import snils_check_number

PASSWORD = "Correct-Horse-42"
_addresses = itertools.count(1)
_rng = random.Random()


# whoever an access table answers for: nobody, and each user build_world makes
CALLERS = (
    "anonymous",
    "parent",
    "other_parent",
    "provider",
    "provider_elsewhere",
    "municipal",
    "municipal_elsewhere",
    "regional",
)


def fresh_address() -> str:
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def fresh_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.ru"


def fresh_snils() -> str:
    number = f"{_rng.randint(2_000_000, 999_999_998):09d}"
    if len(set(number)) == 1:
        return fresh_snils()
    check = snils_check_number(number)
    return f"{number[:3]}-{number[3:6]}-{number[6:]} {check:02d}"


def child_body(**overrides) -> dict:
    body = {
        "last_name": "Иванов",
        "first_name": "Пётр",
        "middle_name": "Сергеевич",
        "sex": "male",
        "birth_date": "2016-05-20",
        "snils": fresh_snils(),
        "birth_certificate_series": "IV-БА",
        "birth_certificate_number": "123456",
        "municipality_code": "krasnoyarsk",
    }
    body.update(overrides)
    return body


class Client:
    """requests with the API base, an optional bearer token and a client address."""

    def __init__(self, api: str, token: str | None = None, address: str | None = None):
        self.api, self.token = api, token
        self.address = address or fresh_address()

    def headers(self, extra=None) -> dict:
        headers = {"X-Forwarded-For": self.address}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, json=None, headers=None, **kwargs):
        return requests.request(
            method,
            f"{self.api}{path}",
            json=json,
            headers=self.headers(headers),
            timeout=kwargs.pop("timeout", 20),
            **kwargs,
        )

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)


def as_user(base_url: str, method: str, path: str, token: str, body=None):
    """One API call (`path` below /api/v1) with the user's bearer token and a fresh
    Idempotency-Key."""
    return requests.request(
        method,
        f"{base_url}/api/v1{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=20,
    )


def login(api: str, email: str, password: str = PASSWORD) -> dict:
    response = Client(api).post("/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def register_parent(api: str, email: str | None = None, password: str = PASSWORD) -> dict:
    email = email or fresh_email("parent")
    response = Client(api).post(
        "/auth/register",
        {
            "email": email,
            "password": password,
            "full_name": "Родителева Анна Викторовна",
            "consent_personal_data": True,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def confirm_email(accounts_url: str, user_id: int) -> None:
    """The parent confirmed the address (tests/e2e/test_account_recovery.py follows the
    letter's link; here the mark is set as that link sets it)."""
    engine = sa.create_engine(accounts_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE users SET email_verified_at = now() WHERE id = :id"),
                {"id": user_id},
            )
    finally:
        engine.dispose()


def ensure_organization(catalog_url: str, organization_id: int, municipality_code: str) -> None:
    """An organization in the catalog's test database (staff of a provider need one)."""
    engine = sa.create_engine(catalog_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organizations (id, name, inn, municipality_code, address, status)"
                    " VALUES (:id, :name, :inn, :code, 'ул. Тестовая, 1', 'active')"
                    " ON CONFLICT (id) DO NOTHING"
                ),
                {
                    "id": organization_id,
                    "name": f"Тестовая организация {organization_id}",
                    "inn": f"24{organization_id:08d}",
                    "code": municipality_code,
                },
            )
    finally:
        engine.dispose()


@dataclass
class User:
    email: str
    id: int
    role: str
    tokens: dict
    organization_id: int | None = None
    municipality_code: str | None = None

    @property
    def token(self) -> str:
        return self.tokens["access_token"]


@dataclass
class World:
    api: str
    users: dict[str, User] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)

    def client(self, who: str | None) -> Client:
        return Client(self.api, self.users[who].token if who else None)

    def staff_of(self, organization_id: int, prefix: str = "org-staff") -> Client:
        """A new provider staff member of the organization, made by the regional operator,
        signed in."""
        email = fresh_email(prefix)
        created = self.client("regional").post(
            "/staff",
            {"email": email, "password": PASSWORD, "full_name": "Поставщикова Ирина",
             "role": "provider", "organization_id": organization_id},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        return Client(self.api, login(self.api, email)["access_token"])


HOME, ELSEWHERE = "krasnoyarsk", "achinsk"
HOME_ORG, ELSEWHERE_ORG = 990001, 990002


def build_world(api: str, databases: dict) -> World:
    """One user of every role at home (Krasnoyarsk) and one elsewhere (Achinsk), two
    parents, and a child of each parent."""
    from services.accounts.admin import create_regional_operator

    ensure_organization(databases["catalog"], HOME_ORG, HOME)
    ensure_organization(databases["catalog"], ELSEWHERE_ORG, ELSEWHERE)
    world = World(api)
    regional_email = fresh_email("region")
    regional = create_regional_operator(regional_email, "Регионова Ольга Игоревна", PASSWORD)
    world.users["regional"] = User(
        regional_email, regional["id"], "regional_operator", login(api, regional_email)
    )
    staff = {
        "municipal": {"role": "municipal_operator", "municipality_code": HOME},
        "municipal_elsewhere": {"role": "municipal_operator", "municipality_code": ELSEWHERE},
        "provider": {"role": "provider", "organization_id": HOME_ORG},
        "provider_elsewhere": {"role": "provider", "organization_id": ELSEWHERE_ORG},
    }
    for name, attachment in staff.items():
        email = fresh_email(name.replace("_", "-"))
        response = world.client("regional").post(
            "/staff",
            {"email": email, "password": PASSWORD, "full_name": "Сотрудникова Ирина", **attachment},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        world.users[name] = User(
            email,
            created["id"],
            created["role"],
            login(api, email),
            created["organization_id"],
            created["municipality_code"],
        )
    for name in ("parent", "other_parent"):
        user = register_parent(api)
        confirm_email(databases["accounts"], user["id"])  # they apply: a confirmed address
        world.users[name] = User(user["email"], user["id"], "parent", login(api, user["email"]))
    for name, municipality in (("parent", HOME), ("other_parent", ELSEWHERE)):
        response = world.client(name).post("/children", child_body(municipality_code=municipality))
        assert response.status_code == 201, response.text
        world.children[name] = response.json()["id"]
    return world


def apply_to_organization(
    databases: dict, parent: Client, child_id: int, organization_id: int, timeout: float = 20
) -> str:
    """The child applies (over HTTP, as its parent) to a fresh own-money group of the
    organization, and accounts hears of it (enrollment's event): the organization's staff
    may see the child from then on. Answers the application's id."""
    import time

    from tests.support import enrollment

    catalog = sa.create_engine(databases["catalog"])
    certificates = sa.create_engine(databases["certificates"])
    accounts = sa.create_engine(databases["accounts"])
    try:
        enrollment.period(certificates)
        group_id = enrollment.group(catalog, organization_id, registry="paid")
        response = parent.post(
            "/enrollments",
            {"child_id": child_id, "group_id": group_id, "start_date": clock.today().isoformat(),
             "accept_copay": True},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with accounts.connect() as conn:
                heard = conn.execute(
                    sa.text(
                        "SELECT 1 FROM child_applications"
                        " WHERE organization_id = :org AND child_id = :child"
                    ),
                    {"org": organization_id, "child": child_id},
                ).first()
            if heard:
                return response.json()["id"]
            time.sleep(0.1)
        raise AssertionError(f"accounts never heard that child {child_id} applied")
    finally:
        for engine in (catalog, certificates, accounts):
            engine.dispose()
