"""The notifications service in-process (with accounts and the catalog, which it asks for
names and addresses) on the real broker and database, mailing to a real SMTP server
(aiosmtpd, started by the test): every kind of letter made once by its event, nothing sent
twice when an event is redelivered, an outage of the mail server delays letters and loses
none, and a crash between sending and recording is recognised after the restart."""

import functools
import hashlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient

from servicekit.errors import InvalidInput, NotFound
from servicekit.outbox import OutboxPublisher, envelope
from services.accounts.service import AccountsService
from services.catalog.service import CatalogService
from services.notifications.service import NotificationsService
from tests.support import enrollment as world
from tests.support.mail import MailServer, html_of, text_of
from tests.support.sql import scalar
from tests.support.system import ServiceProcess, base_env

PORTAL = "http://portal.test"


@pytest.fixture
def mail(tmp_path):
    server = MailServer(tmp_path / "mail").start()
    yield server
    server.stop()


@pytest.fixture
def settings(monkeypatch, mail):
    for name, value in {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail.port), "PORTAL_URL": PORTAL,
        "SMTP_RETRY_FIRST_SECONDS": "1", "SMTP_RETRY_MAX_SECONDS": "4",
        "NOTIFICATIONS_POLL_SECONDS": "0.3", "SMTP_SENDING_LEASE_SECONDS": "2",
        "MAIL_FROM": "Навигатор <noreply@navigator.test>",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)


@pytest.fixture
def running(nameko_config, databases, container_factory, settings):
    for cls in (NotificationsService, AccountsService, CatalogService):
        container_factory(cls).start()
    with ClusterRpcClient() as client:
        yield client


class Producers:
    def __init__(self, amqp_uri):
        self.amqp_uri, self.publishers = amqp_uri, {}

    def publish(self, producer: str, event_type: str, data: dict, event_id=None) -> dict:
        if producer not in self.publishers:
            self.publishers[producer] = OutboxPublisher(producer, self.amqp_uri)
        body = envelope(event_type, data, producer)
        if event_id:
            body["event_id"] = event_id
        self.publishers[producer].publish(body)
        return body

    def close(self):
        for publisher in self.publishers.values():
            publisher.close()


@pytest.fixture
def producers(vhost):
    made = Producers(vhost)
    yield made
    made.close()


def user(engine, role: str, full_name: str, **attachment) -> dict:
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:10]}@example.ru"
    with engine.begin() as conn:
        user_id = conn.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, role, organization_id,"
                " municipality_code, is_active) VALUES (:email, 'x', :name, :role, :org, :mun,"
                " true) RETURNING id"
            ),
            {"email": email, "name": full_name, "role": role,
             "org": attachment.get("organization_id"), "mun": attachment.get("municipality")},
        ).scalar()  # fmt: skip
    return {"id": user_id, "email": email}


def mail_request(engine, user_id: int, purpose: str) -> str:
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO mail_tokens (request_id, user_id, purpose, created_at, expires_at)"
                " VALUES (:r, :u, :p, :now, :exp)"
            ),
            {"r": request_id, "u": user_id, "p": purpose, "now": now,
             "exp": now + timedelta(hours=1)},
        )  # fmt: skip
    return request_id


