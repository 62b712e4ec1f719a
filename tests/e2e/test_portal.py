"""The parents' portal in a browser (tests/browser), against the running system.

Playwright's synchronous API does not run under eventlet's monkey-patching (which
`nameko test` applies): it waits forever for its driver. So this test prepares the data here
and runs the browser journeys in a plain pytest process of their own, which reads the
system's address and the data from PORTAL_WORLD, and fails with that process's output.

A month is billed only after its submission deadline, so the billing journey has a system of
its own (`billed_world`: its own databases, vhost, ports and business clock, which it moves
past the deadline); the shared system's clock stays the real one. The consoles of providers
and operators (issue 22) have a third system (`console_world`), whose clock the browser
test moves itself.
"""

import datetime
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.tokens import issue_access_token
from services.payments import domain as payments_domain
from tests.conftest import RUN_ID, own_databases, own_vhost
from tests.e2e.conftest import running_system, system_env
from tests.support import enrollment
from tests.support.accounts import (
    PASSWORD,
    Client,
    as_user,
    child_body,
    confirm_email,
    login,
    register_parent,
)
from tests.support.system import ROOT
from tests.support.waiting import wait_for

DIST = ROOT / "web" / "dist" / "index.html"


def chess_club(databases) -> dict:
    """A chess club in Krasnoyarsk with two groups (one with a co-payment), a funded period,
    and tokens of its provider and of a regional operator for the steps done through the API."""
    catalog = sa.create_engine(databases["catalog"])
    certificates = sa.create_engine(databases["certificates"])
    try:
        enrollment.period(certificates, "krasnoyarsk", nominal=1_000_000)
        organization = enrollment.organization(catalog)
        groups = [
            enrollment.group(
                catalog, organization, title="Шахматы для начинающих", capacity=40,
                price=1_200_000, normative=900_000,
            ),
            enrollment.group(catalog, organization, title="Шахматы: турнирная подготовка",
                             capacity=40),
        ]  # fmt: skip
    finally:
        catalog.dispose()
        certificates.dispose()
    with sa.create_engine(databases["catalog"]).connect() as conn:
        programs = (
            conn.execute(
                sa.text("SELECT program_id FROM study_groups WHERE id = ANY(:ids) ORDER BY id"),
                {"ids": groups},
            )
            .scalars()
            .all()
        )
    # the provider's staff member exists in accounts (confirming marks the child verified by them)
    accounts = sa.create_engine(databases["accounts"])
    try:
        staff = enrollment.provider(accounts, organization)
    finally:
        accounts.dispose()
    provider = {"sub": str(staff["user_id"]), "role": "provider"}
    return {
        "groups": groups,
        "programs": list(programs),
        "provider_token": issue_access_token({**provider, "org": organization}, ttl=3600),
        "regional_token": issue_access_token(
            {"sub": "9901", "role": "regional_operator"}, ttl=3600
        ),
    }


@pytest.fixture(scope="module")
def portal_world(system, databases, mail_server):
    return {
        "base_url": system.base_url,
        "maildir": str(mail_server.maildir),  # the letter confirming a new parent's address
        **chess_club(databases),
    }


@contextmanager
def own_system(server_urls, mail_server, name: str, folder):
    """A system of its own (databases and vhost named `name`, ports of its own) whose processes
    read the business clock from `folder`/clock.json (absent: the real time, until a test
    moves it), with the calendar's timer off: yields (running, databases, clock_file)."""
    clock_file = str(folder / "clock.json")
    with (
        own_vhost(server_urls, name, point_env=False) as vhost,
        own_databases(server_urls, name, point_env=False) as databases,
    ):
        env = {
            **system_env(mail_server),
            **{f"{owner.upper()}_DATABASE_URL": url for owner, url in databases.items()},
            "NAVIGATOR_CLOCK_FILE": clock_file,
            "CALENDAR_SECONDS": "0",
            "BILLING_POLL_INTERVAL": "1",
        }
        with running_system(vhost, folder, env) as running:
            yield running, databases, clock_file


@pytest.fixture(scope="module")
def billed_system(server_urls, mail_server, tmp_path_factory):
    """A second system (databases, vhost, ports of its own) whose processes read the business
    clock from a file this module moves; its calendar's timer is off, so only the test bills."""
    folder = tmp_path_factory.mktemp("billed")
    started = time.monotonic()
    with own_system(server_urls, mail_server, f"navtest_{RUN_ID}_portal", folder) as system:
        print(f"the billing journey's own system started in {time.monotonic() - started:.1f}s")
        yield system


def _lessons(start: datetime.date) -> list[dict]:
    """The group's lessons (Tuesdays, 16:00) from the contract's start to its month's end;
    the start day itself if no Tuesday is left in the month."""
    following = (start + datetime.timedelta(days=n) for n in range(31))
    days = [day for day in following if day.month == start.month and day.isoweekday() == 2]
    days = days or [start]
    return [{"date": day.isoformat(), "start": "16:00", "status": "held"} for day in days]


