"""Every payments route x every caller x own or foreign, with the exact status, over HTTP
against the running system; contracts come from real `enrollment_confirmed` messages.

Callers: anonymous; a parent; the provider of the group (home organization) and another
one; the municipal operators of Krasnoyarsk (the payer) and of Achinsk; the regional one.
"""

import time
import uuid
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from nameko import config as nameko_config
from nameko.standalone.rpc import ClusterRpcClient

from contracts.enrollment import STATUSES
from servicekit import clock
from servicekit.tokens import issue_access_token
from tests.support.payments import Enrollment, confirmed_data

HOME_ORG, ELSEWHERE_ORG = 880001, 880002
CLAIMS = {
    "anonymous": None,
    "parent": {"sub": "8802", "role": "parent"},
    "provider": {"sub": "8803", "role": "provider", "org": HOME_ORG},
    "provider_elsewhere": {"sub": "8804", "role": "provider", "org": ELSEWHERE_ORG},
    "municipal": {"sub": "8805", "role": "municipal_operator", "mun": "krasnoyarsk"},
    "municipal_elsewhere": {"sub": "8806", "role": "municipal_operator", "mun": "achinsk"},
    "regional": {"sub": "8801", "role": "regional_operator"},
}
CALLERS = tuple(CLAIMS)


def call(api, caller, method, path, body=None):
    claims = CLAIMS[caller]
    headers = {"Authorization": f"Bearer {issue_access_token(claims, ttl=3600)}"} if claims else {}
    return requests.request(method, f"{api}{path}", json=body, headers=headers, timeout=20)


class World:
    def __init__(self, api, vhost, engine):
        self.api = api
        self.group = uuid.uuid4().int % 1_000_000 + 2_000_000
        self.children = [self.group * 10 + n for n in range(2)]
        enrollment = Enrollment(vhost)
        try:
            for child in self.children:
                enrollment.publish(
                    "enrollment_confirmed",
                    confirmed_data(child_id=child, group_id=self.group, organization_id=HOME_ORG),
                )
        finally:
            enrollment.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                count = conn.execute(
                    sa.text("SELECT count(*) FROM contracts WHERE group_id = :g"), {"g": self.group}
                ).scalar()
            if count == 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("contracts were not created from the events")
        with nameko_config.patch({"AMQP_URI": vhost}), ClusterRpcClient() as client:
            issued = client.payments.issue_advances("2027-02")
        self.invoice = next(i["id"] for i in issued if i["organization_id"] == HOME_ORG)
        run = call(api, "regional", "POST", "/billing/runs", {"month": "2026-09"})
        assert run.status_code == 202, run.text
        self.run = run.json()["id"]

    def lessons(self):
        # a lesson of the business today: a fact already, in a month open for corrections
        return {
            "lessons": [
                {
                    "date": clock.today().isoformat(),
                    "start": "16:00",
                    "status": "held",
                    "attendance": [{"child_id": self.children[0], "present": True}],
                }
            ]
        }


@pytest.fixture(scope="module")
def world(api, vhost, databases):
    from tests.support.accounts import ensure_organization

    # a provider records lessons only while its organization is active in the catalog
    ensure_organization(databases["catalog"], HOME_ORG, "krasnoyarsk")
    ensure_organization(databases["catalog"], ELSEWHERE_ORG, "achinsk")
    engine = sa.create_engine(databases["payments"])
    yield World(api, vhost, engine)
    engine.dispose()


def everyone(status):
    return dict.fromkeys(CALLERS, status)


REGIONAL_ONLY = everyone(403) | {"anonymous": 401, "regional": 200}
STAFF_READ = everyone(200) | {"anonymous": 401, "parent": 403}
OPERATORS_ONLY = everyone(403) | {"anonymous": 401, "municipal": 200, "regional": 200}

