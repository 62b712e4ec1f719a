"""Invoices per provider x municipality x month, on a SQLAlchemy session.

An advance (80 % of the month's planned certificate money) when the month starts; after its
billing, the final invoice for the actual certificate money minus the advance; then, whenever
a later run of the month posts a charge (a late contract, a retried refusal), a correction
invoice for the difference, so that advance + final + corrections = the certificate money
debited, for every provider x municipality x month, at every commit after the month's first
run completed (`reconcile`, under an advisory lock of the month). An advance is never issued
for a key that already has its final invoice (the final asks for the whole month already).
A municipal operator of the paying municipality marks an invoice paid. Each invoice lists
its contracts (`register`), the list a municipality checks before paying.

Issued at most once per key (UNIQUE organization, municipality, month, kind, number)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER, REGIONAL_OPERATOR
from servicekit import clock
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.money import format_kopecks
from servicekit.outbox import emit, emit_many
from servicekit.views import attributes
from services.payments import domain
from services.payments.models import BillingRun, Charge, Contract, ContractMonth, Invoice

INVOICE_LOCK = 7711  # advisory lock namespace: (INVOICE_LOCK, yyyymm)

Key = tuple[int, str]  # (organization_id, municipality_code)


def invoice_event(invoice: dict) -> dict:
    return {
        "invoice_id": invoice["id"],
        "organization_id": invoice["organization_id"],
        "municipality_code": invoice["municipality_code"],
        "month": invoice["month"],
        "kind": invoice["kind"],
        "amount": format_kopecks(invoice["amount"]),
    }


def _issue(session: Session, month: str, kind: str, amounts: dict[Key, int],
           numbers: dict[Key, int] | None = None) -> list:  # fmt: skip
    if not amounts:
        return []
    numbers = numbers or {}
    issued = (
        session.execute(
            insert(Invoice)
            .values(
                [
                    {
                        "organization_id": org,
                        "municipality_code": mun,
                        "month": month,
                        "kind": kind,
                        "number": numbers.get((org, mun), 0),
                        "amount": amount,
                        "status": "issued",
                    }
                    for (org, mun), amount in sorted(amounts.items())
                ]
            )  # fmt: skip
            .on_conflict_do_nothing(constraint="uq_invoices_key")
            .returning(
                Invoice.id,
                Invoice.organization_id,
                Invoice.municipality_code,
                Invoice.month,
                Invoice.kind,
                Invoice.amount,
            )  # fmt: skip
        )
        .mappings()
        .all()
    )
    emit_many(session, "invoice_issued", [invoice_event(dict(row)) for row in issued])
    return [dict(row) for row in issued]


def lock_invoices(session: Session, month: str) -> None:
    """One invoicing of a month at a time (until the caller's transaction ends)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"),
        {"ns": INVOICE_LOCK, "key": int(month.replace("-", ""))},
    )


def month_billed(session: Session, month: str) -> bool:
    """A run of the month has completed: its final invoices are (being) issued."""
    return session.execute(
        select(exists().where(BillingRun.month == month, BillingRun.status == "completed"))
    ).scalar()


def issue_advances(session: Session, month: str) -> list[dict]:
    """80 % of each provider x payer's planned certificate money of the month, except for
    the keys that already have the month's final invoice."""
    domain.parse_month(month)
    lock_invoices(session, month)
    finalized = exists().where(
        Invoice.month == month,
        Invoice.kind == "final",
        Invoice.organization_id == Contract.organization_id,
        Invoice.municipality_code == Contract.payer_municipality_code,
    )
    planned = session.execute(
        select(
            Contract.organization_id,
            Contract.payer_municipality_code,
            func.sum(ContractMonth.certificate),
        )
        .join(ContractMonth, ContractMonth.contract_id == Contract.id)
        .where(ContractMonth.month == month, ContractMonth.released.is_(False), ~finalized)
        .group_by(Contract.organization_id, Contract.payer_municipality_code)
    ).all()
    amounts = {
        (org, mun): domain.advance_amount(int(total)) for org, mun, total in planned if total
    }
    return _issue(session, month, "advance", amounts)


def debited_by_key(session: Session, month: str, organizations=None) -> dict[Key, int]:
    """The certificate money posted charges of the month debited, per key."""
    query = (
        select(
            Charge.organization_id,
            Charge.payer_municipality_code,
            func.sum(func.coalesce(Charge.debited, 0)),
        )
        .where(Charge.month == month, Charge.status == "posted")
        .group_by(Charge.organization_id, Charge.payer_municipality_code)
    )
    if organizations is not None:
        query = query.where(Charge.organization_id.in_(organizations))
    return {(org, mun): int(total) for org, mun, total in session.execute(query)}