@pytest.fixture
def family(engine_of):
    """A parent with a child, an organization with a program and a group, its provider's
    staff member and the municipality's operator: everyone a letter names or goes to."""
    accounts, catalog = engine_of("accounts"), engine_of("catalog")
    municipality = "krasnoyarsk"
    organization_id = world.organization(catalog, municipality)
    group_id = world.group(catalog, organization_id)
    with catalog.connect() as conn:
        program_id = conn.execute(
            sa.text("SELECT program_id FROM study_groups WHERE id = :g"), {"g": group_id}
        ).scalar()
        organization = conn.execute(
            sa.text("SELECT name FROM organizations WHERE id = :o"), {"o": organization_id}
        ).scalar()
    parent = user(accounts, "parent", "Родителева Анна Викторовна")
    (child_id,) = world.children(accounts, parent["id"], 1)
    staff = user(accounts, "provider", "Педагогова Ирина Олеговна",
                 organization_id=organization_id, municipality=municipality)  # fmt: skip
    operator = user(accounts, "municipal_operator", "Операторова Ольга Игоревна",
                    municipality=municipality)  # fmt: skip
    return {
        "accounts": accounts, "parent": parent, "child_id": child_id, "staff": staff,
        "operator": operator, "organization_id": organization_id, "organization": organization,
        "program_id": program_id, "group_id": group_id, "municipality": municipality,
    }  # fmt: skip


def application(family, **extra) -> dict:
    return {
        "enrollment_id": str(uuid.uuid4()), "child_id": family["child_id"],
        "parent_id": family["parent"]["id"], "group_id": family["group_id"],
        "program_id": family["program_id"], "organization_id": family["organization_id"],
        **extra,
    }  # fmt: skip


def every_kind_of_event(family) -> list[tuple[str, str, dict]]:
    """(producer, type, data) of one event per trigger, and what it must make."""
    certificate = "0123456789"
    accounts = family["accounts"]
    money = {"total": "17100.00", "certificate_share": "15200.00", "copay": "1900.00"}
    return [
        ("accounts", "email_verification_requested",
         {"request_id": mail_request(accounts, family["parent"]["id"], "verify_email"),
          "user_id": family["parent"]["id"]}),
        ("accounts", "password_reset_requested",
         {"request_id": mail_request(accounts, family["parent"]["id"], "reset_password"),
          "user_id": family["parent"]["id"]}),
        ("enrollment", "enrollment_requested",
         application(family, status="awaiting_provider", decide_by="2026-12-08",
                     start_date="2026-12-01", end_date="2027-05-31", **money)),
        ("enrollment", "enrollment_waitlisted",
         application(family, status="waitlisted", position=3)),
        ("enrollment", "enrollment_promoted",
         application(family, status="awaiting_provider", decide_by="2026-12-10")),
        ("enrollment", "enrollment_confirmed",
         application(family, status="enrolled", start_date="2026-12-01",
                     end_date="2027-05-31", **money)),
        ("enrollment", "enrollment_rejected",
         application(family, status="rejected", reason="группа набрана для детей 10–12 лет")),
        ("enrollment", "enrollment_expired", application(family, status="expired")),
        ("payments", "contract_terminated",
         {"contract_id": 1, "enrollment_id": str(uuid.uuid4()), "child_id": family["child_id"],
          "group_id": family["group_id"], "end_date": "2027-01-31", "released": "7600.00",
          "released_months": ["2027-02", "2027-03"], "reason": "переезд"}),
        ("payments", "charge_posted",
         {"charge_id": 1, "contract_id": 1, "enrollment_id": str(uuid.uuid4()),
          "child_id": family["child_id"], "organization_id": family["organization_id"],
          "payer_municipality_code": family["municipality"], "month": "2026-11",
          "completeness": "0.800000", "certificate_charged": "1520.00",
          "certificate_released": "380.00", "copay_charged": "1900.00"}),
        ("certificates", "funds_reserved",
         {"certificate_number": certificate, "child_id": family["child_id"],
          "enrollment_id": str(uuid.uuid4()), "period_id": 1, "amount": "15200.00",
          "available": "1250.50"}),
        ("certificates", "certificate_type_changed",
         {"certificate_number": certificate, "child_id": family["child_id"],
          "municipality_code": family["municipality"], "type": "financing", "period_id": 1,
          "nominal": "24000.00"}),
        ("certificates", "certificate_expired",
         {"certificate_number": certificate, "child_id": family["child_id"], "period_id": 1,
          "expired": "12000.00", "reason": "период закрыт"}),
        ("enrollment", "application_expiring",
         application(family, status="awaiting_provider", decide_by="2026-12-04T07:00:00Z",
                     due_on="2026-12-04")),
        ("enrollment", "decisions_due_tomorrow",
         {"organization_id": family["organization_id"], "due_on": "2026-12-04",
          "applications": [
              {"enrollment_id": str(uuid.uuid4()), "child_id": family["child_id"],
               "group_id": family["group_id"], "program_id": family["program_id"],
               "decide_by": "2026-12-04T07:00:00Z"}]}),
        ("certificates", "certificate_expiring",
         {"certificate_number": certificate, "child_id": family["child_id"],
          "parent_id": family["parent"]["id"], "municipality_code": family["municipality"],
          "valid_until": "2027-01-01", "days_left": 29}),
        ("payments", "invoice_issued",
         {"invoice_id": 77, "organization_id": family["organization_id"],
          "municipality_code": family["municipality"], "month": "2026-11", "kind": "advance",
          "amount": "121600.00"}),
    ]  # fmt: skip


