"""Contracts on a SQLAlchemy session: stored from `enrollment_confirmed`, ended early by
`enrollment_terminated`, ended by `enrollment_completed` (the group's end, a child's 18th
birthday, a group shortened), shown to the parent. Nothing here commits (the caller does)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.errors import InvalidInput, NotFound
from servicekit.money import format_kopecks, parse_money
from servicekit.outbox import emit
from services.payments import domain
from services.payments.models import Charge, Contract, ContractMonth


def _money(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else parse_money(value)


def contract_from_event(data: dict) -> tuple[dict, list[dict]]:
    """The contract row and its months from `enrollment_confirmed` data; refuses terms whose
    parts do not add up (a producer bug must not become a bill)."""
    schedule = [
        {
            "month": part["month"],
            "certificate": _money(part["certificate"]),
            "copay": _money(part["copay"]),
        }
        for part in data["schedule"]
    ]
    start, end = date.fromisoformat(data["start_date"]), date.fromisoformat(data["end_date"])
    row = {
        "enrollment_id": str(data["enrollment_id"]),
        "child_id": int(data["child_id"]),
        "parent_id": int(data["parent_id"]),
        "group_id": int(data["group_id"]),
        "program_id": int(data["program_id"]),
        "organization_id": int(data["organization_id"]),
        "organization_municipality_code": data["organization_municipality_code"],
        "payer_municipality_code": data["child_municipality_code"],
        "direction": data["direction"],
        "registry_code": data["registry"],
        "certificate_number": data.get("certificate_number"),
        "start_date": start,
        "end_date": end,
        "planned_end_date": end,
        "total": _money(data["total"]),
        "normative_cost": _money(data["normative_cost"]),
        "certificate_share": _money(data["certificate_share"]),
        "copay": _money(data["copay"]),
        "group_schedule": list(data.get("group_schedule") or []),
        "status": "active",
    }
    problems = []
    if row["certificate_share"] + row["copay"] != row["total"]:
        problems.append("certificate_share + copay != total")
    if sum(p["certificate"] for p in schedule) != row["certificate_share"]:
        problems.append("schedule certificate parts != certificate_share")
    if sum(p["copay"] for p in schedule) != row["copay"]:
        problems.append("schedule co-payments != copay")
    if [p["month"] for p in schedule] != domain.months_of_contract(start, end):
        problems.append("schedule months != the contract's months")
    if problems:
        raise InvalidInput("Contract terms do not add up", code="terms_mismatch",
                           fields={"schedule": problems})  # fmt: skip
    return row, schedule


def activate(session: Session, data: dict) -> Contract | None:
    """Store the contract of a confirmed enrollment (once per enrollment) and announce it."""
    row, schedule = contract_from_event(data)
    contract_id = session.execute(
        insert(Contract)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["enrollment_id"])
        .returning(Contract.id)
    ).scalar()
    if contract_id is None:
        return None  # the same enrollment confirmed twice: one contract
    session.execute(
        insert(ContractMonth),
        [{"contract_id": contract_id, **part} for part in schedule],
    )
    contract = session.get(Contract, contract_id)
    emit(session, "contract_activated", contract_event(contract, schedule))
    return contract


def contract_event(contract: Contract, schedule: list[dict]) -> dict:
    return {
        "contract_id": contract.id,
        "enrollment_id": contract.enrollment_id,
        "child_id": contract.child_id,
        "group_id": contract.group_id,
        "organization_id": contract.organization_id,
        "payer_municipality_code": contract.payer_municipality_code,
        "start_date": contract.start_date.isoformat(),
        "end_date": contract.end_date.isoformat(),
        "total": format_kopecks(contract.total),
        "certificate_share": format_kopecks(contract.certificate_share),
        "copay": format_kopecks(contract.copay),
        "schedule": [
            {
                "month": p["month"],
                "certificate": format_kopecks(p["certificate"]),
                "copay": format_kopecks(p["copay"]),
            }
            for p in schedule
        ],
    }


def _last_day(effective: date, contract: Contract) -> date:
    """The child's last day in the group: the enrollment's own end, within the contract."""
    return max(contract.start_date, min(contract.end_date, effective))


def _open_contract(session: Session, enrollment_id) -> Contract | None:
    """The enrollment's contract, locked; None when it was terminated already (a terminated
    contract is left as it is)."""
    contract = session.execute(
        select(Contract).where(Contract.enrollment_id == str(enrollment_id)).with_for_update()
    ).scalar_one_or_none()
    if contract is None:
        # ended before we stored the contract: retried by the reliable handler
        raise NotFound("No contract for this enrollment yet", code="contract_not_found")
    return None if contract.status == "terminated" else contract


def _release_after(
    session: Session, contract: Contract, new_end: date, release_funds, cause: str
) -> tuple[dict[str, int], int]:
    """Give the certificate parts of the unbilled months after `new_end` back, once (key
    release:<enrollment>:<cause>), and mark them released: (the months released, the sum).
    The month rows are locked first, so a billing batch holding one finishes before and the
    months it charged are not released."""
    months = (
        session.execute(
            select(ContractMonth).where(ContractMonth.contract_id == contract.id).with_for_update()
        )
        .scalars()
        .all()
    )
    billed = {m.month for m in months if m.charged}
    released = domain.months_released_on_termination(
        {m.month: m.certificate for m in months if not m.released}, new_end, billed
    )
    amount = sum(released.values())
    if amount:
        release_funds(contract.enrollment_id, amount, f"release:{contract.enrollment_id}:{cause}")
    for month in months:
        if month.month in released:
            month.released = True
    return released, amount


def _emit_ended(session: Session, contract: Contract, released: dict, amount: int, reason):
    emit(
        session,
        "contract_terminated",
        {
            "contract_id": contract.id,
            "enrollment_id": contract.enrollment_id,
            "child_id": contract.child_id,
            "group_id": contract.group_id,
            "end_date": contract.end_date.isoformat(),
            "released": format_kopecks(amount),
            "released_months": sorted(released),
            "reason": reason,
        },
    )


def _ending(session: Session, data: dict, field: str, release_funds, key: str) -> tuple | None:
    """What ending the event's contract at the end of the month of its date `field` comes to:
    the contract (locked; None when it is terminated already), its new end, the child's last
    day, and the months after it that were not billed, released (idempotent by `key`) with
    their amount. The caller writes the end."""
    contract = _open_contract(session, data["enrollment_id"])
    if contract is None:
        return None
    effective = date.fromisoformat(data[field])
    new_end = domain.termination_end(effective, contract.start_date, contract.end_date)
    released, amount = _release_after(session, contract, new_end, release_funds, key)
    return contract, new_end, _last_day(effective, contract), released, amount


def terminate(session: Session, data: dict, release_funds) -> Contract | None:
    """End a contract at the end of the month of `effective_end_date`; the months after it
    that were not billed go back to the certificate through `release_funds(enrollment_id,
    amount, key)` (idempotent by its key, so a redelivered event releases nothing twice)."""
    ending = _ending(session, data, "effective_end_date", release_funds, "terminated")
    if ending is None:
        return None
    contract, new_end, last_day, released, amount = ending
    contract.attends_until = last_day
    contract.end_date = new_end
    contract.status = "terminated"
    contract.termination_reason = (data.get("reason") or "")[:300] or None
    contract.terminated_at = clock.now()
    _emit_ended(session, contract, released, amount, contract.termination_reason)
    return contract


def complete(session: Session, data: dict, release_funds) -> Contract | None:
    """The enrollment completed at its `end_date`: the contract ends at the end of that
    month (never later than its own end), and the months after it that were not billed go
    back to the certificate, once (key release:<enrollment>:completed). A completion at the
    contract's own end releases nothing and emits nothing (within its last month, it only
    fixes the child's last day). A terminated contract is left as it is."""
    ending = _ending(session, data, "end_date", release_funds, "completed")
    if ending is None:
        return None
    contract, new_end, last_day, released, amount = ending
    if new_end == contract.end_date and not released:
        if last_day < contract.end_date:
            contract.attends_until = last_day  # ends within its last month: lessons stop there
        return None
    contract.end_date = new_end
    contract.attends_until = last_day
    _emit_ended(session, contract, released, amount, "обучение завершено")
    return contract


