"""Every certificates route × every caller × own or foreign child or municipality, with the
exact status, over HTTP against the running system; and certificates as parents and
operators use them.

Callers: anonymous; the parent of a child in Krasnoyarsk (own) and another parent (foreign);
a provider; the municipal operators of Krasnoyarsk (own) and of Achinsk (foreign); the
regional operator. A certificate a caller may not see answers 404, as a missing one does; a
role that has nothing to do here answers 403.
"""

import random
import re
import uuid
from datetime import date

import pytest
import requests
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient

from tests.support.accounts import child_body

CALLERS = (
    "anonymous",
    "parent",
    "other_parent",
    "provider",
    "municipal",
    "municipal_elsewhere",
    "regional",
)
HOME = "krasnoyarsk"


def everyone(status):
    return dict.fromkeys(CALLERS, status)


class World:
    """The accounts world (real logins) plus a current period in which Krasnoyarsk hands out
    nominals, and helpers that make fresh certificates the way their owners make them."""

    def __init__(self, accounts_world, vhost):
        self.accounts = accounts_world
        self.vhost = vhost
        self.regional = self.client("regional")
        self.period = self.current_period()
        self.ok("regional", "PUT", f"/municipalities/{HOME}/periods/{self.period}/nominals",
                {"bands": [{"age_from": 0, "age_to": 17, "amount": "30000.00"}]})  # fmt: skip
        self.ok("regional", "PUT", f"/municipalities/{HOME}/periods/{self.period}/limit",
                {"limit": "90000000.00"})  # fmt: skip
        self.home_child = accounts_world.children["parent"]
        self.home = self.ok("parent", "POST", f"/children/{self.home_child}/certificate")["number"]

    def client(self, who):
        return self.accounts.client(None if who == "anonymous" else who)

    def ok(self, who, method, path, body=None, status=200):
        response = self.client(who).request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        return response.json()

    def current_period(self) -> int:
        today = date.today().isoformat()
        for period in self.ok("anonymous", "GET", "/periods")["items"]:
            if period["start_date"] <= today <= period["end_date"] and period["status"] == "open":
                return period["id"]
        start = date(date.today().year - (date.today().month < 9), 9, 1)
        body = {"name": "Текущий", "start_date": start.isoformat(),
                "end_date": date(start.year + 1, 8, 31).isoformat()}  # fmt: skip
        return self.ok("regional", "POST", "/periods", body, 201)["id"]

    def next_period(self) -> int:
        """The program year after the current one (children of the tests are under 18)."""
        start = date(date.today().year + (date.today().month >= 9), 9, 1)
        for period in self.ok("anonymous", "GET", "/periods")["items"]:
            if period["start_date"] == start.isoformat():
                return period["id"]
        body = {"name": "Следующий", "start_date": start.isoformat(),
                "end_date": date(start.year + 1, 8, 31).isoformat()}  # fmt: skip
        return self.ok("regional", "POST", "/periods", body, 201)["id"]

    def _free_year(self, first: int) -> int:
        """A year from `first` on that no period starts in yet (a random pick of 800 collided:
        the session's periods overlap, 409 `period_overlaps`)."""
        taken = {int(p["start_date"][:4]) for p in self.ok("anonymous", "GET", "/periods")["items"]}
        return random.choice([y for y in range(first, first + 800) if y not in taken])

    def fresh_period(self) -> int:
        year = self._free_year(2100)
        body = {"name": f"Будущий {year}", "start_date": f"{year}-09-01",
                "end_date": f"{year + 1}-08-31"}  # fmt: skip
        return self.ok("regional", "POST", "/periods", body, 201)["id"]

    def fresh_past_period(self) -> int:
        """A period long over: closing it is allowed (issue 18: not before its last day)."""
        year = self._free_year(1100)
        body = {"name": f"Прошедший {year}", "start_date": f"{year}-09-01",
                "end_date": f"{year + 1}-08-31"}  # fmt: skip
        return self.ok("regional", "POST", "/periods", body, 201)["id"]

    def fresh_certificate(self, financing=False) -> str:
        child = self.ok("parent", "POST", "/children", child_body(municipality_code=HOME), 201)
        number = self.ok("parent", "POST", f"/children/{child['id']}/certificate")["number"]
        if financing:
            self.rpc("reserve_funds", f"e2e-{uuid.uuid4()}", child, self.period, 0, True)
        return number

    def rpc(self, method, *args):
        with ClusterRpcClient(uri=self.vhost, timeout=20) as client:
            return getattr(client.certificates, method)(*args)


