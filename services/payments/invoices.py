"""Invoices per provider x municipality x month, on a SQLAlchemy session.

An advance (80 % of the month's planned certificate money) when the month starts; after its
billing, the final invoice for the actual certificate money minus the advance. A municipal
operator of the paying municipality marks an invoice paid. Issued at most once per key
(UNIQUE organization, municipality, month, kind)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER, REGIONAL_OPERATOR
from servicekit import clock
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.money import format_kopecks
from servicekit.outbox import emit, emit_many
from services.payments import domain
from services.payments.models import Charge, Contract, ContractMonth, Invoice


def invoice_event(invoice: dict) -> dict:
    return {
        "invoice_id": invoice["id"],
        "organization_id": invoice["organization_id"],
        "municipality_code": invoice["municipality_code"],
        "month": invoice["month"],
        "kind": invoice["kind"],
        "amount": format_kopecks(invoice["amount"]),
    }


def _issue(session: Session, month: str, kind: str, amounts: dict[tuple[int, str], int]) -> list:
    if not amounts:
        return []
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


def issue_advances(session: Session, month: str) -> list[dict]:
    """80 % of each provider x payer's planned certificate money of the month."""
    domain.parse_month(month)
    planned = session.execute(
        select(
            Contract.organization_id,
            Contract.payer_municipality_code,
            func.sum(ContractMonth.certificate),
        )
        .join(ContractMonth, ContractMonth.contract_id == Contract.id)
        .where(ContractMonth.month == month, ContractMonth.released.is_(False))
        .group_by(Contract.organization_id, Contract.payer_municipality_code)
    ).all()
    amounts = {
        (org, mun): domain.advance_amount(int(total)) for org, mun, total in planned if total
    }
    return _issue(session, month, "advance", amounts)


def issue_finals(session: Session, month: str) -> list[dict]:
    """Actual certificate money of the billed month minus its advance."""
    actual = {
        (org, mun): int(total)
        for org, mun, total in session.execute(
            select(
                Charge.organization_id,
                Charge.payer_municipality_code,
                func.sum(func.coalesce(Charge.debited, 0)),
            )
            .where(Charge.month == month, Charge.status == "posted")
            .group_by(Charge.organization_id, Charge.payer_municipality_code)
        )  # fmt: skip
    }
    advances = {
        (org, mun): amount
        for org, mun, amount in session.execute(
            select(Invoice.organization_id, Invoice.municipality_code, Invoice.amount).where(
                Invoice.month == month, Invoice.kind == "advance"
            )
        )
    }
    keys = set(actual) | set(advances)
    amounts = {key: domain.final_amount(actual.get(key, 0), advances.get(key, 0)) for key in keys}
    return _issue(session, month, "final", amounts)


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
    return {
        "id": invoice.id,
        "organization_id": invoice.organization_id,
        "municipality_code": invoice.municipality_code,
        "month": invoice.month,
        "kind": invoice.kind,
        "amount": invoice.amount,
        "status": invoice.status,
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
    }


def mark_paid(session: Session, principal: Principal, invoice_id: int) -> dict:
    invoice = session.execute(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    role = principal.role
    if role == PROVIDER and principal.organization_id != invoice.organization_id:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    if role == MUNICIPAL_OPERATOR and principal.municipality_code != invoice.municipality_code:
        raise NotFound("Нет такого счёта", code="invoice_not_found")
    if role != MUNICIPAL_OPERATOR:
        raise Forbidden("Оплату отмечает оператор муниципалитета", code="role_forbidden")
    if invoice.status == "paid":
        raise Conflict("Счёт уже оплачен", code="invoice_paid")
    invoice.status, invoice.paid_at = "paid", clock.now()
    invoice.paid_by = principal.user_id
    emit(session, "invoice_paid", {**invoice_event(as_dict(invoice)),
                                   "paid_at": invoice.paid_at.isoformat()})  # fmt: skip
    return as_dict(invoice)