# --- the parent's view ----------------------------------------------------------------------


def child_payments(session: Session, child_id: int) -> list[dict]:
    """Each contract of the child with its schedule and what was charged each month."""
    contracts = (
        session.execute(
            select(Contract)
            .where(Contract.child_id == child_id)
            .order_by(Contract.start_date, Contract.id)
        )
        .scalars()
        .all()
    )
    if not contracts:
        return []
    ids = [c.id for c in contracts]
    months: dict[int, list[ContractMonth]] = {}
    for month in session.execute(
        select(ContractMonth)
        .where(ContractMonth.contract_id.in_(ids))
        .order_by(ContractMonth.month)
    ).scalars():
        months.setdefault(month.contract_id, []).append(month)
    charges = {
        (c.contract_id, c.month): c
        for c in session.execute(select(Charge).where(Charge.contract_id.in_(ids))).scalars()
    }
    answer = []
    for contract in contracts:
        schedule = []
        for month in months.get(contract.id, []):
            charge = charges.get((contract.id, month.month))
            schedule.append(
                {
                    "month": month.month,
                    "certificate": month.certificate,
                    "copay": month.copay,
                    "released": month.released,
                    "charge": None
                    if charge is None
                    else {
                        "status": charge.status,
                        "completeness": str(charge.completeness),
                        "certificate_charged": charge.certificate_charged,
                        "certificate_released": charge.certificate_released,
                        "copay_charged": charge.copay_charged,
                    },
                }
            )
        answer.append(
            {
                "id": contract.id,
                "enrollment_id": contract.enrollment_id,
                "group_id": contract.group_id,
                "program_id": contract.program_id,
                "organization_id": contract.organization_id,
                "status": contract.status,
                "start_date": contract.start_date,
                "end_date": contract.end_date,
                "total": contract.total,
                "certificate_share": contract.certificate_share,
                "copay": contract.copay,
                "months": schedule,
            }
        )
    return answer
