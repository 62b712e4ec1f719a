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


def test_the_csv_holds_the_new_figures_in_rubles_with_a_decimal_comma():
    lines = reports.as_csv(reports.complete(OWN, PEERS)).decode("utf-8-sig").splitlines()
    for line in (
        "children_registered;;;;3",
        "children_covered_percent;;;;33,33",
        "certificate_usage;credited;20000,00;;",
        "certificate_usage;reserved;1500,50;;",
        "certificate_usage;spent;499,50;;",
        "certificate_usage;expired;10000,00;;",
        "certificate_usage;spent_in_month;499,50;;",
        "enrollments_by_status;enrolled;;;1",
        "enrollments_by_status;requested;;;0",
        "enrollments_by_status;cancelled;;;2",
    ):
        assert line in lines
    without_month = {**PEERS["certificate_usage"], "spent_in_month": None}
    whole = reports.complete({**OWN, "month": None}, {**PEERS, "certificate_usage": without_month})
    text = reports.as_csv(whole).decode("utf-8-sig")
    assert "spent_in_month" not in text
    assert "certificate_usage;spent;499,50;;" in text.splitlines()


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