@pytest.fixture(scope="module")
def world(accounts_world, vhost):
    return World(accounts_world, vhost)


ROLE_FORBIDDEN = {"anonymous": 401, "parent": 403, "other_parent": 403, "provider": 403}
OWN_MUNICIPALITY = ROLE_FORBIDDEN | {"municipal": 200, "municipal_elsewhere": 403, "regional": 200}
VISIBLE = {"anonymous": 401, "parent": 200, "other_parent": 404, "provider": 403,
           "municipal": 200, "municipal_elsewhere": 404, "regional": 200}  # fmt: skip
MANAGED = ROLE_FORBIDDEN | {"municipal": 200, "municipal_elsewhere": 404, "regional": 200}
REGIONAL_ONLY = everyone(403) | {"anonymous": 401, "regional": 200}
FUNDING = "/municipalities/krasnoyarsk/periods/{}"

# (name, method, path(world), body(world) or None, {caller: status})
TABLE = [
    ("periods", "GET", lambda w: "/periods", None, everyone(200)),
    (
        "open period",
        "POST",
        lambda w: "/periods",
        lambda w: {"name": "x", "start_date": "2026-09-01", "end_date": "2026-08-01"},
        REGIONAL_ONLY | {"regional": 422},  # a period that ends before it starts
    ),
    (
        "close period",
        "POST",
        lambda w: f"/periods/{w.fresh_past_period()}/close",
        None,
        REGIONAL_ONLY,
    ),
    ("funding", "GET", lambda w: FUNDING.format(w.period) + "/funding", None, OWN_MUNICIPALITY),
    (
        "nominals",
        "PUT",
        lambda w: FUNDING.format(w.period) + "/nominals",
        lambda w: {"bands": [{"age_from": 0, "age_to": 17, "amount": "30000.00"}]},
        OWN_MUNICIPALITY,
    ),
    (
        "limit",
        "PUT",
        lambda w: FUNDING.format(w.period) + "/limit",
        lambda w: {"limit": "90000000.00"},
        OWN_MUNICIPALITY,
    ),
    ("queue", "GET", lambda w: FUNDING.format(w.period) + "/queue", None, OWN_MUNICIPALITY),
    (
        "settings",
        "GET",
        lambda w: f"/municipalities/{HOME}/certificate-settings",
        None,
        OWN_MUNICIPALITY,
    ),
    (
        "change settings",
        "PUT",
        lambda w: f"/municipalities/{HOME}/certificate-settings",
        lambda w: {"free_allowance": 2},
        OWN_MUNICIPALITY,
    ),
    (
        "certificates",
        "GET",
        lambda w: "/certificates",
        None,
        everyone(200) | {"anonymous": 401, "provider": 403},
    ),
    ("certificate", "GET", lambda w: f"/certificates/{w.home}", None, VISIBLE),
    ("transactions", "GET", lambda w: f"/certificates/{w.home}/transactions", None, VISIBLE),
    ("freeze", "POST", lambda w: f"/certificates/{w.fresh_certificate()}/freeze", None, MANAGED),
    (
        "unfreeze",
        "POST",
        lambda w: f"/certificates/{w.fresh_certificate()}/unfreeze",
        None,
        MANAGED,
    ),
    (
        "nominal",
        "PUT",
        lambda w: f"/certificates/{w.fresh_certificate(financing=True)}/nominal",
        lambda w: {"amount": "25000.00", "reason": "Решение комиссии"},
        MANAGED,
    ),
    (
        "request certificate",
        "POST",
        lambda w: f"/children/{w.home_child}/certificate",
        None,
        everyone(403) | {"anonymous": 401, "parent": 200, "other_parent": 404},
    ),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name, method, path, body, expected", TABLE, ids=[r[0] for r in TABLE])
def test_route_answers_each_caller_exactly(world, name, method, path, body, expected, caller):
    target = path(world)
    response = world.client(caller).request(method, target, json=body(world) if body else None)
    assert response.status_code == expected[caller], response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")


def test_every_certificates_route_is_in_the_table(api, world):
    document = requests.get(f"{api}/openapi.json", timeout=10).json()
    routes = {
        (method.upper(), re.sub(r"\{\w+\}", "{}", path.removeprefix("/api/v1")))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "certificates" in operation["tags"]
    }
    covered = {
        (method, re.sub(r"/(\d+|krasnoyarsk)(?=/|$)", "/{}", path(world)))
        for _, method, path, _, _ in TABLE
    }
    assert routes == covered


# --- as parents and operators use it ------------------------------------------------------


def test_a_parent_sees_the_same_certificate_every_time_with_its_balance(world):
    again = world.ok("parent", "POST", f"/children/{world.home_child}/certificate")
    assert again["number"] == world.home
    mine = world.ok("parent", "GET", "/certificates")
    assert world.home in [c["number"] for c in mine["items"]]
    theirs = world.ok("other_parent", "GET", "/certificates")
    assert world.home not in [c["number"] for c in theirs["items"]]
    shown = world.ok("parent", "GET", f"/certificates/{world.home}")
    assert shown["balance"]["available"] == "0.00" and shown["type"] == "accounting"
    assert shown["period"]["id"] == world.period and shown["valid"] is True


def test_financing_then_reservation_shows_in_balance_and_history(world):
    child = world.ok("parent", "POST", "/children", child_body(municipality_code=HOME), 201)
    enrollment = str(uuid.uuid4())
    answer = world.rpc("reserve_funds", enrollment, child, world.period, 1_234_56, True)
    assert answer["certificate_type"] == "financing" and answer["reserved"] == 1_234_56
    number = answer["certificate_number"]
    shown = world.ok("parent", "GET", f"/certificates/{number}")
    assert shown["balance"] | {} == shown["balance"]
    assert (shown["balance"]["credited"], shown["balance"]["reserved"]) == ("30000.00", "1234.56")
    assert shown["balance"]["available"] == "28765.44"
    history = world.ok("parent", "GET", f"/certificates/{number}/transactions")
    assert [(t["kind"], t["amount"]) for t in history["items"]] == [
        ("reserve", "1234.56"),
        ("credit", "30000.00"),
    ]
    assert history["items"][0]["enrollment_id"] == enrollment
    assert history["items"][0]["reason"].startswith("Резерв")
    # an operator of the municipality sees it in the registry, filtered by type
    registry = world.ok("municipal", "GET", "/certificates?type=financing&limit=100")
    assert all(c["type"] == "financing" for c in registry["items"])
    assert all(c["municipality_code"] == HOME for c in registry["items"])
    # a freeze is refused while money is reserved, and then allowed
    refused = world.client("municipal").post(f"/certificates/{number}/freeze")
    assert refused.status_code == 409 and refused.json()["code"] == "active_contracts"
    world.rpc("release_funds", enrollment)
    assert world.ok("municipal", "POST", f"/certificates/{number}/freeze")["status"] == "frozen"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bands": [{"amount": "-1"}]}, "bands"),
        ({"bands": [{"amount": "abc"}]}, "bands"),
        ({"bands": [{"amount": "100000.01"}]}, "bands.0.amount"),
        (
            {
                "bands": [
                    {"age_from": 5, "age_to": 10, "amount": "1.00"},
                    {"age_from": 10, "age_to": 17, "amount": "1.00"},
                ]
            },
            "bands.1.age_from",
        ),
    ],  # fmt: skip
)
def test_a_bad_nominal_gets_422_with_a_field_message_and_changes_nothing(world, body, field):
    path = FUNDING.format(world.period)
    before = world.ok("regional", "GET", f"{path}/funding")
    response = world.client("municipal").request("PUT", f"{path}/nominals", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert world.ok("regional", "GET", f"{path}/funding") == before


def test_unknown_municipality_or_period_gets_404_with_a_field_message(world):
    response = world.client("regional").request(
        "PUT", f"/municipalities/atlantis/periods/{world.period}/limit", json={"limit": "1.00"}
    )
    assert response.status_code == 404 and "code" in response.json()["fields"]
    response = world.client("regional").request(
        "PUT", "/municipalities/krasnoyarsk/periods/2000000000/limit", json={"limit": "1.00"}
    )
    assert response.status_code == 404 and "period_id" in response.json()["fields"]


def test_limit_below_what_is_handed_out_is_refused(world):
    path = FUNDING.format(world.period)
    used = world.ok("regional", "GET", f"{path}/funding")["used"]
    assert used != "0.00"
    response = world.client("municipal").request("PUT", f"{path}/limit", json={"limit": "0.01"})
    assert response.status_code == 409 and response.json()["code"] == "limit_below_used"


def test_a_queued_child_sees_its_position_and_moves_up_when_the_limit_is_raised(world, databases):
    period = world.next_period()
    path = f"/municipalities/{HOME}/periods/{period}"
    world.ok("municipal", "PUT", f"{path}/nominals", {"bands": [{"amount": "10000.00"}]})
    world.ok("municipal", "PUT", f"{path}/limit", {"limit": "10000.00"})
    children = [
        world.ok("parent", "POST", "/children", child_body(municipality_code=HOME), 201)
        for _ in range(3)
    ]
    answers = [world.rpc("reserve_funds", str(uuid.uuid4()), c, period, 0, True) for c in children]
    # the type is the certificate's, whatever the period: since issue 20 a child registered
    # while another open period has room is financed there at once, so what this period
    # gave is read from its funding and its queue
    assert [a["reserved"] for a in answers] == [0, 0, 0]
    assert world.ok("regional", "GET", f"{path}/funding")["used"] == "10000.00"
    queue = world.ok("municipal", "GET", f"{path}/queue")
    assert [i["position"] for i in queue["items"]] == [1, 2]
    assert [i["child_id"] for i in queue["items"]] == [c["id"] for c in children[1:]]
    world.ok("municipal", "PUT", f"{path}/limit", {"limit": "20000.00"})
    queue = world.ok("municipal", "GET", f"{path}/queue")
    assert [i["child_id"] for i in queue["items"]] == [children[2]["id"]]
    with sa.create_engine(databases["certificates"]).connect() as conn:
        changed = conn.execute(
            sa.text(
                "SELECT count(*) FROM outbox WHERE type = 'certificate_type_changed'"
                " AND body->'data'->>'certificate_number' = :n"
            ),
            {"n": answers[1]["certificate_number"]},
        ).scalar()
    assert changed == 1


def test_a_period_that_is_not_over_is_not_closed_through_the_gateway(world):
    """Issue 18 item 7: 3 December was closing the whole year's period."""
    period = world.fresh_period()  # a future year: its last day is far ahead
    response = world.client("regional").request("POST", f"/periods/{period}/close")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "period_not_over"
    statuses = {p["id"]: p["status"] for p in world.ok("anonymous", "GET", "/periods")["items"]}
    assert statuses[period] == "open"


def test_an_operators_change_of_a_nominal_needs_a_reason_and_shows_in_the_ledger(world):
    number = world.fresh_certificate(financing=True)
    path = f"/certificates/{number}/nominal"
    response = world.client("municipal").request("PUT", path, json={"amount": "31000.00"})
    assert response.status_code == 422 and "reason" in response.json()["fields"]
    world.ok("municipal", "PUT", path, {"amount": "31000.00", "reason": "Решение комиссии № 4"})
    latest = world.ok("municipal", "GET", f"/certificates/{number}/transactions")["items"][0]
    assert (latest["kind"], latest["amount"]) == ("credit", "1000.00")
    assert "Решение комиссии № 4" in latest["reason"]
    assert latest["actor"].startswith("user:") and latest["actor_name"]
