"""Every catalog route × every caller × own or foreign organization, with the exact status,
over HTTP against the running system; and the catalog as a parent and a provider use it.

Callers: anonymous; a parent; staff of the home organization (Krasnoyarsk) and of another
one (Achinsk); the municipal operators of Krasnoyarsk (own) and of Achinsk (foreign); the
regional operator. Something a caller may not see answers 404, as a missing one does;
something visible that is not theirs to change answers 403.
"""

import random
import re
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from servicekit.tokens import issue_access_token
from services.catalog.domain import inn_with_check_digits

CALLERS = (
    "anonymous",
    "parent",
    "provider",
    "provider_elsewhere",
    "municipal",
    "municipal_elsewhere",
    "regional",
)
_rng = random.Random()


def token(claims):
    return issue_access_token(claims, ttl=3600) if claims else None


class Client:
    def __init__(self, api, claims=None):
        self.api = api
        self.headers = {"Authorization": f"Bearer {token(claims)}"} if claims else {}

    def request(self, method, path, body=None, **params):
        return requests.request(
            method,
            f"{self.api}{path}",
            json=body,
            params=params or None,
            headers=self.headers,
            timeout=20,
        )

    def ok(self, method, path, body=None, status=200):
        response = self.request(method, path, body)
        assert response.status_code == status, (method, path, response.text)
        return response.json()


def organization_body(municipality="krasnoyarsk"):
    return {
        "name": f"Центр «{uuid.uuid4().hex[:6]}»",
        "inn": inn_with_check_digits(f"24{_rng.randint(0, 9_999_999):07d}"),
        "municipality_code": municipality,
        "address": "Красноярский край, г. Красноярск, ул. Ленина, д. 1",
        "phone": "+7 (391) 200-00-00",
        "email": "info@center.example",
    }


def program_body(title="Футбольная секция «Енисей»"):
    return {
        "title": title,
        "description": "Тренировки по футболу для мальчиков и девочек.",
        "direction": "sports",
        "level": "basic",
        "min_age": 7,
        "max_age": 12,
        "format": "in_person",
        "registry": "certified",
    }


def group_body(program_id):
    return {
        "program_id": program_id,
        "name": "Группа 1",
        "teacher": "Иванова Анна Петровна",
        "address": "г. Красноярск, ул. Ленина, д. 1",
        "lat": 56.0106,
        "lon": 92.8526,
        "schedule": [
            {"weekday": 2, "start": "16:00", "end": "17:30"},
            {"weekday": 4, "start": "16:00", "end": "17:30"},
        ],
        "start_date": "2026-09-01",
        "end_date": "2027-05-31",
        "capacity": 12,
        "price": "18000.00",
        "enrollment_open": True,
    }


class World:
    """Two active organizations (home in Krasnoyarsk, another in Achinsk) and the callers."""

    def __init__(self, api):
        self.api = api
        self.regional_client = Client(api, {"sub": "9001", "role": "regional_operator"})
        for municipality in ("krasnoyarsk", "achinsk"):  # a certified group's normative comes
            self.regional_client.ok(  # from the operator's figure per hour
                "PUT", f"/municipalities/{municipality}/normative", {"per_hour": "150.00"}
            )
        self.home = self.active_organization("krasnoyarsk")
        self.elsewhere = self.active_organization("achinsk")
        self.claims = {
            "anonymous": None,
            "parent": {"sub": "9002", "role": "parent"},
            "provider": {"sub": "9003", "role": "provider", "org": self.home},
            "provider_elsewhere": {"sub": "9004", "role": "provider", "org": self.elsewhere},
            "municipal": {"sub": "9005", "role": "municipal_operator", "mun": "krasnoyarsk"},
            "municipal_elsewhere": {
                "sub": "9006",
                "role": "municipal_operator",
                "mun": "achinsk",
            },
            "regional": {"sub": "9001", "role": "regional_operator"},
        }
        self.provider = Client(api, self.claims["provider"])

    def client(self, caller):
        return Client(self.api, self.claims[caller])

    # fresh resources, made the way their owners make them

    def pending_organization(self, municipality="krasnoyarsk"):
        return self.regional_client.ok(
            "POST", "/organizations", organization_body(municipality), 201
        )["id"]

    def active_organization(self, municipality="krasnoyarsk"):
        org_id = self.pending_organization(municipality)
        self.regional_client.ok("POST", f"/organizations/{org_id}/approve")
        return org_id

    def suspended_organization(self):
        org_id = self.active_organization()
        self.regional_client.ok("POST", f"/organizations/{org_id}/suspend")
        return org_id

    def draft(self):
        return self.provider.ok("POST", "/programs", program_body(), 201)["id"]

    def on_review(self):
        program_id = self.draft()
        self.provider.ok("POST", f"/programs/{program_id}/submit")
        return program_id

    def published(self):
        program_id = self.on_review()
        self.regional_client.ok("POST", f"/programs/{program_id}/certify")
        return program_id

    def group_of(self, program_id):
        return self.provider.ok("POST", "/groups", group_body(program_id), 201)["id"]


