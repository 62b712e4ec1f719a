"""Which event makes which messages, for whom, with what values: one function per event
type, answering the planned messages. Names (child, program, organization) and addresses
are not in the events (no personal data on the broker): they are asked of accounts and the
catalog through `Directory`. A value is formatted for reading here (domain.rubles, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from servicekit import config
from services.notifications import domain
from services.notifications.domain import long_date, month_name, rubles


class Directory(Protocol):
    """People from accounts, programs and organizations from the catalog; None if unknown.
    A person is {user_id, email, full_name, role}."""

    def person(self, user_id: int) -> dict | None: ...

    def child(self, child_id: int) -> dict | None: ...  # {first_name, last_name, parent_id}

    def organization_staff(self, organization_id: int) -> list[dict]: ...

    def municipal_operators(self, municipality_code: str) -> list[dict]: ...

    def program(self, program_id: int) -> dict | None: ...

    def group(self, group_id: int) -> dict | None: ...

    def organization(self, organization_id: int) -> dict | None: ...

    def mail_token(self, request_id: str) -> dict | None: ...


@dataclass(frozen=True)
class Planned:
    kind: str
    recipient: dict
    context: dict
    # into the portal: a page web/src/main.tsx serves (a test reads its routes); the query
    # names the application or invoice for the cabinet's list, the page ignores it
    path: str | None
    secret: bool = False  # the link carries a token: bodies erased once sent
    extra: dict = field(default_factory=dict)


def portal_url() -> str:
    return config.env("PORTAL_URL", "http://127.0.0.1:8000")


def balance_threshold() -> Decimal:
    return Decimal(config.env("BALANCE_LOW_THRESHOLD", "3000.00"))


# --- names ---------------------------------------------------------------------------------


def child_name(child: dict | None, masked: bool = False) -> str:
    if not child:
        return "ребёнка"
    first, last = child.get("first_name") or "", child.get("last_name") or ""
    if masked:  # a provider sees an applicant's name masked, as in its cabinet
        return f"{first} {last[:1]}.".strip()
    return f"{first} {last}".strip()


def _program_title(directory: Directory, program_id: int | None) -> str:
    program = directory.program(program_id) if program_id else None
    return program["title"] if program else f"№ {program_id}"


def _organization_name(directory: Directory, organization_id: int | None) -> str:
    organization = directory.organization(organization_id) if organization_id else None
    return organization["name"] if organization else f"организация № {organization_id}"


def _parent_of(directory: Directory, data: dict) -> tuple[dict | None, dict | None]:
    child = directory.child(data["child_id"])
    parent_id = data.get("parent_id") or (child or {}).get("parent_id")
    return child, directory.person(parent_id) if parent_id else None


def _application(directory: Directory, data: dict) -> tuple[dict | None, dict]:
    child, parent = _parent_of(directory, data)
    return parent, {
        "child": child_name(child),
        "program": _program_title(directory, data.get("program_id")),
        "organization": _organization_name(directory, data.get("organization_id")),
    }


def _money(data: dict, *names: str) -> dict:
    return {name: rubles(data.get(name) or "0") for name in names}


# --- accounts --------------------------------------------------------------------------------


def _account_message(kind: str, path: str) -> Callable[[dict, Directory], list[Planned]]:
    def plan(data: dict, directory: Directory) -> list[Planned]:
        issued = directory.mail_token(data["request_id"])
        if issued is None:  # used or expired before we got to it: nothing to send
            return []
        context = {"expires": _moment(issued["expires_at"])}
        return [Planned(kind, issued["person"], context, f"{path}?token={issued['token']}", True)]

    return plan


def _moment(instant: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(
        ZoneInfo(config.env("REGION_TIMEZONE", "Asia/Krasnoyarsk"))
    )
    return f"{long_date(local.date())}, {local:%H:%M}"


# --- enrollment ------------------------------------------------------------------------------


def _to_parent(kind: str, extra: Callable[[dict], dict] | None = None, path: str | None = None):
    def plan(data: dict, directory: Directory) -> list[Planned]:
        parent, context = _application(directory, data)
        if parent is None:
            return []
        context.update(extra(data) if extra else {})
        where = (path or "/applications?enrollment={enrollment_id}").format(**data)
        return [Planned(kind, parent, context, where)]

    return plan


def _requested(data: dict, directory: Directory) -> list[Planned]:
    planned = _to_parent(
        "application_registered",
        lambda d: {
            "decide_by": long_date(d.get("decide_by")),
            "start_date": long_date(d.get("start_date")),
            **_money(d, "total", "certificate_share", "copay"),
        },
    )(data, directory)
    child = directory.child(data["child_id"])
    context = {
        "child": child_name(child, masked=True),
        "program": _program_title(directory, data.get("program_id")),
        "decide_by": long_date(data.get("decide_by")),
        "start_date": long_date(data.get("start_date")),
    }
    for staff in directory.organization_staff(data["organization_id"]):
        where = f"/provider/applications?enrollment={data['enrollment_id']}"
        planned.append(Planned("new_application", staff, context, where))
    return planned


def _decisions_due(data: dict, directory: Directory) -> list[Planned]:
    """One digest to each of the organization's staff: the applications whose decide-by
    falls tomorrow (`due_on`), the applicants masked, the first DIGEST_LINES listed."""
    applications = data["applications"]
    titles: dict[int, str] = {}
    lines = []
    for item in applications[: domain.DIGEST_LINES]:
        program_id = item.get("program_id")
        if program_id not in titles:
            titles[program_id] = _program_title(directory, program_id)
        lines.append({
            "program": titles[program_id],
            "child": child_name(directory.child(item["child_id"]), masked=True),
            "decide_by": _moment(item["decide_by"]),
        })  # fmt: skip
    count = len(applications)
    context = {
        "organization": _organization_name(directory, data["organization_id"]),
        "due_on": long_date(data["due_on"]),
        "count": count,
        "noun": domain.applications_dative(count),
        "applications": lines,
        "more": max(0, count - domain.DIGEST_LINES),
    }
    where = f"/provider/applications?decide_by={data['due_on']}"
    return [
        Planned("decisions_due_tomorrow", staff, context, where)
        for staff in directory.organization_staff(data["organization_id"])
    ]


def _reason(data: dict) -> dict:
    return {"reason": (data.get("reason") or "не указана").rstrip(".")}


# --- certificates and payments ---------------------------------------------------------------


def _child_message(kind: str, values: Callable[[dict, Directory], dict | None], path: str):
    def plan(data: dict, directory: Directory) -> list[Planned]:
        # the event's own figures first: most say there is nothing to write (a reservation
        # that leaves the balance high), and then nobody is asked for the child and parent
        # (two RPCs to accounts per application on opening day, issue 20)
        context = values(data, directory)
        if context is None:
            return []
        child, parent = _parent_of(directory, data)
        if parent is None:
            return []
        context = {"child": child_name(child), **context}
        return [Planned(kind, parent, context, path.format(**data))]

    return plan


def _balance_low(data: dict, directory: Directory) -> dict | None:
    if Decimal(data["available"]) >= balance_threshold():
        return None
    return {
        "certificate_number": data["certificate_number"],
        "available": rubles(data["available"]),
        "threshold": rubles(balance_threshold()),
    }


def _contract_ended(data: dict, directory: Directory) -> dict:
    group = directory.group(data["group_id"]) or {}
    program = directory.program(group["program_id"]) if group.get("program_id") else None
    return {
        "program": program["title"] if program else f"№ {group.get('program_id')}",
        "organization": _organization_name(directory, (program or {}).get("organization_id")),
        "end_date": long_date(data.get("end_date")),
        "released": rubles(data.get("released") or "0"),
        "reason": (data.get("reason") or "").rstrip("."),
    }


def _invoice(data: dict, directory: Directory) -> list[Planned]:
    context = {
        "kind_name": "Авансовый счёт" if data["kind"] == "advance" else "Окончательный счёт",
        "invoice_id": data["invoice_id"],
        "month": month_name(data["month"]),
        "organization": _organization_name(directory, data["organization_id"]),
        "amount": rubles(data["amount"]),
    }
    where = f"/municipality/invoices?invoice={data['invoice_id']}"
    return [
        Planned("invoice_issued", operator, context, where)
        for operator in directory.municipal_operators(data["municipality_code"])
    ]


# (producer, event type) -> the messages it makes
TRIGGERS: dict[tuple[str, str], Callable[[dict, Directory], list[Planned]]] = {
    ("accounts", "email_verification_requested"): _account_message(
        "email_confirmation", "/verify-email"
    ),
    ("accounts", "password_reset_requested"): _account_message("password_reset", "/password-reset"),
    ("enrollment", "enrollment_requested"): _requested,
    ("enrollment", "enrollment_waitlisted"): _to_parent(
        "application_waitlisted", lambda d: {"position": d.get("position")}
    ),
    ("enrollment", "enrollment_promoted"): _to_parent(
        "application_promoted", lambda d: {"decide_by": long_date(d.get("decide_by"))}
    ),
    ("enrollment", "enrollment_confirmed"): _to_parent(
        "application_confirmed",
        lambda d: {
            "start_date": long_date(d.get("start_date")),
            "end_date": long_date(d.get("end_date")),
            **_money(d, "total", "certificate_share", "copay"),
        },
        path="/contracts?enrollment={enrollment_id}",
    ),
    ("enrollment", "enrollment_rejected"): _to_parent("application_rejected", _reason, path="/"),
    ("enrollment", "enrollment_expired"): _to_parent("application_expired", path="/"),
    ("enrollment", "application_expiring"): _to_parent(
        "application_expiring", lambda d: {"decide_by": _moment(d["decide_by"])}
    ),
    ("enrollment", "decisions_due_tomorrow"): _decisions_due,
    ("payments", "contract_terminated"): _child_message(
        "contract_ended", _contract_ended, "/certificates"
    ),
    ("payments", "charge_posted"): _child_message(
        "month_debited",
        lambda d, directory: {
            "month": month_name(d["month"]),
            "organization": _organization_name(directory, d.get("organization_id")),
            "certificate_charged": rubles(d.get("certificate_charged") or "0"),
            "released": rubles(d.get("certificate_released") or "0"),
            "copay_charged": rubles(d.get("copay_charged") or "0"),
        },
        "/certificates",
    ),
    ("certificates", "funds_reserved"): _child_message(
        "balance_low", _balance_low, "/certificates/{certificate_number}"
    ),
    ("certificates", "certificate_type_changed"): _child_message(
        "certificate_financed",
        lambda d, _: {
            "certificate_number": d["certificate_number"],
            "nominal": rubles(d["nominal"]),
        },
        "/certificates/{certificate_number}",
    ),
    ("certificates", "certificate_expired"): _child_message(
        "certificate_balance_expired",
        lambda d, _: {
            "certificate_number": d["certificate_number"],
            "expired": rubles(d["expired"]),
            "reason": d.get("reason") or "—",
        },
        "/certificates/{certificate_number}",
    ),
    ("certificates", "certificate_expiring"): _child_message(
        "certificate_expiring",
        lambda d, _: {
            "certificate_number": d["certificate_number"],
            "valid_until": long_date(d["valid_until"]),
            "last_day": long_date(domain.day_before(d["valid_until"])),
        },
        "/certificates/{certificate_number}",
    ),
    ("payments", "invoice_issued"): _invoice,
}


def plan(producer: str, event_type: str, data: dict, directory: Directory) -> list[Planned]:
    planned = TRIGGERS[(producer, event_type)](data, directory)
    for item in planned:
        assert item.kind in domain.KINDS, item.kind
    return planned