def invoiced_by_key(session: Session, month: str, organizations=None) -> dict[Key, dict]:
    """Per key: the sum of every invoice of the month, whether a final one exists, and the
    last correction's number."""
    query = (
        select(
            Invoice.organization_id,
            Invoice.municipality_code,
            func.sum(Invoice.amount),
            func.bool_or(Invoice.kind == "final"),
            func.max(Invoice.number),
        )
        .where(Invoice.month == month)
        .group_by(Invoice.organization_id, Invoice.municipality_code)
    )
    if organizations is not None:
        query = query.where(Invoice.organization_id.in_(organizations))
    return {
        (org, mun): {"amount": int(total), "final": bool(final), "number": int(number)}
        for org, mun, total, final, number in session.execute(query)
    }


def reconcile(session: Session, month: str, organizations=None) -> list[dict]:
    """Bring the month's invoices to the money debited: a key without its final invoice
    gets it (debited - invoiced so far, the advance), a key whose invoices no longer add up
    to what was debited gets a correction for the difference. `organizations` limits it to
    the keys of those providers (a batch's)."""
    lock_invoices(session, month)
    actual = debited_by_key(session, month, organizations)
    invoiced = invoiced_by_key(session, month, organizations)
    finals: dict[Key, int] = {}
    corrections: dict[Key, int] = {}
    numbers: dict[Key, int] = {}
    for key in set(actual) | set(invoiced):
        so_far = invoiced.get(key, {"amount": 0, "final": False, "number": 0})
        difference = actual.get(key, 0) - so_far["amount"]
        if not so_far["final"]:
            finals[key] = domain.final_amount(actual.get(key, 0), so_far["amount"])
        elif difference:
            corrections[key] = difference
            numbers[key] = so_far["number"] + 1
    return _issue(session, month, "final", finals) + _issue(
        session, month, "correction", corrections, numbers
    )


def issue_finals(session: Session, month: str) -> list[dict]:
    """Actual certificate money of the billed month minus its advance (and a correction
    wherever a final invoice no longer matches the debits)."""
    return reconcile(session, month)


def billed_months(session: Session) -> list[str]:
    return list(
        session.execute(
            select(BillingRun.month)
            .where(BillingRun.status == "completed")
            .distinct()
            .order_by(BillingRun.month)
        ).scalars()
    )


def differences(session: Session, months: list[str] | None = None) -> list[dict]:
    """Every provider x municipality x month of a billed month whose invoices do not add up
    to the certificate money its posted charges debited (the payments audit)."""
    if months is None:
        months = billed_months(session)
    found = []
    for month in months:
        actual = debited_by_key(session, month)
        invoiced = invoiced_by_key(session, month)
        for key in sorted(set(actual) | set(invoiced)):
            debited = actual.get(key, 0)
            billed = invoiced.get(key, {"amount": 0})["amount"]
            if debited != billed:
                found.append({"organization_id": key[0], "municipality_code": key[1],
                              "month": month, "invoiced": billed, "debited": debited})  # fmt: skip
    return found


def visible(principal: Principal):
    """Which invoices a caller sees: a provider its own, an operator its municipality's."""
    role = principal.role
    query = select(Invoice)
    if role == PROVIDER:
        return query.where(Invoice.organization_id == principal.organization_id)
    if role == MUNICIPAL_OPERATOR:
        return query.where(Invoice.municipality_code == principal.municipality_code)
    if role == REGIONAL_OPERATOR:
        return query
    raise Forbidden("Счета видят поставщики и операторы", code="role_forbidden")


def list_invoices(
    session: Session, principal: Principal, filters: dict, limit: int, offset: int
) -> dict:
    query = visible(principal)
    for name in ("month", "kind", "status", "organization_id", "municipality_code"):
        if filters.get(name) is not None:
            query = query.where(getattr(Invoice, name) == filters[name])
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar()
    items = (
        session.execute(
            query.order_by(Invoice.month.desc(), Invoice.id).limit(limit).offset(offset)
        )
        .scalars()
        .all()
    )
    return {"items": [as_dict(i) for i in items], "total": total, "limit": limit,
            "offset": offset}  # fmt: skip


def as_dict(invoice: Invoice) -> dict:
    return attributes(
        invoice, "id", "organization_id", "municipality_code", "month", "kind", "number",
        "amount", "status", "issued_at", "paid_at",
    )  # fmt: skip


