"""What the certificates service does, on a SQLAlchemy session: issue certificates, open and
close periods, set nominals and limits, freeze, and the money operations the other services
call (reserve, release, debit), with the checks around them.

The rules come from domain.py, the money arithmetic from ledger.py, financing and the queue
from funding.py. Nothing here commits: the worker's (or the CLI's) transaction does.
Refusals are domain exceptions, turned into RPC errors by servicekit.errors.rpc_error (the
service's `refusals_as_rpc_errors`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.roles import PARENT
from servicekit.errors import Forbidden, InvalidInput, NotFound
from servicekit.outbox import emit
from servicekit.visibility import where_visible
from services.certificates import domain, funding, ledger
from services.certificates.domain import AgeBand, Refused
from services.certificates.models import (
    Balance,
    Certificate,
    LedgerEntry,
    Period,
    QueueEntry,
    Reservation,
)

log = logging.getLogger(__name__)

NUMBER_ATTEMPTS = 5


class Children(Protocol):
    """Accounts' `get_child` facts: {id, parent_id, birth_date, municipality_code, ...}."""

    def child(self, child_id: int) -> dict: ...


class Directory(Protocol):
    """The catalog's municipalities: None when unknown."""

    def municipality(self, code: str) -> dict | None: ...


def not_found() -> NotFound:
    return NotFound("Сертификат не найден", code="certificate_not_found")


# --- periods ------------------------------------------------------------------------------


def period_view(period: Period) -> dict:
    return {
        "id": period.id,
        "name": period.name,
        "start_date": period.start_date.isoformat(),
        "end_date": period.end_date.isoformat(),
        "status": period.status,
    }


def list_periods(session: Session) -> list[dict]:
    return [period_view(p) for p in session.scalars(select(Period).order_by(Period.start_date))]


def get_period(session: Session, period_id: int) -> Period:
    period = session.get(Period, period_id) if isinstance(period_id, int) else None
    if period is None:
        message = "такого периода нет"
        raise NotFound(message, code="period_not_found", fields={"period_id": [message]})
    return period


def current_period(session: Session, today: date) -> Period | None:
    return session.scalar(
        select(Period)
        .where(Period.start_date <= today, Period.end_date >= today)
        .order_by(Period.start_date)
        .limit(1)
    )


def open_period(session: Session, name: str, start: date, end: date) -> dict:
    domain.check_period(name, start, end)
    overlapping = session.scalar(
        select(Period.id).where(Period.start_date <= end, Period.end_date >= start).limit(1)
    )
    if overlapping is not None:
        raise Refused("period_overlaps", "Период пересекается с уже открытым")
    period = Period(name=name.strip(), start_date=start, end_date=end, status="open")
    session.add(period)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # opened concurrently
        raise Refused("period_overlaps", "Период пересекается с уже открытым") from exc
    return period_view(period)


# --- municipal funding -------------------------------------------------------------------


def _check_municipality(viewer: Principal, code: str, directory: Directory) -> None:
    if not domain.can_manage_municipality(viewer, code):
        raise Forbidden(
            "Муниципальный оператор управляет только своим муниципалитетом",
            code="foreign_municipality",
        )
    if directory.municipality(code) is None:
        message = "такого муниципалитета нет"
        raise NotFound(message, code="unknown_municipality", fields={"code": [message]})


def get_funding(
    session: Session, viewer: Principal, code: str, period_id: int, directory: Directory
) -> dict:
    _check_municipality(viewer, code, directory)
    get_period(session, period_id)
    return funding.fund_view(session, code, period_id)


def set_nominals(
    session: Session,
    viewer: Principal,
    code: str,
    period_id: int,
    body: dict,
    directory: Directory,
) -> dict:
    """The municipality's bands for the period from `effective_from` (today by default),
    recorded with the reason and the operator."""
    _check_municipality(viewer, code, directory)
    get_period(session, period_id)
    bands = [AgeBand(**band) for band in body["bands"]]
    funding.set_bands(session, code, period_id, bands, body.get("effective_from"),
                      body.get("reason"), viewer.key)  # fmt: skip
    return funding.fund_view(session, code, period_id)