TABLE = [
    (
        "record lessons",
        "POST",
        lambda w: f"/groups/{w.group}/lessons",
        lambda w: w.lessons(),
        everyone(403) | {"anonymous": 401, "provider": 200},
    ),
    (
        "lessons of a group without contracts",
        "POST",
        lambda w: "/groups/2147483600/lessons",
        lambda w: w.lessons(),
        everyone(403) | {"anonymous": 401, "provider": 404, "provider_elsewhere": 404},
    ),
    (
        "group's month",
        "GET",
        lambda w: f"/groups/{w.group}/lessons?month={clock.today():%Y-%m}",
        None,
        everyone(403) | {"anonymous": 401, "provider": 200, "municipal": 200, "regional": 200},
    ),
    (
        "completeness mode",
        "PUT",
        lambda w: "/municipalities/krasnoyarsk/completeness",
        lambda w: {"completeness_mode": "delivered"},
        OPERATORS_ONLY,
    ),
    (
        "billing settings",
        "GET",
        lambda w: "/municipalities/krasnoyarsk/billing-settings",
        None,
        OPERATORS_ONLY,
    ),
    (
        "change billing settings",
        "PATCH",
        lambda w: "/municipalities/krasnoyarsk/billing-settings",
        lambda w: {"submission_workday": 3, "unrecorded_percent": 100},
        OPERATORS_ONLY,
    ),
    (
        "start a billing run",
        "POST",
        lambda w: "/billing/runs",
        lambda w: {"month": "2026-09"},
        REGIONAL_ONLY | {"regional": 202},
    ),
    ("billing run", "GET", lambda w: f"/billing/runs/{w.run}", None, REGIONAL_ONLY),
    ("invoices", "GET", lambda w: "/invoices", None, STAFF_READ),
    (
        "an invoice's register",
        "GET",
        lambda w: f"/invoices/{w.invoice}/contracts",
        None,
        STAFF_READ | {"provider_elsewhere": 404, "municipal_elsewhere": 404},
    ),
    (
        "an invoice's register as CSV",
        "GET",
        lambda w: f"/invoices/{w.invoice}/contracts.csv",
        None,
        STAFF_READ | {"provider_elsewhere": 404, "municipal_elsewhere": 404},
    ),
    ("region report", "GET", lambda w: "/reports/region?month=2026-09", None, REGIONAL_ONLY),
    ("region report csv", "GET", lambda w: "/reports/region.csv", None, REGIONAL_ONLY),
    ("region report xlsx", "GET", lambda w: "/reports/region.xlsx", None, REGIONAL_ONLY),
    (
        "municipality report xlsx",
        "GET",
        lambda w: "/municipalities/krasnoyarsk/report.xlsx?month=2026-10",
        None,
        OPERATORS_ONLY,
    ),
    (
        "municipality report",
        "GET",
        lambda w: "/municipalities/krasnoyarsk/report",
        None,
        OPERATORS_ONLY,
    ),
    (
        "municipality report csv",
        "GET",
        lambda w: "/municipalities/krasnoyarsk/report.csv?month=2026-10",
        None,
        OPERATORS_ONLY,
    ),
    (
        "child's payments (token without a child)",
        "GET",
        lambda w: "/children/2147483600/payments",
        None,
        everyone(403) | {"anonymous": 401, "parent": 404},
    ),
]


@pytest.mark.parametrize("name, method, path, body, expected", TABLE, ids=[r[0] for r in TABLE])
@pytest.mark.parametrize("caller", CALLERS)
def test_payments_route_answers_each_caller_as_the_matrix_says(
    world, caller, name, method, path, body, expected
):
    response = call(world.api, caller, method, path(world), body(world) if body else None)
    assert response.status_code == expected[caller], (caller, name, response.text)
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")


def test_the_table_covers_every_payments_route(api):
    document = requests.get(f"{api}/openapi.json", timeout=10).json()
    tags = {"attendance", "billing", "invoices", "reports", "payments"}
    routes = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if tags & set(operation.get("tags", []))
    }

    class Sample:
        group, run, invoice = "{group_id}", "{run_id}", "{invoice_id}"

        def lessons(self):
            return {}

    def template(path: str) -> str:
        path = path.split("?")[0].replace("2147483600", "{id}")
        path = path.replace("/groups/{id}", "/groups/{group_id}")
        path = path.replace("/children/{id}", "/children/{child_id}")
        return path.replace("/municipalities/krasnoyarsk", "/municipalities/{municipality_code}")

    covered = {(method, template(path(Sample()))) for _, method, path, _, _ in TABLE}
    covered.add(("POST", "/invoices/{invoice_id}/pay"))  # test_an_invoice_is_marked_paid...
    assert routes == covered
    assert all(set(expected) == set(CALLERS) for *_, expected in TABLE)


# marking paid: only the payer's municipal operator, once; ordered so the 200 comes last
PAY = [
    ("anonymous", 401),
    ("parent", 403),
    ("provider", 403),
    ("provider_elsewhere", 403),
    ("regional", 403),
    ("municipal_elsewhere", 404),
    ("municipal", 200),
]


def test_an_invoice_is_marked_paid_by_its_municipality_only_once(world):
    for caller, status in PAY:
        response = call(world.api, caller, "POST", f"/invoices/{world.invoice}/pay")
        assert response.status_code == status, (caller, response.text)
    assert response.json()["status"] == "paid"
    again = call(world.api, "municipal", "POST", f"/invoices/{world.invoice}/pay")
    assert (again.status_code, again.json()["code"]) == (409, "invoice_paid")


def test_invoices_are_filtered_by_whose_they_are(world):
    def ids(caller):
        response = call(world.api, caller, "GET", "/invoices?month=2027-02&limit=100")
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert world.invoice in ids("provider")
    assert world.invoice in ids("municipal")
    assert world.invoice in ids("regional")
    assert world.invoice not in ids("provider_elsewhere")
    assert world.invoice not in ids("municipal_elsewhere")
    home = call(world.api, "provider", "GET", "/invoices?month=2027-02").json()["items"]
    mine = next(i for i in home if i["id"] == world.invoice)
    # 80 % of February's two certificate parts of 3 037.50
    assert (mine["kind"], mine["amount"]) == ("advance", "4860.00")