def visible_invoice(
    session: Session, principal: Principal, invoice_id: int, for_update: bool = False
) -> Invoice:
    """The invoice if the caller may know of it (404 otherwise; 403 for other roles)."""
    query = select(Invoice).where(Invoice.id == invoice_id)
    invoice = session.execute(query.with_for_update() if for_update else query).scalar_one_or_none()
    if invoice is None:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    role = principal.role
    if role == PROVIDER and principal.organization_id != invoice.organization_id:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    if role == MUNICIPAL_OPERATOR and principal.municipality_code != invoice.municipality_code:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    if role not in (PROVIDER, MUNICIPAL_OPERATOR, REGIONAL_OPERATOR):
        raise Forbidden("Счета видят поставщики и операторы", code="role_forbidden")
    return invoice


def register(session: Session, principal: Principal, invoice_id: int) -> dict:
    """The contracts an invoice is for: every contract of its provider x municipality with
    the month in its schedule, what was planned and what its charge debited."""
    invoice = visible_invoice(session, principal, invoice_id)
    rows = session.execute(
        select(Contract, ContractMonth, Charge)
        .join(ContractMonth, ContractMonth.contract_id == Contract.id)
        .outerjoin(
            Charge, and_(Charge.contract_id == Contract.id, Charge.month == ContractMonth.month)
        )
        .where(
            Contract.organization_id == invoice.organization_id,
            Contract.payer_municipality_code == invoice.municipality_code,
            ContractMonth.month == invoice.month,
        )
        .order_by(Contract.id)
    ).all()
    contracts = []
    totals: dict[str, int] = defaultdict(int)
    for contract, month, charge in rows:
        posted = charge is not None and charge.status == "posted"
        line = {
            "contract_id": contract.id,
            "enrollment_id": contract.enrollment_id,
            "child_id": contract.child_id,
            "certificate_number": contract.certificate_number,
            "group_id": contract.group_id,
            "program_id": contract.program_id,
            "start_date": contract.start_date,
            "end_date": contract.end_date,
            "planned": 0 if month.released else month.certificate,
            "released_early": month.released,
            "charge_status": None if charge is None else charge.status,
            "completeness": None if charge is None else f"{charge.completeness:.6f}",
            "debited": int(charge.debited or 0) if posted else 0,
        }
        totals["planned"] += line["planned"]
        totals["debited"] += line["debited"]
        contracts.append(line)
    invoiced = invoiced_by_key(session, invoice.month, [invoice.organization_id]).get(
        (invoice.organization_id, invoice.municipality_code), {"amount": 0}
    )["amount"]
    return {
        "invoice": as_dict(invoice),
        "contracts": contracts,
        "planned": totals["planned"],
        "debited": totals["debited"],
        "invoiced": invoiced,
    }


REGISTER_HEADER = [
    "contract_id", "enrollment_id", "child_id", "certificate_number", "group_id",
    "program_id", "start_date", "end_date", "planned", "released_early", "charge_status",
    "completeness", "debited",
]  # fmt: skip


def register_csv(session: Session, principal: Principal, invoice_id: int) -> bytes:
    """The register for a spreadsheet (UTF-8 with BOM, `;`, decimal comma)."""
    answer = register(session, principal, invoice_id)

    def cell(name, value):
        if value is None:
            return ""
        if name in ("planned", "debited"):
            return format_kopecks(value).replace(".", ",")
        if name == "completeness":
            return value.replace(".", ",")
        if name == "released_early":
            return "да" if value else "нет"
        return value

    rows = [[cell(n, line[n]) for n in REGISTER_HEADER] for line in answer["contracts"]]
    rows.append(["total", "", "", "", "", "", "", "", cell("planned", answer["planned"]), "",
                 "", "", cell("debited", answer["debited"])])  # fmt: skip
    return domain.csv_for_spreadsheet(REGISTER_HEADER, rows)


def mark_paid(session: Session, principal: Principal, invoice_id: int) -> dict:
    invoice = visible_invoice(session, principal, invoice_id, for_update=True)
    if principal.role != MUNICIPAL_OPERATOR:
        raise Forbidden("Оплату отмечает оператор муниципалитета", code="role_forbidden")
    if invoice.status == "paid":
        raise Conflict("Счёт уже оплачен", code="invoice_paid")
    invoice.status, invoice.paid_at = "paid", clock.now()
    invoice.paid_by = principal.user_id
    emit(session, "invoice_paid", {**invoice_event(as_dict(invoice)),
                                   "paid_at": invoice.paid_at.isoformat()})  # fmt: skip
    return as_dict(invoice)