def get_settings(session: Session, viewer: Principal, code: str, directory: Directory) -> dict:
    _check_municipality(viewer, code, directory)
    return funding.settings_of(session, code)


def set_settings(
    session: Session, viewer: Principal, code: str, changes: dict, directory: Directory
) -> dict:
    """Nominal mode (`full` / `prorated`) and free-place allowance of a municipality: they
    apply to what is financed or applied for from now on."""
    _check_municipality(viewer, code, directory)
    return funding.set_settings(session, code, changes, viewer.key)


def set_limit(
    session: Session, viewer: Principal, code: str, period_id: int, limit: int, directory: Directory
) -> dict:
    _check_municipality(viewer, code, directory)
    get_period(session, period_id)
    funding.set_limit(session, code, period_id, limit)
    return funding.fund_view(session, code, period_id)


def queue(
    session: Session,
    viewer: Principal,
    code: str,
    period_id: int,
    limit: int,
    offset: int,
    directory: Directory,
) -> dict:
    _check_municipality(viewer, code, directory)
    get_period(session, period_id)
    where = (
        QueueEntry.municipality_code == code,
        QueueEntry.period_id == period_id,
        QueueEntry.status == "waiting",
    )
    total = session.scalar(select(func.count()).select_from(QueueEntry).where(*where))
    rows = session.execute(
        select(QueueEntry, Certificate)
        .join(Certificate, Certificate.id == QueueEntry.certificate_id)
        .where(*where)
        .order_by(QueueEntry.id)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        {
            "position": offset + i + 1,
            "certificate_number": cert.number,
            "child_id": cert.child_id,
            "queued_at": entry.queued_at.isoformat(),
        }
        for i, (entry, cert) in enumerate(rows)
    ]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


# --- certificates ---------------------------------------------------------------------------


