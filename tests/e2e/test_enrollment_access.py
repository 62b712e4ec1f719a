"""Every enrollment route × every caller × own or foreign, with the exact status, over HTTP
against the running system; and the Idempotency-Key of an application.

Callers (tests/support/accounts.py): anonymous; the parent of a Krasnoyarsk child and another
parent (of an Achinsk child); staff of the home organization (its group) and of another one;
the municipal operators of Krasnoyarsk (own) and of Achinsk (foreign); the regional operator.
An application a caller may not see answers 404, as a missing one does; one visible but not
theirs to decide answers 403 (the gateway refuses a role that never decides it).
"""

import uuid

import pytest
import sqlalchemy as sa

from servicekit import clock
from tests.support import enrollment as data
from tests.support.accounts import CALLERS, HOME_ORG

# the running services read the real clock: a contract starts no earlier than today
START = clock.today().isoformat()


class Scene:
    def __init__(self, world, databases):
        self.world = world
        self.catalog = sa.create_engine(databases["catalog"])
        self.enrollment = sa.create_engine(databases["enrollment"])
        self.certificates = sa.create_engine(databases["certificates"])
        data.period(self.certificates)
        self.child = world.children["parent"]

    def client(self, caller):
        return self.world.client(None if caller == "anonymous" else caller)

    def group(self, **kwargs):
        """A fresh open group of the home organization; own-money (paid) unless told, so that
        the many applications of one child here spend no certificate."""
        return data.group(self.catalog, HOME_ORG, **{"registry": "paid", **kwargs})

    def application(self, state="awaiting_provider"):
        """A fresh application of the parent's child in the given state."""
        parent = self.client("parent")
        response = parent.post(
            "/enrollments",
            {"child_id": self.child, "group_id": self.group(), "start_date": START,
             "accept_copay": True},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        enrollment_id = response.json()["id"]
        if state == "enrolled":
            done = self.client("provider").post(f"/enrollments/{enrollment_id}/confirm")
            assert done.status_code == 200, done.text
        return enrollment_id


@pytest.fixture(scope="module")
def scene(accounts_world, databases):
    return Scene(accounts_world, databases)


def statuses(default, **overrides):
    return dict.fromkeys(CALLERS, default) | {"anonymous": 401} | overrides


# (name, method, path(scene), body(scene) or None, {caller: status})
TABLE = [
    (
        "quote",
        "GET",
        lambda s: f"/groups/{s.group()}/quote?child_id={s.child}&start_date={START}",
        None,
        statuses(403, parent=200, other_parent=404),
    ),
    (
        "apply",
        "POST",
        lambda s: "/enrollments",
        lambda s: {
            "child_id": s.child,
            "group_id": s.group(),
            "start_date": START,
            "accept_copay": True,
        },  # fmt: skip
        statuses(403, parent=201, other_parent=404),
    ),
    ("list", "GET", lambda s: "/enrollments", None, statuses(200)),
    (
        "get",
        "GET",
        lambda s: f"/enrollments/{s.application()}",
        None,
        statuses(200, other_parent=404, provider_elsewhere=404, municipal_elsewhere=404),
    ),
    (
        "confirm",
        "POST",
        lambda s: f"/enrollments/{s.application()}/confirm",
        None,
        statuses(403, provider=200, provider_elsewhere=404),
    ),
    (
        "reject",
        "POST",
        lambda s: f"/enrollments/{s.application()}/reject",
        lambda s: {"reason": "Группа укомплектована"},
        statuses(403, provider=200, provider_elsewhere=404),
    ),
    (
        "cancel",
        "POST",
        lambda s: f"/enrollments/{s.application()}/cancel",
        lambda s: {"reason": "передумали"},
        statuses(403, parent=200, other_parent=404),
    ),
    (
        "terminate",
        "POST",
        lambda s: f"/enrollments/{s.application('enrolled')}/terminate",
        None,
        statuses(403, parent=200, other_parent=404, provider=200, provider_elsewhere=404),
    ),
]

CASES = [
    pytest.param(name, method, path, body, caller, expected[caller], id=f"{name}-{caller}")
    for name, method, path, body, expected in TABLE
    for caller in CALLERS
]


@pytest.mark.parametrize("name,method,path,body,caller,expected", CASES)
def test_enrollment_route_answers_each_caller_exactly(
    scene, name, method, path, body, caller, expected
):
    # a refused caller is asked first on a fresh resource, so a refusal is never a wrong state
    response = scene.client(caller).request(method, path(scene), json=body(scene) if body else None)
    assert response.status_code == expected, (name, caller, response.text)
    if expected >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"


def test_lists_show_each_caller_only_their_share(scene):
    enrollment_id = scene.application()
    seen = {}
    for caller in CALLERS[1:]:
        response = scene.client(caller).get("/enrollments", params={"limit": 100})
        assert response.status_code == 200, response.text
        seen[caller] = {item["id"] for item in response.json()["items"]}
    for caller in ("parent", "provider", "municipal"):
        assert enrollment_id in seen[caller], caller
    for caller in ("other_parent", "provider_elsewhere", "municipal_elsewhere"):
        assert enrollment_id not in seen[caller], caller
    regional = scene.client("regional").get("/enrollments", params={"child_id": scene.child})
    assert enrollment_id in {item["id"] for item in regional.json()["items"]}


def test_repeated_apply_with_the_same_idempotency_key_returns_the_first_answer(scene):
    group_id = scene.group()
    body = {"child_id": scene.child, "group_id": group_id, "start_date": START,
            "accept_copay": True}  # fmt: skip
    key = {"Idempotency-Key": f"apply-{uuid.uuid4()}"}
    parent = scene.client("parent")
    first = parent.post("/enrollments", body, headers=key)
    again = parent.post("/enrollments", body, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    with scene.enrollment.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM enrollments WHERE group_id = :g"), {"g": group_id}
        ).scalar()
        held = conn.execute(
            sa.text("SELECT held FROM groups WHERE id = :g"), {"g": group_id}
        ).scalar()
    assert (count, held) == (1, 1)
    # without the key, a second application of the same child is refused, not duplicated
    twice = parent.post("/enrollments", body)
    assert twice.status_code == 409 and twice.json()["code"] == "already_applied"
    assert twice.json()["enrollment_id"] == first.json()["id"]  # it names the application


def test_money_is_decimal_strings_and_copay_needs_consent_over_http(scene):
    parent = scene.client("parent")
    group_id = scene.group(registry="certified", price=1_200_000, normative=900_000)
    quote = parent.get(f"/groups/{group_id}/quote", params={"child_id": scene.child,
                                                           "start_date": START})  # fmt: skip
    assert quote.status_code == 200, quote.text
    body = quote.json()
    assert isinstance(body["total"], str) and body["total"].count(".") == 1
    refused = parent.post(
        "/enrollments", {"child_id": scene.child, "group_id": group_id, "start_date": START}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "copay_not_accepted"
    assert "accept_copay" in refused.json()["fields"]


def test_a_start_before_today_is_refused_on_start_date_over_http(scene):
    from datetime import date, timedelta

    yesterday = (date.fromisoformat(START) - timedelta(days=1)).isoformat()
    body = {"child_id": scene.child, "group_id": scene.group(), "start_date": yesterday,
            "accept_copay": True}  # fmt: skip
    refused = scene.client("parent").post("/enrollments", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "start_in_past" and "start_date" in refused.json()["fields"]