@pytest.fixture(scope="module")
def world(api):
    return World(api)


def everyone(status):
    return dict.fromkeys(CALLERS, status)


PUBLIC = everyone(200)
MANAGERS_ONLY = {  # a draft or a pending organization: seen by those who manage it
    "anonymous": 404,
    "parent": 404,
    "provider": 200,
    "provider_elsewhere": 404,
    "municipal": 200,
    "municipal_elsewhere": 404,
    "regional": 200,
}
REGIONAL_ONLY = everyone(403) | {"anonymous": 401, "regional": 200}
OWN_PROVIDER = everyone(403) | {"anonymous": 401, "provider": 200}

# (name, method, path(world), body(world, path) or None, {caller: status})
TABLE = [
    ("municipalities", "GET", lambda w: "/municipalities", None, PUBLIC),
    ("normative", "GET", lambda w: "/municipalities/krasnoyarsk/normative", None, PUBLIC),
    (
        "set normative",
        "PUT",
        lambda w: "/municipalities/krasnoyarsk/normative",
        lambda w, path: {"per_hour": "150.00"},
        REGIONAL_ONLY | {"municipal": 200},
    ),
    ("directions", "GET", lambda w: "/directions", None, PUBLIC),
    ("search", "GET", lambda w: "/catalog/search?q=футбол", None, PUBLIC),
    ("organizations", "GET", lambda w: "/organizations", None, PUBLIC),
    ("active organization", "GET", lambda w: f"/organizations/{w.home}", None, PUBLIC),
    (
        "pending organization",
        "GET",
        lambda w: f"/organizations/{w.pending_organization()}",
        None,
        MANAGERS_ONLY | {"provider": 404},  # the home provider is not its staff
    ),
    (
        "suspended organization",
        "GET",
        lambda w: f"/organizations/{w.suspended_organization()}",
        None,
        PUBLIC,
    ),
    (
        "register organization",
        "POST",
        lambda w: "/organizations",
        lambda w, path: organization_body(),
        everyone(403)
        | {"anonymous": 401, "provider": 409, "provider_elsewhere": 409, "regional": 201},
    ),
    (
        "change own organization",
        "PATCH",
        lambda w: f"/organizations/{w.home}",
        lambda w, path: {"phone": "+7 (391) 211-11-11"},
        OWN_PROVIDER | {"regional": 200},
    ),
    (
        "approve organization",
        "POST",
        lambda w: f"/organizations/{w.pending_organization()}/approve",
        None,
        REGIONAL_ONLY,
    ),
    (
        "suspend organization",
        "POST",
        lambda w: f"/organizations/{w.active_organization()}/suspend",
        None,
        REGIONAL_ONLY,
    ),
    (
        "reinstate organization",
        "POST",
        lambda w: f"/organizations/{w.suspended_organization()}/reinstate",
        None,
        REGIONAL_ONLY,
    ),
    (
        "programs of organization",
        "GET",
        lambda w: f"/organizations/{w.home}/programs",
        None,
        PUBLIC,
    ),  # fmt: skip
    (
        "create program",
        "POST",
        lambda w: "/programs",
        lambda w, path: program_body(),
        OWN_PROVIDER | {"provider_elsewhere": 201, "provider": 201},  # each in their own
    ),
    ("review queue", "GET", lambda w: "/programs?status=on_review", None, REGIONAL_ONLY),
    ("published program", "GET", lambda w: f"/programs/{w.published()}", None, PUBLIC),
    ("draft program", "GET", lambda w: f"/programs/{w.draft()}", None, MANAGERS_ONLY),
    (
        "change draft",
        "PATCH",
        lambda w: f"/programs/{w.draft()}",
        lambda w, path: {"level": "advanced"},
        OWN_PROVIDER | {"provider_elsewhere": 404},
    ),
    (
        "change published program",
        "PATCH",
        lambda w: f"/programs/{w.published()}",
        lambda w, path: {"title": "Футбол для всех"},
        OWN_PROVIDER,
    ),
    (
        "submit draft",
        "POST",
        lambda w: f"/programs/{w.draft()}/submit",
        None,
        OWN_PROVIDER | {"provider_elsewhere": 404},
    ),
    ("certify", "POST", lambda w: f"/programs/{w.on_review()}/certify", None, REGIONAL_ONLY),
    (
        "reject",
        "POST",
        lambda w: f"/programs/{w.on_review()}/reject",
        lambda w, path: {"reason": "Нет описания результатов обучения"},
        REGIONAL_ONLY,
    ),
    ("archive", "POST", lambda w: f"/programs/{w.published()}/archive", None, OWN_PROVIDER),
    (
        "groups of published",
        "GET",
        lambda w: f"/programs/{w.published()}/groups",
        None,
        PUBLIC,
    ),  # fmt: skip
    ("groups of draft", "GET", lambda w: f"/programs/{w.draft()}/groups", None, MANAGERS_ONLY),
    (
        "create group of published program",
        "POST",
        lambda w: "/groups",
        lambda w, path: group_body(w.published()),
        OWN_PROVIDER | {"provider": 201},
    ),
    (
        "create group of draft",
        "POST",
        lambda w: "/groups",
        lambda w, path: group_body(w.draft()),
        OWN_PROVIDER | {"provider": 201, "provider_elsewhere": 404},
    ),
    (
        "group of published",
        "GET",
        lambda w: f"/groups/{w.group_of(w.published())}",
        None,
        PUBLIC,
    ),  # fmt: skip
    (
        "group of draft",
        "GET",
        lambda w: f"/groups/{w.group_of(w.draft())}",
        None,
        MANAGERS_ONLY,
    ),  # fmt: skip
    (
        "change group",
        "PATCH",
        lambda w: f"/groups/{w.group_of(w.published())}",
        lambda w, path: {"capacity": 15},
        OWN_PROVIDER,
    ),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name, method, path, body, expected", TABLE, ids=[r[0] for r in TABLE])
def test_route_answers_each_caller_exactly(world, name, method, path, body, expected, caller):
    target = path(world)
    payload = body(world, target) if body else None
    response = world.client(caller).request(method, target, payload)
    assert response.status_code == expected[caller], response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")


def test_every_catalog_route_is_in_the_table(api, world):
    document = requests.get(f"{api}/openapi.json", timeout=10).json()
    catalog_tags = {"catalog", "organizations", "programs", "groups"}
    routes = {
        (method.upper(), re.sub(r"\{\w+\}", "{}", path.removeprefix("/api/v1")))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if catalog_tags & set(operation["tags"])
    }
    covered = {
        (method, re.sub(r"/(\d+|krasnoyarsk)(?=/|$)", "/{}", path(world).split("?")[0]))
        for _, method, path, _, _ in TABLE
    }
    assert routes == covered


# --- the catalog as its users see it -----------------------------------------------------


def test_a_published_program_is_found_and_leaves_the_search_when_its_organization_is_suspended(
    world, api, databases
):
    title = f"Кружок {uuid.uuid4().hex[:8]}"
    program_id = world.provider.ok("POST", "/programs", program_body(title), 201)["id"]
    group_id = world.group_of(program_id)
    anonymous = Client(api)
    hidden = anonymous.ok("GET", f"/catalog/search?q={title}")
    assert hidden["total"] == 0  # a draft is not in the search

    world.provider.ok("POST", f"/programs/{program_id}/submit")
    program = world.regional_client.ok("POST", f"/programs/{program_id}/certify")
    assert (program["status"], program["certified"], program["payment_type"]) == (
        "published",
        True,
        "certificate",
    )
    world.provider.ok("PATCH", f"/groups/{group_id}", {"enrollment_open": True})
    found = anonymous.ok("GET", f"/catalog/search?q={title.lower()}&age=8&open_only=true")
    assert [item["id"] for item in found["items"]] == [program_id]
    summary = found["items"][0]["groups"]
    assert summary["cheapest"] == {"group_id": group_id, "monthly_price": "2000.00"}
    assert summary["free_seats"] == 12

    with sa.create_engine(databases["catalog"]).connect() as conn:
        published = conn.execute(
            sa.text(
                "SELECT count(*) FROM outbox WHERE type = 'program_published'"
                " AND body -> 'data' ->> 'program_id' = :id"
            ),
            {"id": str(program_id)},
        ).scalar()
    assert published == 1

    organization = world.active_organization()
    staff = Client(api, {"sub": "9100", "role": "provider", "org": organization})
    other_title = f"Секция {uuid.uuid4().hex[:8]}"
    other = staff.ok("POST", "/programs", program_body(other_title), 201)["id"]
    staff.ok("POST", "/groups", group_body(other), 201)
    staff.ok("POST", f"/programs/{other}/submit")
    world.regional_client.ok("POST", f"/programs/{other}/certify")
    assert anonymous.ok("GET", f"/catalog/search?q={other_title}")["total"] == 1
    world.regional_client.ok("POST", f"/organizations/{organization}/suspend")
    # the gateway may answer this very search from its short memory (SEARCH_CACHE_SECONDS=1)
    deadline = time.monotonic() + 5
    while anonymous.ok("GET", f"/catalog/search?q={other_title}")["total"] != 0:
        assert time.monotonic() < deadline, "a suspended organization stayed in the search"
        time.sleep(0.2)


def test_group_rules_answer_422_and_409(world):
    program_id = world.published()
    bad_ages = group_body(program_id) | {"min_age": 5}  # the program starts at 7
    response = world.provider.request("POST", "/groups", bad_ages)
    assert response.status_code == 422
    assert "min_age" in response.json()["fields"]
    overlapping = group_body(program_id) | {
        "schedule": [
            {"weekday": 1, "start": "16:00", "end": "17:00"},
            {"weekday": 1, "start": "16:30", "end": "18:00"},
        ]
    }
    assert world.provider.request("POST", "/groups", overlapping).status_code == 422
    backwards = group_body(program_id) | {"end_date": "2026-08-01"}
    assert world.provider.request("POST", "/groups", backwards).status_code == 422
    typed = world.provider.request(
        "POST", "/groups", group_body(program_id) | {"normative_cost": "50000.00"}
    )
    assert typed.status_code == 422 and "normative_cost" in typed.json()["fields"]
    group = world.provider.ok("POST", "/groups", group_body(program_id), 201)
    assert (group["price"], group["monthly_price"], group["free_seats"]) == (
        "18000.00",
        "2000.00",
        12,
    )
    # Tuesdays and Thursdays of 1 Sep 2026 – 31 May 2027: 78 lessons of 1.5 h × 150.00
    assert group["normative_cost"] == "17550.00"
    again = world.provider.request("POST", f"/programs/{program_id}/certify")
    assert again.status_code == 403  # a provider never certifies
    repeat = world.regional_client.request("POST", f"/programs/{program_id}/certify")
    assert repeat.status_code == 409
    assert repeat.json()["code"] == "transition_refused"


def test_organization_with_a_wrong_inn_checksum_is_refused(world):
    body = organization_body()
    body["inn"] = body["inn"][:-1] + str((int(body["inn"][-1]) + 1) % 10)
    response = world.regional_client.request("POST", "/organizations", body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_inn"


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE programs; --",
        "%",
        "_",
        "%_%_",
        "' OR '1'='1",
        '"""',
        "футбол' UNION SELECT * FROM organizations --",
        "\x00",
        "футбол\x00",
        "a" * 8_000,
        "ё" * 400,
    ],
)
def test_hostile_search_text_answers_200_or_422_never_500(api, text):
    response = requests.get(f"{api}/catalog/search", params={"q": text}, timeout=20)
    assert response.status_code in (200, 422), response.text