def test_every_kind_is_mailed_once_by_its_event_and_a_redelivery_sends_nothing(
    running, producers, family, mail, engine_of
):
    parent, staff, operator = family["parent"], family["staff"], family["operator"]
    sent = [producers.publish(*event) for event in every_kind_of_event(family)]

    # 15 letters to the parent, two to the provider's staff and one to the operator
    letters = mail.wait_for(15, to=parent["email"])
    to_staff, digest = sorted(
        mail.wait_for(2, to=staff["email"]), key=lambda m: "Завтра" in m["Subject"]
    )
    (to_operator,) = mail.wait_for(1, to=operator["email"])
    subjects = {m["Subject"] for m in letters}
    child, program = "Пётр Иванов", "Робототехника"
    assert subjects == {
        "Подтвердите адрес электронной почты",
        "Восстановление пароля",
        f"Заявка зарегистрирована: {child}, «{program}»",
        f"Заявка в листе ожидания: {child}, «{program}»",
        f"Освободилось место: {child}, «{program}»",
        f"{child} зачислен(а): «{program}»",
        f"Заявка отклонена: {child}, «{program}»",
        f"Заявка не рассмотрена в срок: {child}, «{program}»",
        f"Договор расторгнут: {child}, «{program}»",
        f"Оплата за ноябрь 2026: {child}",
        "На сертификате осталось 1 250,50 ₽",
        "Сертификат 0123456789 стал сертификатом финансирования",
        "Остаток сертификата 0123456789 сгорел",
        f"Завтра истекает срок рассмотрения заявки: {child}, «{program}»",
        "Срок действия сертификата 0123456789 заканчивается 31 декабря 2026",
    }
    by_subject = {m["Subject"]: m for m in letters}
    registered = text_of(by_subject[f"Заявка зарегистрирована: {child}, «{program}»"])
    assert "Здравствуйте, Анна Викторовна!" in registered
    assert family["organization"] in registered
    assert "до 8 декабря 2026" in registered and "1 декабря 2026" in registered
    assert "17 100,00 ₽: с сертификата 15 200,00 ₽, доплата 1 900,00 ₽" in registered
    assert f"{PORTAL}/applications?enrollment=" in registered
    debited = text_of(by_subject[f"Оплата за ноябрь 2026: {child}"])
    assert "списано с сертификата 1 520,00 ₽" in debited and "380,00 ₽" in debited
    assert "Доплата за месяц — 1 900,00 ₽" in debited
    waitlisted = html_of(by_subject[f"Заявка в листе ожидания: {child}, «{program}»"])
    assert "номер в очереди — 3" in waitlisted and "<a href=" in waitlisted
    assert "группа набрана для детей 10–12 лет" in text_of(
        by_subject[f"Заявка отклонена: {child}, «{program}»"]
    )
    assert "до 8 декабря 2026" in to_staff["Subject"] and "Пётр И." in text_of(to_staff)
    assert "Иванов" not in text_of(to_staff)  # the provider sees an applicant masked
    expiring_subject = f"Завтра истекает срок рассмотрения заявки: {child}, «{program}»"
    expiring = text_of(by_subject[expiring_subject])
    assert f"{family['organization']} ещё не рассмотрела заявку" in expiring
    assert "до 4 декабря 2026, 14:00" in expiring  # 07:00 UTC, the region's 14:00
    assert f"{PORTAL}/applications?enrollment=" in expiring
    valid = text_of(
        by_subject["Срок действия сертификата 0123456789 заканчивается 31 декабря 2026"]
    )
    assert f"ребёнка {child} действует по 31 декабря 2026 включительно" in valid
    assert f"{PORTAL}/certificates/0123456789" in valid
    assert digest["Subject"] == "Завтра, 4 декабря 2026, истекает срок решения по 1 заявке"
    listed = text_of(digest)
    assert f"1. «{program}», ребёнок Пётр И., решение до 4 декабря 2026, 14:00." in listed
    assert family["organization"] in listed and "Иванов" not in listed
    assert f"{PORTAL}/provider/applications?decide_by=2026-12-04" in listed
    assert "Пётр И.," in html_of(digest)
    assert "121 600,00 ₽" in to_operator["Subject"]
    for message in [*letters, to_staff, digest, to_operator]:
        assert message["From"] == "Навигатор <noreply@navigator.test>"
        assert message["Message-ID"].endswith("@navigator.test>")
        assert message.get_body(preferencelist=("html",)) is not None

    # the confirmation link carries the token whose hash accounts keeps
    confirmation = text_of(by_subject["Подтвердите адрес электронной почты"])
    token = re.search(rf"{PORTAL}/verify-email\?token=(\S+)", confirmation).group(1)
    assert scalar(
        family["accounts"], "SELECT count(*) FROM mail_tokens WHERE token_hash = :h",
        h=hashlib.sha256(token.encode()).hexdigest(),
    ) == 1  # fmt: skip

    # every event again, as a redelivery: nothing is recorded or mailed twice
    for body in sent:
        producers.publish(body["producer"], body["type"], body["data"], body["event_id"])
    time.sleep(3)
    assert len(mail.messages(parent["email"])) == 15
    assert len(mail.messages(staff["email"])) == 2
    assert len(mail.messages(operator["email"])) == 1
    notifications = engine_of("notifications")
    ids = [uuid.UUID(b["event_id"]) for b in sent]
    assert (
        scalar(
            notifications, "SELECT count(*) FROM notifications WHERE event_id = ANY(:ids)", ids=ids
        )
        == 18
    )
    assert scalar(notifications,
                  "SELECT count(*) FROM deliveries d JOIN notifications n ON n.id ="
                  " d.notification_id WHERE n.event_id = ANY(:ids) AND d.status = 'sent'"
                  " AND d.attempts = 1", ids=ids) == 18  # fmt: skip
    # a letter that carried a token keeps no body once it has left
    assert scalar(notifications,
                  "SELECT count(*) FROM deliveries d JOIN notifications n ON n.id ="
                  " d.notification_id WHERE n.event_id = ANY(:ids) AND d.secret"
                  " AND d.text_body IS NULL AND d.html_body IS NULL", ids=ids) == 2  # fmt: skip