def test_a_month_not_over_is_not_billed_and_a_lesson_after_today_not_recorded(world):
    month = f"{clock.today():%Y-%m}"
    response = call(world.api, "regional", "POST", "/billing/runs", {"month": month})
    assert (response.status_code, response.json()["code"]) == (409, "month_not_over")
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    lessons = {"lessons": [{"date": tomorrow, "start": "16:00", "status": "held"}]}
    response = call(world.api, "provider", "POST", f"/groups/{world.group}/lessons", lessons)
    assert (response.status_code, response.json()["code"]) == (422, "lesson_in_future")


def test_an_invoice_lists_its_contracts_as_json_and_csv(world):
    body = call(world.api, "municipal", "GET", f"/invoices/{world.invoice}/contracts").json()
    assert body["invoice"]["id"] == world.invoice
    assert sorted(line["child_id"] for line in body["contracts"]) == world.children
    assert (body["planned"], body["invoiced"]) == ("6075.00", "4860.00")  # February, 80 %
    response = call(world.api, "provider", "GET", f"/invoices/{world.invoice}/contracts.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("contract_id;enrollment_id;child_id")
    assert len(lines) == 4  # two contracts and the total


def test_report_csv_opens_in_a_russian_spreadsheet(world):
    response = call(world.api, "regional", "GET", "/reports/region.csv?month=2026-09")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Раздел;Показатель;Сертификат, руб.;Доплата, руб.;Количество"
    for section in ("Дети;Охвачено договорами;", "Дети;Зарегистрировано;",
                    "Дети;Доля охваченных, %;", "Сертификаты: движение средств;Зачислено;",
                    "Сертификаты: движение средств;Списано за месяц;",
                    "Заявки по статусам;Зачислен;"):  # fmt: skip
        assert any(line.startswith(section) for line in lines), section


def test_report_xlsx_has_the_json_reports_figures_as_numbers(world):
    import io

    from openpyxl import load_workbook

    response = call(world.api, "regional", "GET", "/reports/region.xlsx?month=2026-09")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    report = call(world.api, "regional", "GET", "/reports/region?month=2026-09").json()
    sheet = load_workbook(io.BytesIO(response.content)).active
    found = {(row[0], row[1]): row[2:] for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert found[("Дети", "Охвачено договорами")][2] == report["children_covered"]
    assert found[("Дети", "Зарегистрировано")][2] == report["children_registered"]
    credited = found[("Сертификаты: движение средств", "Зачислено")][0]
    assert f"{credited:.2f}" == report["certificate_usage"]["credited"]
    for line in report["spending_by_provider"]:
        certificate = found[("Расходы по поставщикам", line["name"])][0]
        assert f"{certificate:.2f}" == line["certificate"]


def test_report_of_a_municipality_without_children_answers_zeros_as_money(world):
    """The other services' figures over HTTP: counts as integers, money as decimal strings,
    `spent_in_month` only in a month's report (exact: nobody lives in this municipality)."""
    code = f"nobody-{uuid.uuid4().hex[:8]}"
    month = call(world.api, "regional", "GET", f"/municipalities/{code}/report?month=2026-10")
    assert month.status_code == 200, month.text
    body = month.json()
    assert (body["children_registered"], body["children_covered_percent"]) == (0, "0.00")
    assert body["certificate_usage"] == {
        "credited": "0.00", "reserved": "0.00", "spent": "0.00", "expired": "0.00",
        "spent_in_month": "0.00",
    }  # fmt: skip
    assert body["enrollments_by_status"] == dict.fromkeys(STATUSES, 0)
    whole = call(world.api, "regional", "GET", f"/municipalities/{code}/report").json()
    assert whole["certificate_usage"]["spent_in_month"] is None


def test_a_parent_sees_their_childs_payments_and_not_anothers(api, accounts_world, vhost):
    mine = accounts_world.children["parent"]
    theirs = accounts_world.children["other_parent"]
    enrollment = Enrollment(vhost)
    try:
        data = confirmed_data(child_id=mine, group_id=3_100_000 + mine, organization_id=HOME_ORG)
        enrollment.publish("enrollment_confirmed", data)
    finally:
        enrollment.close()
    parent = accounts_world.client("parent")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = parent.get(f"/children/{mine}/payments")
        assert answer.status_code == 200, answer.text
        if answer.json()["contracts"]:
            break
        time.sleep(0.2)
    contract = answer.json()["contracts"][0]
    assert contract["enrollment_id"] == data["enrollment_id"]
    assert (contract["total"], contract["certificate_share"], contract["copay"]) == (
        "27300.00",
        "27300.00",
        "0.00",
    )
    assert [m["month"] for m in contract["months"]][:2] == ["2026-09", "2026-10"]
    assert contract["months"][1]["certificate"] == "3037.50"
    assert parent.get(f"/children/{theirs}/payments").status_code == 404