def test_a_url_longer_than_the_web_servers_limit_is_refused_before_the_gateway(api):
    # eventlet's WSGI server reads at most 8 KiB of request line: 10,000 characters of query
    # never reach the gateway (the search itself takes them: tests/integration)
    response = requests.get(f"{api}/catalog/search", params={"q": "a" * 10_000}, timeout=20)
    assert response.status_code == 414


# --- what a provider may change (issue 13) ------------------------------------------------


@pytest.mark.parametrize("change", [{"municipality_code": "achinsk"}, "inn"])
def test_staff_changing_inn_or_municipality_send_the_organization_back_to_approval(
    world, api, change
):
    org_id = world.active_organization()
    staff = Client(api, {"sub": "9200", "role": "provider", "org": org_id})
    if change == "inn":
        change = {"inn": organization_body()["inn"]}
    changed = staff.ok("PATCH", f"/organizations/{org_id}", change)
    assert changed["status"] == "pending"
    assert all(changed[key] == value for key, value in change.items())
    # the regional operator changes them and the organization stays approved
    world.regional_client.ok("POST", f"/organizations/{org_id}/approve")
    again = world.regional_client.ok(
        "PATCH", f"/organizations/{org_id}", {"municipality_code": "krasnoyarsk"}
    )
    assert again["status"] == "active"