def test_an_outage_of_the_mail_server_delays_letters_and_loses_none(
    running, producers, family, mail, engine_of
):
    outage = 60.0
    mail.stop()
    data = [application(family, status="rejected", reason=f"причина {n}") for n in range(5)]
    for item in data:
        producers.publish("enrollment", "enrollment_rejected", item)
    notifications = engine_of("notifications")
    started = time.monotonic()
    time.sleep(outage)
    parent = family["parent"]["email"]
    waiting = "SELECT count(*) FROM deliveries WHERE to_address = :a AND status = 'pending'"
    assert scalar(notifications, waiting, a=parent) == 5
    retried = "SELECT min(attempts) FROM deliveries WHERE to_address = :a"
    assert scalar(notifications, retried, a=parent) >= 3  # retried with backoff meanwhile
    assert scalar(
        notifications, "SELECT count(*) FROM deliveries WHERE to_address = :a AND"
        " last_error ILIKE '%refused%'", a=parent,
    ) == 5  # fmt: skip

    mail.start()
    letters = mail.wait_for(5, to=parent, timeout=15)
    delay = time.monotonic() - started
    time.sleep(2)
    assert len(mail.messages(parent)) == 5  # none twice
    reasons = sorted(re.search(r"причина \d", text_of(m)).group(0) for m in letters)
    assert reasons == [f"причина {n}" for n in range(5)]
    assert scalar(
        notifications, "SELECT count(*) FROM deliveries WHERE to_address = :a AND status ="
        " 'sent'", a=parent,
    ) == 5  # fmt: skip
    print(f"5 letters delivered {delay:.1f} s after the outage began ({outage:.0f} s outage)")


