"""The rules of notifying, in plain Python: which kinds of message exist, who gets each, which
the user may switch off, how money and dates read in Russian, and how a delivery moves from
pending to sent (with backoff while the mail server is down, and a lease that recognises an
attempt a crash interrupted). No framework, no session: the unit tests call it directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from contracts.refusals import InvalidFields

PARENT, PROVIDER, MUNICIPAL_OPERATOR = "parent", "provider", "municipal_operator"


@dataclass(frozen=True)
class Kind:
    code: str
    audience: str
    title: str  # what the preferences page calls it
    required: bool = False  # legally required: always sent, not in the preferences
    in_app: bool = True  # kept for the cabinet's list (a message carrying a token is not)


KINDS = {
    kind.code: kind
    for kind in (
        Kind("email_confirmation", PARENT, "Подтверждение адреса", required=True, in_app=False),
        Kind("password_reset", PARENT, "Восстановление пароля", required=True, in_app=False),
        Kind("application_registered", PARENT, "Заявка зарегистрирована"),
        Kind("application_waitlisted", PARENT, "Заявка в листе ожидания"),
        Kind("application_promoted", PARENT, "Место освободилось"),
        Kind("application_confirmed", PARENT, "Ребёнок зачислен"),
        Kind("application_rejected", PARENT, "Заявка отклонена"),
        Kind("application_expiring", PARENT, "Срок рассмотрения заявки истекает завтра"),
        Kind("application_expired", PARENT, "Заявка не рассмотрена в срок"),
        Kind("contract_ended", PARENT, "Договор расторгнут"),
        Kind("month_debited", PARENT, "Оплата за месяц"),
        Kind("balance_low", PARENT, "Остаток сертификата мал"),
        Kind("certificate_financed", PARENT, "Сертификат стал сертификатом финансирования"),
        Kind("certificate_balance_expired", PARENT, "Остаток сертификата сгорел"),
        Kind("certificate_expiring", PARENT, "Срок действия сертификата заканчивается"),
        Kind("new_application", PROVIDER, "Новая заявка"),
        Kind("decisions_due_tomorrow", PROVIDER, "Заявки, по которым решение нужно завтра"),
        Kind("invoice_issued", MUNICIPAL_OPERATOR, "Выставлен счёт"),
    )
}


def optional_kinds(role: str) -> list[Kind]:
    """The kinds a user of this role may switch off (the rest always go)."""
    return [k for k in KINDS.values() if k.audience == role and not k.required]


def preferences_of(role: str, stored: dict[str, bool]) -> dict[str, bool]:
    """Every optional kind of the role with its e-mail switch; on unless the user said no."""
    return {k.code: stored.get(k.code, True) for k in optional_kinds(role)}


def check_preferences(role: str, wanted: dict[str, object]) -> dict[str, bool]:
    """The switches a user may set; unknown or required kinds and non-booleans refused."""
    allowed = {k.code for k in optional_kinds(role)}
    errors = {}
    for code, value in wanted.items():
        if code not in allowed:
            if code in KINDS and KINDS[code].required:
                errors[code] = "это письмо обязательное, его нельзя отключить"
            else:
                errors[code] = "нет такого вида уведомлений для вашей роли"
        elif not isinstance(value, bool):
            errors[code] = "нужно true или false"
    if errors:
        raise InvalidFields({code: [message] for code, message in errors.items()})
    return {code: bool(value) for code, value in wanted.items()}


def sends_email(kind: Kind, stored: dict[str, bool]) -> bool:
    return kind.required or stored.get(kind.code, True)


# --- how figures read in Russian ----------------------------------------------------------

MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
MONTHS_NOMINATIVE = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)


def rubles(amount: str | Decimal | int) -> str:
    """A decimal amount as a Russian reads it: "1900.00" -> "1 900,00 ₽" (kopecks kept)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "−" if value < 0 else ""
    whole, _, fraction = f"{abs(value):.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{' '.join(groups)},{fraction} ₽"


def long_date(value: str | date | None) -> str:
    """ "2026-12-01" -> "1 декабря 2026"."""
    if value is None or value == "":
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{day.day} {MONTHS_GENITIVE[day.month - 1]} {day.year}"


def day_before(value: str | date) -> date:
    """The last day of something valid *before* `value` (a certificate's `valid_until`)."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return day - timedelta(days=1)


def applications_dative(count: int) -> str:
    """ "по 1 заявке", "по 2 заявкам", "по 21 заявке", "по 11 заявкам"."""
    return "заявке" if count % 10 == 1 and count % 100 != 11 else "заявкам"


# a digest lists this many applications, then says how many more are in the cabinet
DIGEST_LINES = 30


def month_name(month: str) -> str:
    """ "2026-11" -> "ноябрь 2026"."""
    year, number = month.split("-")[:2]
    return f"{MONTHS_NOMINATIVE[int(number) - 1]} {year}"


def person_name(full_name: str | None) -> str:
    """How a letter addresses someone: "Иванова Анна Викторовна" -> "Анна Викторовна"."""
    parts = (full_name or "").split()
    return " ".join(parts[1:3]) if len(parts) >= 2 else (full_name or "")


def portal_link(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def message_id(domain: str) -> str:
    """A Message-ID for one notification, fixed when the notification is recorded, so that
    every attempt to send it (after an outage, after a crash) carries the same one."""
    return f"<{uuid.uuid4().hex}@{domain}>"


# --- delivery -----------------------------------------------------------------------------

PENDING, SENDING, SENT = "pending", "sending", "sent"


@dataclass(frozen=True)
class Backoff:
    first: float = 2.0
    most: float = 300.0

    def after(self, attempts: int) -> timedelta:
        """Wait before the next attempt after `attempts` failed ones: doubling, capped."""
        return timedelta(seconds=min(self.most, self.first * 2 ** max(attempts - 1, 0)))


@dataclass(frozen=True)
class Attempt:
    """What taking a delivery for sending means: the attempt number and whether an earlier
    attempt may have reached the server (a crash between sending and recording)."""

    number: int
    interrupted: bool


def take(
    status: str, attempts: int, sending_since: datetime | None, now: datetime, lease: timedelta
) -> Attempt | None:
    """Whether a delivery is taken now. A pending one is; one left `sending` longer than the
    lease was interrupted (its process died after or while talking to the server): it is
    sent again with the same Message-ID and recorded as interrupted, so a duplicate is
    recognisable by the recipient's mail system and by us. A fresh `sending` is someone
    else's attempt in progress, and a sent one is done."""
    if status == PENDING:
        return Attempt(attempts + 1, False)
    if status == SENDING and sending_since is not None and now - sending_since >= lease:
        return Attempt(attempts + 1, True)
    return None