def test_a_suspended_organizations_staff_can_do_nothing(world, api):
    org_id = world.active_organization()
    staff = Client(api, {"sub": "9201", "role": "provider", "org": org_id})
    program_id = staff.ok("POST", "/programs", program_body(), 201)["id"]
    group_id = staff.ok("POST", "/groups", group_body(program_id), 201)["id"]
    staff.ok("POST", f"/programs/{program_id}/submit")
    world.regional_client.ok("POST", f"/programs/{program_id}/certify")
    world.regional_client.ok("POST", f"/organizations/{org_id}/suspend")

    for method, path, body in (
        ("PATCH", f"/organizations/{org_id}", {"address": "ул. Мира, 1"}),
        ("POST", "/programs", program_body()),
        ("PATCH", f"/programs/{program_id}", {"title": "Новое название"}),
        ("POST", "/groups", group_body(program_id)),
        ("PATCH", f"/groups/{group_id}", {"enrollment_open": True}),
        ("POST", f"/programs/{program_id}/archive", None),
    ):
        refused = staff.request(method, path, body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["code"] == "organization_suspended", (method, path)
    # the regional operator still can
    world.regional_client.ok("PATCH", f"/organizations/{org_id}", {"address": "ул. Мира, 1"})


def test_the_normative_per_hour_is_set_by_the_municipalitys_operator(world):
    path = "/municipalities/achinsk/normative"
    assert world.client("municipal_elsewhere").ok("PUT", path, {"per_hour": "175.50"}) == {
        "municipality_code": "achinsk", "per_hour": "175.50",
    }  # fmt: skip
    assert world.client("anonymous").ok("GET", path)["per_hour"] == "175.50"
    for caller in ("municipal", "provider", "parent"):
        assert world.client(caller).request("PUT", path, {"per_hour": "1.00"}).status_code == 403
    assert world.client("regional").request("PUT", path, {"per_hour": "-1"}).status_code == 422
    world.client("regional").ok("PUT", path, {"per_hour": "150.00"})