def test_a_crash_between_sending_and_recording_is_recognised_after_the_restart(
    databases, vhost, settings, mail, engine_of, tmp_path
):
    """The service is killed (NAVIGATOR_CRASH_AT) right after the server took the letter and
    before `sent` is recorded; restarted, it finds the attempt's lease over, sends the letter
    again with the same Message-ID (marked resent) and counts the interrupted attempt."""
    notifications = engine_of("notifications")
    to = f"crash-{uuid.uuid4().hex[:8]}@example.ru"
    message_id = f"<{uuid.uuid4().hex}@navigator.test>"
    now = datetime.now(UTC)
    with notifications.begin() as conn:
        notification_id = conn.execute(
            sa.text(
                "INSERT INTO notifications (user_id, kind, event_id, subject, text, in_app,"
                " created_at) VALUES (1, 'application_rejected', :e, 'Заявка отклонена',"
                " 'текст', true, :now) RETURNING id"
            ),
            {"e": uuid.uuid4(), "now": now},
        ).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (notification_id, message_id, to_address, subject,"
                " text_body, secret, status, attempts, interrupted, next_attempt_at)"
                " VALUES (:n, :m, :to, 'Заявка отклонена', 'текст', false, 'pending', 0, 0,"
                " :now)"
            ),
            {"n": notification_id, "m": message_id, "to": to, "now": now},
        )
    env = base_env(vhost, {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mail.port), "NOTIFICATIONS_POLL_SECONDS": "0.3",
        "SMTP_SENDING_LEASE_SECONDS": "2", "MAIL_FROM": "Навигатор <noreply@navigator.test>",
    })  # fmt: skip
    target = "services.notifications.service:NotificationsService"
    process = ServiceProcess("notifications", target, env, tmp_path)
    process.start({"NAVIGATOR_CRASH_AT": "notification_sent_before_recorded"})
    assert process.wait_exit(60) == 137, process.log()[-3000:]
    (first,) = mail.wait_for(1, to=to)
    state = "SELECT status, attempts, interrupted FROM deliveries WHERE message_id = :m"
    with notifications.connect() as conn:
        assert tuple(conn.execute(sa.text(state), {"m": message_id}).one()) == ("sending", 1, 0)

    process.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with notifications.connect() as conn:
                row = tuple(conn.execute(sa.text(state), {"m": message_id}).one())
            if row[0] == "sent":
                break
            time.sleep(0.2)
    finally:
        process.stop()
    assert row == ("sent", 2, 1), process.log()[-3000:]
    first, second = mail.wait_for(2, to=to)
    assert first["Message-ID"] == second["Message-ID"] == message_id
    assert {first["X-Navigator-Resent"], second["X-Navigator-Resent"]} == {None, "yes"}