@pytest.fixture(scope="module")
def billed_world(billed_system):
    """On the billing journey's own system: a parent (confirmed address) applies their child
    to the chess group with a co-payment this month (M), the provider confirms; the clock moves
    to the 1st of M+1, the provider records M's lessons (all past now), the clock moves past M's
    submission deadline, and a regional operator bills M through the API. The browser then
    logs in as the parent (the same journey at both sizes: billed once, looked at twice)."""
    running, databases, clock_file = billed_system
    base, club = running.base_url, chess_club(databases)
    api = f"{base}/api/v1"
    user = register_parent(api)
    confirm_email(databases["accounts"], user["id"])
    parent = Client(api, login(api, user["email"])["access_token"])
    child = parent.post("/children", child_body())
    assert child.status_code == 201, child.text
    child_id = child.json()["id"]
    start = clock.today()  # the system's clock is still the real one
    applied = parent.post(
        "/enrollments",
        {"child_id": child_id, "group_id": club["groups"][0], "start_date": start.isoformat(),
         "accept_copay": True},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )  # fmt: skip
    assert applied.status_code == 201, applied.text
    provider, regional = club["provider_token"], club["regional_token"]

    def awaiting():
        path = f"/enrollments?group_id={club['groups'][0]}&child_id={child_id}"
        answer = as_user(base, "GET", path, provider)
        return [e for e in answer.json()["items"] if e["status"] == "awaiting_provider"]

    application = wait_for(awaiting, 30, "the application awaiting the provider")[0]
    confirmed = as_user(base, "POST", f"/enrollments/{application['id']}/confirm", provider)
    assert confirmed.status_code == 200, confirmed.text

    start = datetime.date.fromisoformat(application["start_date"])
    month = payments_domain.month_of(start)
    _, last = payments_domain.parse_month(month)
    clock.set_shared(clock_file, last + datetime.timedelta(days=1))
    lessons = [
        {**lesson, "attendance": [{"child_id": child_id, "present": True}]}
        for lesson in _lessons(start)
    ]

    def recorded():  # payments learns of the contract from enrollment's event
        answer = as_user(base, "POST", f"/groups/{club['groups'][0]}/lessons", provider,
                         {"lessons": lessons})  # fmt: skip
        assert answer.status_code in (200, 201, 404), answer.text
        return answer.status_code != 404

    wait_for(recorded, 30, f"the lessons of {month} recorded")
    clock.set_shared(
        clock_file, payments_domain.submission_deadline(month) + datetime.timedelta(days=1)
    )
    run = as_user(base, "POST", "/billing/runs", regional, {"month": month})
    assert run.status_code == 202, run.text

    def completed():
        answer = as_user(base, "GET", f"/billing/runs/{run.json()['id']}", regional).json()
        return answer if answer["status"] == "completed" else None

    result = wait_for(completed, 30, f"the billing run of {month}")
    assert result["posted"] == 1 and float(result["certificate_charged"]) > 0, result
    return {"base_url": base, "email": user["email"], "month": month,
            "certificate_charged": result["certificate_charged"]}  # fmt: skip


@pytest.fixture(scope="module")
def console_world(server_urls, mail_server, tmp_path_factory):
    """The consoles' journey (issue 22) on a system of its own (databases, vhost, ports,
    business clock), which the browser test moves past the month's end and its submission
    deadline: a regional operator (created as `make regional-operator` does), a municipal
    operator of Krasnoyarsk, an open period with a nominal and a limit, the municipality's
    normative of an hour. Nothing else: the provider registers in the browser."""
    from services.accounts import operations as accounts_operations

    folder = tmp_path_factory.mktemp("consoles")
    name = f"navtest_{RUN_ID}_consoles"
    with own_system(server_urls, mail_server, name, folder) as (running, databases, clock_file):
        base = running.base_url
        regional_email = f"region-{uuid.uuid4().hex[:8]}@example.ru"
        accounts = sa.create_engine(databases["accounts"])
        certificates = sa.create_engine(databases["certificates"])
        try:
            with Session(accounts, info={"producer": "accounts"}) as session:
                accounts_operations.create_staff(
                    session, accounts_operations.Passwords(), None,
                    {"email": regional_email, "full_name": "Регионова Ольга Игоревна",
                     "password": PASSWORD, "role": "regional_operator"},
                    None,
                )  # fmt: skip
                session.commit()
            enrollment.period(certificates, "krasnoyarsk", nominal=5_000_000)
        finally:
            accounts.dispose()
            certificates.dispose()
        regional = login(f"{base}/api/v1", regional_email)["access_token"]
        normative = as_user(base, "PUT", "/municipalities/krasnoyarsk/normative", regional,
                            {"per_hour": "200.00"})  # fmt: skip
        assert normative.status_code == 200, normative.text
        municipal_email = f"municipal-{uuid.uuid4().hex[:8]}@example.ru"
        municipal = {
            "email": municipal_email,
            "password": PASSWORD,
            "full_name": "Муниципалова Инна Петровна",
            "role": "municipal_operator",
            "municipality_code": "krasnoyarsk",
        }
        staff = as_user(base, "POST", "/staff", regional, municipal)
        assert staff.status_code == 201, staff.text
        yield {
            "base_url": base,
            "clock_file": clock_file,
            "accounts_url": databases["accounts"],
            "regional_email": regional_email,
            "municipal_email": municipal_email,
        }


def test_portal_journeys_in_a_browser(portal_world, billed_world, console_world):
    assert DIST.is_file(), "web/dist is not built: run `make web` (make test does)"
    world = {**portal_world, "billed": billed_world, "console": console_world}
    env = {**os.environ, "PORTAL_WORLD": json.dumps(world)}
    env.pop("AMQP_URI", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:cacheprovider", "-s"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout[-5000:])
    assert result.returncode == 0, result.stdout[-15000:] + result.stderr[-3000:]