def _facts(child: dict) -> dict:
    try:
        birth = child["birth_date"]
        return {
            "child_id": int(child["id"]),
            "parent_id": int(child["parent_id"]),
            "municipality_code": str(child["municipality_code"]),
            "birth_date": birth if isinstance(birth, date) else date.fromisoformat(birth),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("Неполные сведения о ребёнке", code="invalid_child") from exc


def ensure_certificate(session: Session, child: dict) -> Certificate:
    """The child's certificate, issued (accounting, active) the first time. Idempotent:
    one per child, whoever asks and however often."""
    facts = _facts(child)
    existing = session.scalar(select(Certificate).where(Certificate.child_id == facts["child_id"]))
    if existing is not None:
        if existing.parent_id != facts["parent_id"]:  # accounts is the truth about parents
            existing.parent_id = facts["parent_id"]
        return existing
    for _attempt in range(NUMBER_ATTEMPTS):
        number = domain.new_certificate_number()
        certificate = session.scalars(
            insert(Certificate)
            .values(
                number=number,
                type=domain.ACCOUNTING,
                status=domain.ACTIVE,
                valid_until=domain.valid_until(facts["birth_date"]),
                **facts,
            )
            .on_conflict_do_nothing()
            .returning(Certificate)
        ).first()
        if certificate is not None:
            certificate.issued_now = True  # not mapped: what funding may skip (funding.finance)
            emit(
                session,
                "certificate_issued",
                {
                    "certificate_number": certificate.number,
                    "child_id": certificate.child_id,
                    "parent_id": certificate.parent_id,
                    "municipality_code": certificate.municipality_code,
                    "type": certificate.type,
                    "valid_until": certificate.valid_until.isoformat(),
                },
            )
            return certificate
        # the child got one concurrently, or (one in 10^10 per certificate) the number is taken
        existing = session.scalar(
            select(Certificate).where(Certificate.child_id == facts["child_id"])
        )
        if existing is not None:
            return existing
    raise RuntimeError("no free certificate number after several attempts")


def certificate_by_number(session: Session, number: str, lock: bool = False) -> Certificate:
    if not (isinstance(number, str) and len(number) == domain.NUMBER_DIGITS and number.isdigit()):
        raise not_found()
    query = select(Certificate).where(Certificate.number == number)
    certificate = session.scalar(query.with_for_update() if lock else query)
    if certificate is None:
        raise not_found()
    return certificate


def visible_certificate(
    session: Session, viewer: Principal, number: str, lock=False
) -> Certificate:
    """The certificate if the viewer may see it; 404 otherwise (its existence stays hidden)."""
    certificate = certificate_by_number(session, number, lock)
    if not domain.can_see(viewer, certificate.parent_id, certificate.municipality_code):
        raise not_found()
    return certificate


_NOT_GIVEN = object()


def certificate_view(
    session: Session, certificate: Certificate, today: date, period=_NOT_GIVEN
) -> dict:
    """The certificate with its balance in the current period (`period` when the caller
    already knows it, e.g. for a page of certificates)."""
    if period is _NOT_GIVEN:
        period = current_period(session, today)
    balance = ledger.balance_of(session, certificate.id, period.id) if period else None
    return {
        "number": certificate.number,
        "child_id": certificate.child_id,
        "type": certificate.type,
        "status": certificate.status,
        "municipality_code": certificate.municipality_code,
        "valid_until": certificate.valid_until.isoformat(),
        "valid": domain.is_valid_on(certificate.valid_until, certificate.status, today),
        "issued_at": certificate.issued_at.isoformat(),
        "period": period_view(period) if period else None,
        "balance": {k: int(v) for k, v in balance.items()} if balance else None,
        "queue_position": (
            funding.queue_position(session, certificate.id, period.id) if period else None
        ),
    }


def show_certificate(session: Session, viewer: Principal, number: str, today: date) -> dict:
    return certificate_view(session, visible_certificate(session, viewer, number), today)


def list_certificates(
    session: Session, viewer: Principal, filters: dict, limit: int, offset: int, today: date
) -> dict:
    query = select(Certificate).where(
        where_visible(
            domain.certificate_scope(viewer),
            parent_id=Certificate.parent_id,
            municipality_code=Certificate.municipality_code,
        )
    )
    period = current_period(session, today)
    if filters.get("municipality_code"):
        query = query.where(Certificate.municipality_code == filters["municipality_code"])
    if filters.get("type"):
        query = query.where(Certificate.type == filters["type"])
    if filters.get("status"):
        query = query.where(Certificate.status == filters["status"])
    if filters.get("queued") is not None:
        waiting = select(QueueEntry.certificate_id).where(QueueEntry.status == "waiting")
        if period is not None:
            waiting = waiting.where(QueueEntry.period_id == period.id)
        membership = Certificate.id.in_(waiting)
        query = query.where(membership if filters["queued"] else ~membership)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Certificate.id).limit(limit).offset(offset)).all()
    return {
        "items": [certificate_view(session, c, today, period) for c in rows],
        "total": int(total),
        "limit": limit,
        "offset": offset,
    }