def test_switched_off_letters_stay_in_the_cabinet_list_and_are_read_one_by_one(
    running, producers, family, mail
):
    principal = {"user_id": family["parent"]["id"], "role": "parent"}
    answer = running.notifications.set_preferences(principal, {"month_debited": False})
    assert answer["email"]["month_debited"] is False
    with pytest.raises(InvalidInput):
        running.notifications.set_preferences(principal, {"password_reset": False})

    debit = every_kind_of_event(family)[9]
    assert debit[1] == "charge_posted"
    producers.publish(*debit)
    producers.publish("enrollment", "enrollment_expired", application(family, status="expired"))
    (letter,) = mail.wait_for(1, to=family["parent"]["email"])
    assert letter["Subject"].startswith("Заявка не рассмотрена в срок")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = running.notifications.list_notifications(principal, 20, 0)
        if page["total"] == 2:
            break
        time.sleep(0.2)
    assert page["total"] == 2 and page["unread"] == 2
    newest, older = page["items"]
    assert newest["id"] > older["id"]
    assert {newest["kind"], older["kind"]} == {"month_debited", "application_expired"}
    assert running.notifications.mark_read(principal, older["id"])["read"] is True
    assert running.notifications.list_notifications(principal, 20, 0)["unread"] == 1
    stranger = {"user_id": family["staff"]["id"], "role": "provider"}
    with pytest.raises(NotFound):
        running.notifications.mark_read(stranger, newest["id"])


# the names every letter of an application asks: per person, and the same for every applicant
PER_PERSON = {("accounts", "contact"), ("accounts", "child_contact")}
SHARED_NAMES = {(AccountsService, "organization_staff"), (CatalogService, "get_program"),
                (CatalogService, "get_organization")}  # fmt: skip


@pytest.fixture
def asked(monkeypatch):
    """How many times accounts and the catalog were asked each name (counted where they
    answer, before their containers start)."""
    counts: dict[tuple, int] = {}
    for cls, method in SHARED_NAMES | {(AccountsService, m) for _, m in PER_PERSON}:
        answer = getattr(cls, method)

        @functools.wraps(answer)  # keeps nameko's entrypoint on it
        def counted(self, *args, _answer=answer, _key=(cls.name, method), **kwargs):
            counts[_key] = counts.get(_key, 0) + 1
            return _answer(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, counted)
    return counts


@pytest.fixture(params=["0", "60"])
def kept_for(request, monkeypatch, asked):
    """The services running with the names kept this many seconds (read at the container's
    start), their questions counted."""
    monkeypatch.setenv("NOTIFICATIONS_LOOKUP_CACHE_SECONDS", request.param)
    request.getfixturevalue("running")
    return float(request.param)


def test_opening_day_letters_ask_the_shared_names_once_per_process(
    kept_for, asked, producers, family, mail
):
    """Issue 20: N applications to one group asked the organization's staff, the program and
    the organization N times each; kept by the process they are asked once (off at 0). The
    parent and each child are asked for every application."""
    n = 20
    children = world.children(family["accounts"], family["parent"]["id"], n)
    events = [application(family, child_id=c, status="awaiting_provider", decide_by="2026-12-08",
                          start_date="2026-12-01", total="0", certificate_share="0", copay="0")
              for c in children]  # fmt: skip
    producers.publish("enrollment", "enrollment_requested", events[0])
    # the first one fills the memory (handlers missing at the same moment would each ask)
    mail.wait_for(1, to=family["staff"]["email"])
    for data in events[1:]:
        producers.publish("enrollment", "enrollment_requested", data)
    assert len(mail.wait_for(n, to=family["staff"]["email"])) == n

    shared = n if kept_for == 0 else 1
    assert asked == {
        ("accounts", "child_contact"): n,  # the parent's contact comes with it
        **{(cls.name, method): shared for cls, method in SHARED_NAMES},
    }  # fmt: skip
