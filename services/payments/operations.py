"""What the payments service does, on a SQLAlchemy session, as its entrypoints call it: the
principal arrives as the gateway's dict and leaves here as contracts.principal.Principal;
the work is in the modules named for it (contracts, attendance, billing, invoices, reports).
Nothing here commits: the caller's transaction does (the worker's, or the CLI's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Protocol

from sqlalchemy.orm import Session

from contracts.principal import Principal
from services.payments import attendance, billing, contracts, invoices, reports


def activate_contract(session: Session, data: dict):
    return contracts.activate(session, data)


def terminate_contract(session: Session, data: dict, release_funds):
    return contracts.terminate(session, data, release_funds)


def complete_contract(session: Session, data: dict, release_funds):
    return contracts.complete(session, data, release_funds)


def record_lessons(session: Session, principal: dict, group_id: int, lessons: list[dict]):
    parsed = [{**lesson, "date": date.fromisoformat(lesson["date"])} for lesson in lessons]
    return attendance.record_lessons(session, Principal.from_rpc(principal), group_id, parsed)


def group_month(session: Session, principal: dict, group_id: int, month: str) -> dict:
    return attendance.group_month(session, Principal.from_rpc(principal), group_id, month)


def set_completeness_mode(session: Session, principal: dict, code: str, mode: str) -> dict:
    return attendance.set_completeness_mode(session, Principal.from_rpc(principal), code, mode)


def billing_settings(session: Session, principal: dict, code: str) -> dict:
    who = Principal.from_rpc(principal)
    attendance.check_settings_access(who, code)
    return attendance.billing_settings(session, [code])[code].as_dict(code)


def set_billing_settings(session: Session, principal: dict, code: str, changes: dict) -> dict:
    return attendance.set_billing_settings(session, Principal.from_rpc(principal), code, changes)


def start_billing_run(session: Session, principal: dict, month: str, today: date) -> dict:
    """Start (or find) the month's run and commit it, so the runner's own connection sees it."""
    run = billing.start_run(session, month, Principal.from_rpc(principal).user_id, today)
    session.commit()
    return billing.progress(session, run.id)


def billing_progress(session: Session, run_id: int) -> dict:
    return billing.progress(session, run_id)


def list_invoices(session: Session, principal: dict, filters: dict, limit: int, offset: int):
    return invoices.list_invoices(session, Principal.from_rpc(principal), filters, limit, offset)


def pay_invoice(session: Session, principal: dict, invoice_id: int) -> dict:
    return invoices.mark_paid(session, Principal.from_rpc(principal), invoice_id)


def invoice_register(session: Session, principal: dict, invoice_id: int) -> dict:
    return invoices.register(session, Principal.from_rpc(principal), invoice_id)


def invoice_register_csv(session: Session, principal: dict, invoice_id: int) -> bytes:
    return invoices.register_csv(session, Principal.from_rpc(principal), invoice_id)


def issue_advances(session: Session, month: str) -> list[dict]:
    return invoices.issue_advances(session, month)


class ReportPeers(Protocol):
    """The other services' figures of a report, asked before payments counts its own and
    collected after (`ask(code, month)()`); ServiceUnavailable when one does not answer."""

    def ask(self, municipality_code: str | None, month: str | None) -> Callable[[], dict]: ...


def report(
    session: Session,
    principal: dict,
    municipality_code: str | None,
    month: str | None,
    peers: ReportPeers,
) -> dict:
    reports.check_access(Principal.from_rpc(principal), municipality_code)
    reports.check_month(month)
    answers = peers.ask(municipality_code, month)  # they count while payments does
    own = reports.build(session, municipality_code, month)
    figures = answers()
    names = peers.organization_names(reports.organization_ids(own))
    return reports.complete(own, {**figures, "organization_names": names})


def report_csv(session: Session, principal: dict, municipality_code: str | None, month, peers):
    answer = report(session, principal, municipality_code, month, peers)
    return reports.as_csv(answer).decode()


def report_xlsx(session: Session, principal: dict, municipality_code: str | None, month, peers):
    answer = report(session, principal, municipality_code, month, peers)
    return reports.as_xlsx(answer)


def child_payments(session: Session, child_id: int) -> list[dict]:
    return contracts.child_payments(session, child_id)