def transactions(session: Session, viewer: Principal, number: str, limit: int, offset: int) -> dict:
    certificate = visible_certificate(session, viewer, number)
    where = LedgerEntry.certificate_id == certificate.id
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(where))
    rows = session.scalars(
        select(LedgerEntry).where(where).order_by(LedgerEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    items = [
        {
            "id": row.id,
            "kind": row.kind,
            "amount": int(row.amount),
            "period_id": row.period_id,
            "enrollment_id": row.enrollment_id,
            "month": row.month,
            "reason": row.reason,
            "actor": row.actor,
            "actor_name": row.actor_name,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


def request_certificate(
    session: Session, viewer: Principal, child_id: int, children: Children, today: date
) -> dict:
    """A parent asks for their child's certificate: the same one every time."""
    if viewer.role != PARENT:
        raise Forbidden("Сертификат запрашивает родитель", code="role_forbidden")
    try:
        child = children.child(child_id)
    except NotFound:
        child = None
    if child is None or int(child["parent_id"]) != viewer.user_id:
        raise NotFound("Ребёнок не найден", code="child_not_found")
    return certificate_view(session, ensure_certificate(session, child), today)


def set_status(session: Session, viewer: Principal, number: str, frozen: bool, today: date) -> dict:
    certificate = visible_certificate(session, viewer, number, lock=True)
    if not domain.can_manage_municipality(viewer, certificate.municipality_code):
        raise Forbidden("Замораживает муниципальный оператор", code="role_forbidden")
    if frozen:
        reserved = session.scalar(
            select(func.coalesce(func.sum(Reservation.reserved), 0)).where(
                Reservation.certificate_id == certificate.id
            )
        )
        domain.check_can_freeze(certificate.status, int(reserved))
        certificate.status = domain.FROZEN
    elif certificate.status == domain.FROZEN:
        certificate.status = domain.ACTIVE
    session.flush()
    return certificate_view(session, certificate, today)


class Operators(Protocol):
    """Accounts' `me`: the operator's name for the ledger (None when accounts does not know)."""

    def operator_name(self, viewer: Principal) -> str | None: ...


def change_nominal(
    session: Session,
    viewer: Principal,
    number: str,
    amount: int,
    reason: str,
    today: date,
    operators: Operators | None = None,
) -> dict:
    """Set this certificate's nominal for the current period: a raise takes room from the
    municipal limit; a lower one is refused while money is reserved (active contracts). The
    reason is required; the entry carries it with the operator (id and name)."""
    certificate = visible_certificate(session, viewer, number)
    if not domain.can_manage_municipality(viewer, certificate.municipality_code):
        raise Forbidden("Номинал меняет муниципальный оператор", code="role_forbidden")
    domain.check_amount(amount, "amount")
    reason = domain.check_reason(reason)
    period = current_period(session, today)
    if period is None or not funding.is_financed(session, certificate, period.id):
        raise Refused("not_financing", "У сертификата нет номинала в текущем периоде")
    name = operators.operator_name(viewer) if operators is not None else None
    funding.ensure_fund(session, certificate.municipality_code, period.id)  # lock order
    current = int(ledger.balance_of(session, certificate.id, period.id)["nominal"])
    actor = viewer.key
    # an operator's change: the gateway's Idempotency-Key makes a repeated request harmless
    key = f"nominal:{certificate.id}:{period.id}:{uuid.uuid4()}"
    if amount < current:
        ledger.lower_nominal(session, certificate, period.id, current - amount, key, actor,
                             f"Уменьшение номинала оператором: {reason}", name)  # fmt: skip
        funding.return_room(session, certificate.municipality_code, period.id, current - amount)
    elif amount > current:
        if not funding.take_room(
            session, certificate.municipality_code, period.id, amount - current
        ):
            raise Refused("limit_exhausted", "Лимит муниципалитета исчерпан")
        ledger.credit(session, certificate, period.id, amount - current, key,
                      f"Увеличение номинала оператором: {reason}", actor, name)  # fmt: skip
    return certificate_view(session, certificate, today)


# --- money, as enrollment and payments call it --------------------------------------------


def reserve_funds(
    session: Session,
    certificate: Certificate,
    enrollment_id: str,
    period_id: int,
    amount: int,
    today: date,
    free_place: bool = False,
) -> dict:
    """Reserve for an enrollment. `free_place`: an application to a budget-registry program
    (enrollment's `financing=false`), counted against the child's free-place allowance."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput("amount: целое неотрицательное число копеек", code="invalid_amount",
                           fields={"amount": ["целое неотрицательное число копеек"]})  # fmt: skip
    if not isinstance(enrollment_id, str) or not 0 < len(enrollment_id) <= 64:
        raise InvalidInput("Неверный номер заявки", code="invalid_enrollment",
                           fields={"enrollment_id": ["строка до 64 символов"]})  # fmt: skip
    get_period(session, period_id)
    ledger.released_before(session, enrollment_id)  # a stale request of a closed application
    if amount:
        # the certificate's row before its balance, as a freeze locks it: a freeze waits for
        # this reservation (and then sees it), or this one reads the status the freeze wrote.
        # Read unlocked, a freeze between the check and the commit froze a certificate
        # holding money. FOR SHARE: reservations of one certificate still run side by side.
        session.refresh(certificate, with_for_update={"read": True})
        domain.check_can_use(certificate.status, certificate.valid_until, today)
    if free_place:
        funding.claim_free_place(session, certificate, enrollment_id)
    answer = ledger.reserve(session, certificate, period_id, enrollment_id, amount)
    # the payer: the municipality that issued the certificate, whatever the child's address
    # says now (enrollment puts it on the contract, payments invoices it)
    return {**answer, "municipality_code": certificate.municipality_code}


def finance_registered_child(session: Session, certificate: Certificate, today: date) -> None:
    """On registration (issue 20): the certificate financed for every open period not over
    whose municipality's limit has room, so the first application is one reservation."""
    periods = session.scalars(
        select(Period)
        .where(Period.status == domain.PERIOD_OPEN, Period.end_date >= today)
        .order_by(Period.start_date)
    ).all()
    for period in periods:
        funding.finance_if_room(session, certificate, period)


def registered_child(data: dict) -> dict:
    """accounts' `child_registered` data as the child facts ensure_certificate takes."""
    return {
        "id": data.get("child_id"),
        "parent_id": data.get("parent_id"),
        "birth_date": data.get("birth_date"),
        "municipality_code": data.get("municipality_code"),
    }


def child_certificate(session: Session, child_id: int) -> dict:
    certificate = (
        session.scalar(select(Certificate).where(Certificate.child_id == child_id))
        if isinstance(child_id, int)
        else None
    )
    if certificate is None:
        raise not_found()
    reserved = session.scalar(
        select(func.coalesce(func.sum(Reservation.reserved), 0)).where(
            Reservation.certificate_id == certificate.id
        )
    )
    return {
        "certificate_number": certificate.number,
        "municipality_code": certificate.municipality_code,
        "birth_date": certificate.birth_date.isoformat(),
        "status": certificate.status,
        "reserved": int(reserved),
    }


def ready_to_reserve(
    session: Session, child: dict, period_id: int, financing: bool
) -> tuple[Certificate, bool]:
    """A reservation's first step: the child's certificate, issued and financed for the period
    if it is not yet. True when that wrote (or locked) something, to be committed before the
    reservation: a certificate issued, or a child queued for lack of room, stays so even
    when the reservation is refused."""
    certificate = ensure_certificate(session, child)
    changed = finance_for(session, certificate, period_id, financing)
    return certificate, bool(changed or session.dirty or getattr(certificate, "issued_now", False))


def finance_for(
    session: Session, certificate: Certificate, period_id: int, financing: bool
) -> bool:
    """The financing step of reserve_funds, to be committed on its own: a child queued for
    lack of room stays queued even when the reservation that follows is refused. True when
    it wrote (or locked) something, i.e. when that commit is needed."""
    if not financing or certificate.status != domain.ACTIVE:
        return False
    period = get_period(session, period_id)
    try:
        return funding.finance(session, certificate, period) != "already"
    except Refused as refusal:  # too old or a closed period: the reservation answers for it
        log.info("certificate %s not financed: %s", certificate.number, refusal.code)
        return True  # the fund row may be locked: release it before reserving


def release_funds(
    session: Session, enrollment_id: str, amount: int | None, reason: str | None, key: str | None
) -> dict:
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int) or amount < 0
    ):
        raise InvalidInput("amount: целое неотрицательное число копеек", code="invalid_amount",
                           fields={"amount": ["целое неотрицательное число копеек"]})  # fmt: skip
    if amount is None:  # the whole reservation: the application or contract is over
        funding.end_free_place(session, str(enrollment_id))
    return ledger.release(session, str(enrollment_id), amount, reason, key)


def enrollment_ended(session: Session, data: dict) -> None:
    """enrollment's terminated / completed / rejected / cancelled / expired: a free place
    it held no longer counts against the allowance."""
    enrollment_id = data.get("enrollment_id")
    if enrollment_id:
        funding.end_free_place(session, str(enrollment_id))


def _invalid_item(index: int, message: str) -> domain.InvalidField:
    return domain.InvalidField(
        f"items.{index}", message, "invalid_item", title="Неверная строка списания"
    )


def debit_funds(session: Session, items: list[dict]) -> list[dict]:
    checked = []
    for i, item in enumerate(items):
        try:
            enrollment_id = str(item["enrollment_id"])
            month = domain.month_key(item["month"])
            debit, release = item["debit"], item["release"]
        except (KeyError, TypeError, domain.InvalidField) as exc:
            raise _invalid_item(i, str(exc)) from exc
        for value in (debit, release):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _invalid_item(i, "суммы: целые копейки >= 0")
        checked.append((enrollment_id, month, debit, release))
    # one lock order for every batch (reservations by id): concurrent batches never deadlock
    results = ledger.debit_many(session, checked)
    return [results[(e, m)] for e, m, _d, _r in checked]


def get_balance(session: Session, child_id: int, today: date) -> dict:
    certificate = session.scalar(select(Certificate).where(Certificate.child_id == child_id))
    if certificate is None:
        raise not_found()
    period = current_period(session, today)
    balance = ledger.balance_of(session, certificate.id, period.id) if period else {}
    return {
        "certificate_number": certificate.number,
        "type": certificate.type,
        "status": certificate.status,
        "period_id": period.id if period else None,
        **{
            k: int(balance.get(k, 0))
            for k in ("credited", "available", "reserved", "spent", "expired")
        },
    }


# --- certificates that end ---------------------------------------------------------------


def expire_certificate(session: Session, certificate: Certificate, reason: str) -> None:
    """The child turned 18: the certificate expires, what is available expires and goes
    back to the municipality's room, which the queue may take."""
    balances = session.execute(
        select(Balance.period_id, Period.status)
        .join(Period, Period.id == Balance.period_id)
        .where(Balance.certificate_id == certificate.id)
        .order_by(Balance.period_id)
    ).all()
    open_periods = [pid for pid, status in balances if status == domain.PERIOD_OPEN]
    for period_id in open_periods:  # lock order: the funds first, then the certificate
        funding.ensure_fund(session, certificate.municipality_code, period_id)
    session.refresh(certificate, with_for_update=True)
    if certificate.status == domain.EXPIRED:
        return
    certificate.status = domain.EXPIRED
    session.execute(
        QueueEntry.__table__.delete().where(
            QueueEntry.certificate_id == certificate.id, QueueEntry.status == "waiting"
        )
    )
    session.flush()
    for period_id, _status in balances:
        done = ledger.expire(
            session, certificate, period_id, f"expire:{certificate.id}:{period_id}", reason
        )
        if period_id in open_periods:
            funding.return_room(
                session, certificate.municipality_code, period_id, int(done["expired"])
            )


def run_calendar_job(calendar, name: str) -> dict:
    """One of the calendar's jobs now; 404 for a name it does not have, 409 while another
    instance runs it."""
    from servicekit.calendar import JobBusy

    if name not in calendar.jobs:
        message = f"задания нет; есть {', '.join(sorted(calendar.jobs))}"
        raise NotFound("Нет такого задания", code="job_not_found", fields={"name": [message]})
    try:
        return calendar.run(name)
    except JobBusy as busy:
        raise Refused("job_running", "Задание уже выполняется") from busy


# --- figures for payments' reports -------------------------------------------------------


def usage_totals(session: Session, municipality_code: str | None, month: str | None) -> dict:
    """The certificate money of a municipality's certificates (the region's when the code is
    None), in kopecks, as the balances stand now: credited (nominals and their changes),
    reserved, spent (debited) and expired, over every period, or with a month over the
    period(s) the month falls in; and `spent_in_month`, the debits billed for that month
    (None without a month). Only debits carry a month in the ledger."""
    where = []
    if municipality_code is not None:
        where.append(Certificate.municipality_code == municipality_code)
    periods = []
    if month is not None:
        first, last = domain.month_bounds(month)
        periods.append(
            Balance.period_id.in_(
                select(Period.id).where(Period.start_date <= last, Period.end_date >= first)
            )
        )
    parts = ("credited", "reserved", "spent", "expired")
    sums = session.execute(
        select(*(func.coalesce(func.sum(getattr(Balance, part)), 0) for part in parts))
        .join(Certificate, Certificate.id == Balance.certificate_id)
        .where(*where, *periods)
    ).one()
    totals = {part: int(value) for part, value in zip(parts, sums, strict=True)}
    spent_in_month = None
    if month is not None:
        spent_in_month = session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(Certificate, Certificate.id == LedgerEntry.certificate_id)
            .where(LedgerEntry.kind == domain.DEBIT, LedgerEntry.month == month, *where)
        ).scalar_one()
    return {**totals, "spent_in_month": None if spent_in_month is None else int(spent_in_month)}
