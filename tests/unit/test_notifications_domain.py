"""The rules of notifying (services/notifications/domain.py) and the letters' words
(letters.py), without a broker, a database or a mail server."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from contracts.refusals import InvalidFields
from services.notifications import domain, letters, triggers

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.mark.parametrize(
    ("amount", "reads"),
    [("1900.00", "1 900,00 ₽"), ("0", "0,00 ₽"), ("1234567.5", "1 234 567,50 ₽"),
     ("-950.00", "−950,00 ₽"), ("999.99", "999,99 ₽")],
)  # fmt: skip
def test_money_reads_in_groups_of_three_with_a_comma(amount, reads):
    assert domain.rubles(amount) == reads


def test_dates_and_months_read_in_russian():
    assert domain.long_date("2026-12-01") == "1 декабря 2026"
    assert domain.long_date("2027-05-31") == "31 мая 2027"
    assert domain.month_name("2026-11") == "ноябрь 2026"


def test_a_letter_greets_by_first_name_and_patronymic():
    assert domain.person_name("Родителева Анна Викторовна") == "Анна Викторовна"


def test_legally_required_letters_go_whatever_the_preferences():
    off = {"email_confirmation": False, "password_reset": False, "month_debited": False}
    assert domain.sends_email(domain.KINDS["email_confirmation"], off)
    assert domain.sends_email(domain.KINDS["password_reset"], off)
    assert not domain.sends_email(domain.KINDS["month_debited"], off)
    assert domain.sends_email(domain.KINDS["month_debited"], {})  # on unless switched off


def test_preferences_refuse_required_unknown_and_other_roles_kinds():
    with pytest.raises(InvalidFields) as refused:
        domain.check_preferences(
            "parent", {"password_reset": False, "nonsense": False, "invoice_issued": False}
        )
    assert set(refused.value.fields) == {"password_reset", "nonsense", "invoice_issued"}
    with pytest.raises(InvalidFields):
        domain.check_preferences("parent", {"month_debited": "no"})
    assert domain.check_preferences("parent", {"month_debited": False}) == {"month_debited": False}


def test_every_role_lists_only_its_optional_kinds():
    parent = domain.preferences_of("parent", {"balance_low": False})
    assert parent["balance_low"] is False and parent["application_confirmed"] is True
    assert "password_reset" not in parent and "new_application" not in parent
    assert list(domain.preferences_of("provider", {})) == [
        "new_application",
        "decisions_due_tomorrow",
    ]
    assert list(domain.preferences_of("municipal_operator", {})) == ["invoice_issued"]


def test_backoff_doubles_and_is_capped():
    backoff = domain.Backoff(first=2, most=300)
    assert [backoff.after(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff.after(20).total_seconds() == 300


def test_a_pending_delivery_is_taken_as_a_plain_attempt():
    assert domain.take("pending", 0, None, NOW, LEASE) == domain.Attempt(1, False)
    assert domain.take("pending", 3, None, NOW, LEASE) == domain.Attempt(4, False)


def test_a_sending_delivery_past_its_lease_was_interrupted_by_a_crash():
    since = NOW - LEASE - timedelta(seconds=1)
    assert domain.take("sending", 1, since, NOW, LEASE) == domain.Attempt(2, True)


def test_a_fresh_sending_delivery_and_a_sent_one_are_left_alone():
    assert domain.take("sending", 1, NOW - timedelta(seconds=5), NOW, LEASE) is None
    assert domain.take("sent", 1, None, NOW, LEASE) is None


def test_message_ids_are_unique_and_in_the_senders_domain():
    first, second = domain.message_id("navigator.local"), domain.message_id("navigator.local")
    assert first != second
    assert first.startswith("<") and first.endswith("@navigator.local>")


def test_every_kind_has_a_template_and_a_trigger():
    assert set(domain.KINDS) == letters.kinds_with_templates()
    planned_kinds = {
        "email_confirmation", "password_reset", "application_registered",
        "application_waitlisted", "application_promoted", "application_confirmed",
        "application_rejected", "application_expired", "contract_ended", "month_debited",
        "balance_low", "certificate_financed", "certificate_balance_expired",
        "new_application", "invoice_issued", "application_expiring", "certificate_expiring",
        "decisions_due_tomorrow",
    }  # fmt: skip
    assert planned_kinds == set(domain.KINDS)
    assert len(triggers.TRIGGERS) == 17  # enrollment_requested makes two kinds


def test_a_letter_has_plain_text_and_escaped_html_with_the_link():
    letter = letters.render(
        "application_rejected",
        {"child": "Пётр Иванов", "program": "Робо<техника>", "organization": "ЦДТ «Радуга»",
         "reason": "группа для детей 10-12 лет"},
        "Здравствуйте, Анна Викторовна!",
        "http://127.0.0.1:8000/search",
    )  # fmt: skip
    assert letter.subject == "Заявка отклонена: Пётр Иванов, «Робо<техника>»"
    assert "Причина: группа для детей 10-12 лет." in letter.text
    assert "Найти другую программу: http://127.0.0.1:8000/search" in letter.text
    assert "Робо&lt;техника&gt;" in letter.html and "Робо<техника>" not in letter.html
    assert '<a href="http://127.0.0.1:8000/search"' in letter.html


def test_a_missing_value_is_an_error_not_an_empty_word():
    with pytest.raises(Exception, match="undefined"):
        letters.render("application_waitlisted", {"child": "Пётр"}, "Здравствуйте!", None)


class Directory:
    """triggers.Directory from memory: the names the letters need, as accounts and the
    catalog would answer them."""

    parent = {"user_id": 1, "email": "p@example.ru", "full_name": "Иванова Анна Викторовна",
              "role": "parent"}  # fmt: skip

    def person(self, user_id):
        return self.parent

    def child(self, child_id):
        return {"child_id": child_id, "first_name": "Пётр", "last_name": "Иванов",
                "parent_id": 1, "parent": self.parent}  # fmt: skip

    def organization_staff(self, organization_id):
        return [{"user_id": 2, "email": "s@example.ru", "full_name": "Петрова Ирина",
                 "role": "provider"}]  # fmt: skip

    def municipal_operators(self, code):
        return [{"user_id": 3, "email": "o@example.ru", "full_name": "Сидорова Ольга",
                 "role": "municipal_operator"}]  # fmt: skip

    def program(self, program_id):
        return {"title": "Робототехника", "organization_id": 5}

    def group(self, group_id):
        return {"program_id": 4}

    def organization(self, organization_id):
        return {"name": "ЦДТ «Радуга»"}

    def mail_token(self, request_id):
        return {"token": "t0k3n", "expires_at": "2026-12-03T08:00:00+00:00",
                "person": self.parent}  # fmt: skip


EVENTS = {
    "email_verification_requested": {"request_id": "r", "user_id": 1},
    "password_reset_requested": {"request_id": "r", "user_id": 1},
    "enrollment_requested": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                             "program_id": 4, "organization_id": 5, "decide_by": "2026-12-08",
                             "start_date": "2026-12-01", "total": "1900.00",
                             "certificate_share": "1900.00", "copay": "0.00"},
    "enrollment_waitlisted": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                              "program_id": 4, "organization_id": 5, "position": 2},
    "enrollment_promoted": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                            "program_id": 4, "organization_id": 5, "decide_by": "2026-12-08"},
    "enrollment_confirmed": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                             "program_id": 4, "organization_id": 5, "start_date": "2026-12-01",
                             "end_date": "2027-05-31", "total": "1900.00",
                             "certificate_share": "1900.00", "copay": "0.00"},
    "enrollment_rejected": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                            "program_id": 4, "organization_id": 5, "reason": "нет мест"},
    "enrollment_expired": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                           "program_id": 4, "organization_id": 5},
    "contract_terminated": {"enrollment_id": "e", "child_id": 1, "group_id": 3,
                            "end_date": "2027-01-31", "released": "950.00", "reason": None},
    "charge_posted": {"enrollment_id": "e", "child_id": 1, "organization_id": 5,
                      "month": "2026-11", "certificate_charged": "1520.00",
                      "certificate_released": "380.00", "copay_charged": "0.00"},
    "funds_reserved": {"certificate_number": "0123456789", "child_id": 1,
                       "available": "100.00"},
    "certificate_type_changed": {"certificate_number": "0123456789", "child_id": 1,
                                 "nominal": "24000.00"},
    "certificate_expired": {"certificate_number": "0123456789", "child_id": 1,
                            "expired": "12000.00", "reason": "период закрыт"},
    "application_expiring": {"enrollment_id": "e", "child_id": 1, "parent_id": 1,
                             "program_id": 4, "organization_id": 5,
                             "decide_by": "2026-12-04T07:00:00Z", "due_on": "2026-12-04"},
    "decisions_due_tomorrow": {"organization_id": 5, "due_on": "2026-12-04", "applications": [
        {"enrollment_id": "e", "child_id": 1, "program_id": 4, "group_id": 3,
         "decide_by": "2026-12-04T07:00:00Z"}]},
    "certificate_expiring": {"certificate_number": "0123456789", "child_id": 1,
                             "parent_id": 1, "municipality_code": "k",
                             "valid_until": "2027-01-01", "days_left": 29},
    "invoice_issued": {"invoice_id": 7, "organization_id": 5, "municipality_code": "k",
                       "month": "2026-11", "kind": "final", "amount": "-50.00"},
}  # fmt: skip


@pytest.mark.parametrize(("producer", "event_type"), sorted(triggers.TRIGGERS))
def test_every_trigger_plans_letters_that_render(producer, event_type):
    planned = triggers.plan(producer, event_type, EVENTS[event_type], Directory())
    assert planned
    for item in planned:
        letter = letters.render(item.kind, item.context, "Здравствуйте!", "http://x/y")
        assert letter.subject and "None" not in letter.text and "None" not in letter.subject


def test_a_reservation_leaving_enough_on_the_balance_makes_no_letter():
    data = {**EVENTS["funds_reserved"], "available": "50000.00"}
    assert triggers.plan("certificates", "funds_reserved", data, Directory()) == []


def test_a_reservation_leaving_enough_asks_nobody_for_the_child_or_parent():
    """Issue 20: every reservation of opening day asked accounts for the child and the parent
    of a letter it then did not write (two RPCs per application); a low balance still asks."""
    from services.notifications.service import RpcDirectory

    rpc = CountingRpc()
    high = {**EVENTS["funds_reserved"], "available": "50000.00"}
    assert triggers.plan("certificates", "funds_reserved", high, RpcDirectory(rpc)) == []
    assert rpc.asked == []
    low = {**EVENTS["funds_reserved"], "available": "10.00"}
    planned = triggers.plan("certificates", "funds_reserved", low, RpcDirectory(rpc))
    assert [p.kind for p in planned] == ["balance_low"]
    assert ("accounts", "child_contact", 1) in rpc.asked


def test_a_negative_final_invoice_reads_with_a_minus():
    (item,) = triggers.plan("payments", "invoice_issued", EVENTS["invoice_issued"], Directory())
    assert item.context["amount"] == "−50,00 ₽"
    assert item.recipient["email"] == "o@example.ru"


def _portal_routes() -> list[re.Pattern]:
    """The pages web/src/main.tsx serves: `path === "/x"`, the consoles' `"/x":` keys and
    `path.match(/^…$/)`; any other path shows «Страница не найдена»."""
    source = (Path(__file__).parents[2] / "web" / "src" / "main.tsx").read_text()
    exact = re.findall(r'path === "(/[^"]*)"', source)
    exact += re.findall(r'^\s+"(/[^"]*)":', source, re.M)  # the consoles
    patterns = re.findall(r"path\.match\(/(\^.*?\$)/\)", source)
    assert exact and patterns, "web/src/main.tsx no longer routes as this test reads it"
    return [re.compile(re.escape(page) + "$") for page in exact] + [re.compile(p) for p in patterns]


@pytest.mark.parametrize(("producer", "event_type"), sorted(triggers.TRIGGERS))
def test_every_letters_link_opens_a_page_of_the_portal(producer, event_type):
    routes = _portal_routes()
    for item in triggers.plan(producer, event_type, EVENTS[event_type], Directory()):
        page = urlsplit(domain.portal_link("http://portal.test", item.path)).path
        assert any(route.match(page) for route in routes), (item.kind, item.path)


def test_the_dative_after_po_agrees_with_the_count():
    reads = {n: domain.applications_dative(n) for n in (1, 2, 5, 11, 21, 101, 111)}
    assert reads == {1: "заявке", 2: "заявкам", 5: "заявкам", 11: "заявкам", 21: "заявке",
                     101: "заявке", 111: "заявкам"}  # fmt: skip


def test_the_expiring_application_names_the_deadline_in_region_time():
    (item,) = triggers.plan(
        "enrollment", "application_expiring", EVENTS["application_expiring"], Directory()
    )
    letter = letters.render(item.kind, item.context, "Здравствуйте!", "http://x/applications")
    assert letter.subject == (
        "Завтра истекает срок рассмотрения заявки: Пётр Иванов, «Робототехника»"
    )
    assert "до 4 декабря 2026, 14:00" in letter.text  # 07:00 UTC is 14:00 in Krasnoyarsk
    assert "ЦДТ «Радуга»" in letter.text and item.path == "/applications?enrollment=e"


def test_the_certificate_is_valid_up_to_the_day_before_the_18th_birthday():
    (item,) = triggers.plan(
        "certificates", "certificate_expiring", EVENTS["certificate_expiring"], Directory()
    )
    letter = letters.render(item.kind, item.context, "Здравствуйте!", None)
    assert letter.subject == "Срок действия сертификата 0123456789 заканчивается 31 декабря 2026"
    assert "действует по 31 декабря 2026 включительно: 1 января 2027" in letter.text


def test_a_digest_lists_its_first_applications_masked_and_counts_the_rest():
    many = [
        {"enrollment_id": str(n), "child_id": n, "program_id": 4, "group_id": 3,
         "decide_by": "2026-12-04T07:00:00Z"}
        for n in range(domain.DIGEST_LINES + 3)
    ]  # fmt: skip
    data = {"organization_id": 5, "due_on": "2026-12-04", "applications": many}
    (item,) = triggers.plan("enrollment", "decisions_due_tomorrow", data, Directory())
    assert item.recipient["role"] == "provider"
    letter = letters.render(item.kind, item.context, "Здравствуйте!", None)
    count = domain.DIGEST_LINES + 3
    assert letter.subject == f"Завтра, 4 декабря 2026, истекает срок решения по {count} заявкам"
    assert letter.text.count("ребёнок Пётр И., решение до 4 декабря 2026, 14:00") == 30
    assert "Иванов" not in letter.text and "…и ещё 3" in letter.text


class CountingRpc:
    """An RPC client answering from the in-memory Directory, counting the questions."""

    METHODS = {("accounts", "contact"): "person", ("accounts", "child_contact"): "child",
               ("accounts", "organization_staff"): "organization_staff",
               ("accounts", "municipal_operators"): "municipal_operators",
               ("accounts", "mail_token"): "mail_token", ("catalog", "get_program"): "program",
               ("catalog", "get_group"): "group",
               ("catalog", "get_organization"): "organization"}  # fmt: skip

    def __init__(self):
        self.asked: list[tuple] = []

    def call(self, service, method, *args, timeout=None):
        self.asked.append((service, method, *args))
        return getattr(Directory(), self.METHODS[service, method])(*args)


@pytest.mark.parametrize("event_type", ["enrollment_requested", "enrollment_waitlisted"])
def test_an_events_letters_ask_each_name_once(event_type):
    from services.notifications.service import RpcDirectory

    rpc = CountingRpc()
    planned = triggers.plan("enrollment", event_type, EVENTS[event_type], RpcDirectory(rpc))

    assert planned == triggers.plan("enrollment", event_type, EVENTS[event_type], Directory())
    assert len(rpc.asked) == len(set(rpc.asked)), rpc.asked
    assert ("accounts", "child_contact", 1) in rpc.asked
    # the parent's contact comes with the child's (issue 20): not asked again
    assert not [q for q in rpc.asked if q[:2] == ("accounts", "contact")], rpc.asked


def test_a_letter_to_another_parent_than_the_childs_asks_that_parent():
    """The event names the parent the letter goes to; when it is not the child's parent as
    accounts answers now, that parent is asked."""
    from services.notifications.service import RpcDirectory

    rpc = CountingRpc()
    data = {**EVENTS["enrollment_requested"], "parent_id": 7}
    triggers.plan("enrollment", "enrollment_requested", data, RpcDirectory(rpc))
    assert ("accounts", "contact", 7) in rpc.asked


def _opening_day_rpcs(applications: int, shared) -> Counter:
    """The RPCs the notifications service asks for the letters of `applications` applications
    (one event each, one directory each, as the handler makes them) to one group: a parent
    and a child of their own each, the same program and organization."""
    from services.notifications.service import RpcDirectory

    rpc = CountingRpc()
    for n in range(applications):
        data = {**EVENTS["enrollment_requested"], "enrollment_id": f"e{n}", "child_id": 100 + n,
                "parent_id": 1000 + n}  # fmt: skip
        directory = RpcDirectory(rpc, shared)
        planned = triggers.plan("enrollment", "enrollment_requested", data, directory)
        assert [p.kind for p in planned] == ["application_registered", "new_application"]
    return Counter(question[:2] for question in rpc.asked)


def test_opening_day_letters_ask_the_shared_names_once_not_once_per_application():
    """Issue 20: 100 applications to one group asked the organization's staff, the program
    and the organization 100 times each; the process's memory asks them once. The parent and
    the child are still asked once per application."""
    from services.notifications.lookups import SharedLookups

    without = _opening_day_rpcs(100, SharedLookups(0))
    kept = _opening_day_rpcs(100, SharedLookups(5))

    per_person = {("accounts", "contact"): 100, ("accounts", "child_contact"): 100}
    shared = {("accounts", "organization_staff"), ("catalog", "get_program"),
              ("catalog", "get_organization")}  # fmt: skip
    assert without == {**per_person, **dict.fromkeys(shared, 100)}
    assert kept == {**per_person, **dict.fromkeys(shared, 1)}
