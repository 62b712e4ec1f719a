"""A payments report completed with the figures accounts, certificates and enrollment own,
and how they are asked: side by side, with one deadline, a 503 when one does not answer.
No server: the RPC client is a hand-written double that answers or fails as told."""

import pytest
from nameko.exceptions import MethodNotFound

from servicekit.errors import ServiceUnavailable
from services.payments import reports
from services.payments.service import ReportPeers

OWN = {
    "municipality_code": "achinsk",
    "month": "2026-10",
    "children_covered": 1,
    "spending_by_direction": [],
    "spending_by_provider": [],
    "certificate_money": {
        "in_contracts": 0,
        "debited": 0,
        "released_after_billing": 0,
        "released_on_termination": 0,
        "still_planned": 0,
    },
    "contracts_by_status": {"active": 1, "terminated": 0},
}
PEERS = {
    "children_registered": 3,
    "certificate_usage": {
        "credited": 2_000_000,
        "reserved": 150_050,
        "spent": 49_950,
        "expired": 1_000_000,
        "spent_in_month": 49_950,
    },
    "enrollments_by_status": {"enrolled": 1, "cancelled": 2},
}


def test_the_report_gets_the_share_of_registered_children_and_every_status():
    report = reports.complete(OWN, PEERS)
    assert report["children_registered"] == 3
    assert report["children_covered_percent"] == "33.33"
    assert report["certificate_usage"] == PEERS["certificate_usage"]
    assert report["enrollments_by_status"] == {
        "requested": 0, "waitlisted": 0, "awaiting_provider": 0, "enrolled": 1,
        "completed": 0, "terminated": 0, "rejected": 0, "cancelled": 2, "expired": 0,
    }  # fmt: skip
    assert (
        reports.complete(OWN, {**PEERS, "children_registered": 0})["children_covered_percent"]
        == "0.00"
    )


def test_the_csv_holds_the_new_figures_in_rubles_with_a_decimal_comma_in_russian():
    lines = reports.as_csv(reports.complete(OWN, PEERS)).decode("utf-8-sig").splitlines()
    assert lines[0] == "Раздел;Показатель;Сертификат, руб.;Доплата, руб.;Количество"
    for line in (
        "Дети;Зарегистрировано;;;3",
        "Дети;Доля охваченных, %;;;33,33",
        "Сертификаты: движение средств;Зачислено;20000,00;;",
        "Сертификаты: движение средств;Зарезервировано;1500,50;;",
        "Сертификаты: движение средств;Списано;499,50;;",
        "Сертификаты: движение средств;Сгорело;10000,00;;",
        "Сертификаты: движение средств;Списано за месяц;499,50;;",
        "Заявки по статусам;Зачислен;;;1",
        "Заявки по статусам;Подана;;;0",
        "Заявки по статусам;Отменена;;;2",
    ):
        assert line in lines
    without_month = {**PEERS["certificate_usage"], "spent_in_month": None}
    whole = reports.complete({**OWN, "month": None}, {**PEERS, "certificate_usage": without_month})
    text = reports.as_csv(whole).decode("utf-8-sig")
    assert "Списано за месяц" not in text
    assert "Сертификаты: движение средств;Списано;499,50;;" in text.splitlines()


SPENT = {
    **OWN,
    "spending_by_direction": [
        {"key": "sports", "certificate": 190_000, "copay": 5_050, "charges": 2}
    ],
    "spending_by_provider": [
        {"key": "17", "certificate": 150_000, "copay": 0, "charges": 1},
        {"key": "18", "certificate": 40_000, "copay": 5_050, "charges": 1},
    ],
}


def test_spending_is_named_the_directions_and_organizations_names_never_ids():
    report = reports.complete(SPENT, {**PEERS, "organization_names": {"17": "Шахматный клуб"}})
    assert [line["name"] for line in report["spending_by_direction"]] == ["Физкультурно-спортивная"]
    assert [line["name"] for line in report["spending_by_provider"]] == [
        "Шахматный клуб",
        "Организация №18",  # one the catalog did not name
    ]
    assert reports.organization_ids(SPENT) == [17, 18]
    lines = reports.as_csv(report).decode("utf-8-sig").splitlines()
    assert "Расходы по направлениям;Физкультурно-спортивная;1900,00;50,50;2" in lines
    assert "Расходы по поставщикам;Шахматный клуб;1500,00;0,00;1" in lines
    assert not any(";17;" in line or "sports" in line for line in lines)


def test_the_xlsx_holds_the_csvs_rows_with_numbers_as_numbers():
    import io

    from openpyxl import load_workbook

    report = reports.complete(SPENT, {**PEERS, "organization_names": {"17": "Шахматный клуб"}})
    sheet = load_workbook(io.BytesIO(reports.as_xlsx(report))).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1] == ("Раздел", "Показатель", "Сертификат, руб.", "Доплата, руб.", "Количество")
    found = {(row[0], row[1]): row[2:] for row in values[2:]}
    assert found[("Расходы по направлениям", "Физкультурно-спортивная")] == (1900, 50.5, 2)
    assert found[("Расходы по поставщикам", "Шахматный клуб")] == (1500, 0, 1)
    assert found[("Дети", "Доля охваченных, %")] == (None, None, 33.33)
    assert found[("Сертификаты: движение средств", "Зарезервировано")] == (1500.5, None, None)
    assert found[("Заявки по статусам", "Отменена")] == (None, None, 2)
    # as many rows as the CSV, the same figures
    csv_lines = reports.as_csv(report).decode("utf-8-sig").splitlines()
    assert len(values) == len(csv_lines) + 1  # the title line


class Client:
    """TimedClient's call_async / wait, answering from `answers`, failing as `fails` says."""

    def __init__(self, answers, fails=None):
        self.answers, self.fails, self.asked, self.waits = answers, fails or {}, [], []

    def call_async(self, service, method, *args):
        self.asked.append((service, method, args))
        if self.fails.get(service) == "down":
            raise ServiceUnavailable(f"service {service} is not running", code="service_down")
        return (service, method)

    def wait(self, service, reply, timeout):
        self.waits.append(timeout)
        failure = self.fails.get(service)
        if failure == "late":
            raise ServiceUnavailable("did not answer in time", code="service_timeout")
        if failure == "old":
            raise MethodNotFound(reply[1])
        return self.answers[reply]


ANSWERS = {
    ("accounts", "count_children"): 3,
    ("certificates", "usage_totals"): PEERS["certificate_usage"],
    ("enrollment", "count_by_status"): PEERS["enrollments_by_status"],
}


def test_peers_are_all_asked_before_any_answer_is_awaited():
    client = Client(ANSWERS)
    collect = ReportPeers(client).ask("achinsk", "2026-10")
    assert client.asked == [
        ("accounts", "count_children", ("achinsk",)),
        ("certificates", "usage_totals", ("achinsk", "2026-10")),
        ("enrollment", "count_by_status", ("achinsk",)),
    ]
    assert client.waits == []
    assert collect() == PEERS
    assert all(0 < timeout <= 3 for timeout in client.waits)


@pytest.mark.parametrize(
    ("service", "failure"),
    [("accounts", "down"), ("certificates", "late"), ("enrollment", "old"), ("enrollment", "down")],
)
def test_a_peer_that_fails_makes_the_report_a_503_naming_it(service, failure):
    with pytest.raises(ServiceUnavailable) as raised:
        ReportPeers(Client(ANSWERS, {service: failure})).ask(None, None)()
    assert raised.value.code == f"{service}_unavailable"
    assert raised.value.status == 503
