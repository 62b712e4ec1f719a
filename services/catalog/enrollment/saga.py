"""The apply saga and its recovery: the steps that cross to the certificates service.

    1. open    (catalog DB, one transaction)  application in arrival order + seat or list
    2. reserve (certificates RPC, idempotent by `reserve:<enrollment id>`)
    3. finish  (catalog DB, one transaction)  status, terms, event in the outbox

Every step is idempotent, so a crash anywhere is repaired by running the saga again from
what the database says (`settle`, on a timer): an application whose money is still `pending`
after a grace period is driven forward (or compensated when its money is refused), and a
reservation marked `release_pending` is released. Compensation of step 1 is `withdraw`
(nothing was reserved) or `abandon` (cancel and release whatever was reserved).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from servicekit import config
from servicekit.errors import Conflict, InvalidInput, NavigatorError, NotFound
from servicekit.faults import crash_point
from services.catalog.enrollment import operations
from services.catalog.enrollment.models import Enrollment
from services.catalog.models import Program

log = logging.getLogger(__name__)

PERIODS_TTL = 60.0
_periods_cache: dict[str, tuple[float, list[dict]]] = {}


class Certificates:
    """The certificates service as the saga uses it (docs/interfaces.md), by RPC with a
    deadline."""

    def __init__(self, rpc):
        self.rpc = rpc

    def periods(self) -> list[dict]:
        cached = _periods_cache.get("periods")
        if cached and time.monotonic() - cached[0] < PERIODS_TTL:
            return cached[1]
        periods = self.rpc.call("certificates", "list_periods")
        _periods_cache["periods"] = (time.monotonic(), periods)
        return periods

    def reserve(self, enrollment_id: str, child: dict, period_id: int, amount: int, financing):
        return self.rpc.call(
            "certificates", "reserve_funds", enrollment_id, child, period_id, amount, financing
        )

    def release(self, enrollment_id: str, reason: str) -> dict:
        return self.rpc.call("certificates", "release_funds", enrollment_id, None, reason)

    def balance(self, child_id: int) -> dict:
        return self.rpc.call("certificates", "get_balance", child_id)


def quote(
    session: Session,
    certificates: Certificates,
    child: dict,
    group_id: int,
    start_date: str | None,
    today: date,
) -> dict:
    """The money terms a contract would have, capped by the certificate's balance if the
    child has one already."""
    start = date.fromisoformat(start_date) if start_date else None
    group, program, period, start = operations.quote(
        session, child, group_id, start, certificates.periods(), today
    )
    available = available_for_quote(certificates, child["id"])
    cap = operations.UNCAPPED if available is None else available
    return {
        **operations.terms_of(group, program, period, start, cap),
        "certificate_available": available,
    }


def decide(
    session: Session,
    certificates: Certificates,
    accounts,
    principal: dict,
    enrollment_id: str,
    action: str,
    reason: str | None,
    now: datetime,
) -> Enrollment:
    """A decision; a confirmation first marks the child's data verified in accounts (the
    provider saw the documents; idempotent), a closed application gives its money back."""
    enrollment = operations.visible(session, principal, enrollment_id)  # else 404, first
    operations.require_active_organization(session, principal)
    if action == "confirm":
        if operations.confirmable(principal, enrollment):
            accounts.call(
                "accounts",
                "mark_child_verified",
                enrollment.child_id,
                principal["user_id"],
                enrollment.organization_id,
            )
    enrollment = operations.decide(session, principal, enrollment_id, action, reason, now)
    if enrollment.money == "release_pending":
        session.commit()
        release(session, certificates, enrollment_id)
    return enrollment


def settle_grace_seconds() -> float:
    return float(config.env("ENROLLMENT_SETTLE_GRACE_SECONDS", "30"))


def apply(
    session: Session,
    certificates: Certificates,
    *,
    child: dict,
    group_id: int,
    start_date: date | None,
    accept_copay: bool,
    today: date,
    now: datetime,
) -> Enrollment:
    enrollment_id = str(uuid.uuid4())
    periods = certificates.periods()
    operations.open_application(
        session,
        enrollment_id=enrollment_id,
        child=child,
        group_id=group_id,
        start_date=start_date,
        accept_copay=accept_copay,
        periods=periods,
        today=today,
    )
    session.commit()  # step 1 is durable: the seat (or the place in the list) is the child's
    crash_point("enrollment_after_open")
    return drive(session, certificates, enrollment_id, child, periods, now)


def _money_kind(session: Session, enrollment: Enrollment) -> str:
    """`financing` (a certified program: money from a financing certificate), `accounting`
    (budget registries: a free seat of an accounting certificate) or `own` (paid programs:
    the parent's own money, no certificate involved)."""
    program = session.get(Program, enrollment.program_id)
    if program.registry_code == "certified" and program.certified:
        return "financing"
    if program.registry_code in operations.BUDGET_REGISTRIES:
        return "accounting"
    return "own"


def available_for_quote(certificates: Certificates, child_id: int) -> int | None:
    """The balance that caps a quote's certificate share; None before the child has a
    certificate (it is issued with the first application, with the municipality's nominal)."""
    try:
        return int(certificates.balance(child_id)["available"])
    except NotFound:
        return None


def drive(
    session: Session,
    certificates: Certificates,
    enrollment_id: str,
    child: dict | None,
    periods: list[dict],
    now: datetime,
) -> Enrollment:
    """Steps 2 and 3 for an application whose money is pending (the request itself, or the
    recovery after a crash)."""
    enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
    kind = _money_kind(session, enrollment)
    financing = kind == "financing"
    terms = enrollment.terms
    accept_copay = enrollment.accept_copay
    period_id = enrollment.period_id
    session.commit()  # hold no transaction open across the RPC
    try:
        reserved = {"certificate_number": None} if kind == "own" else None
        for _ in range(
            0 if reserved else 3
        ):  # a concurrent application of the same child may take money meanwhile
            try:
                reserved = certificates.reserve(
                    enrollment_id, child, period_id, terms["certificate_share"], financing
                )
                break
            except Conflict as error:
                if error.code != "insufficient_funds":
                    raise
                available = int(error.extra.get("available", 0))
                enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
                terms = operations.capped_terms(session, enrollment, available, periods)
                session.commit()
                if terms["copay"] > 0 and not accept_copay:
                    operations.withdraw(session, enrollment_id, now)
                    session.commit()
                    raise InvalidInput(
                        "На сертификате недостаточно средств: нужно согласие на доплату",
                        code="copay_not_accepted",
                        fields={"accept_copay": [f"доплата {terms['copay'] / 100:.2f} ₽"]},
                        extra={"available": available},
                    ) from error
        if reserved is None:
            raise Conflict("Баланс сертификата меняется, повторите", code="funds_changing")
    except InvalidInput:
        raise
    except NavigatorError as error:
        # refused or unknown (a timeout may have reserved): cancel, release whatever is held
        log.warning("money step of %s failed: %r; compensating", enrollment_id, error)
        operations.abandon(session, enrollment_id, f"money_step_failed:{error.code}", now)
        session.commit()
        release(session, certificates, enrollment_id)
        raise
    crash_point("enrollment_after_reserve")
    enrollment = operations.finish_application(session, enrollment_id, reserved, terms, now)
    return enrollment


def release(session: Session, certificates: Certificates, enrollment_id: str) -> bool:
    """Give back an application's whole reservation; False leaves it to the recovery."""
    try:
        certificates.release(enrollment_id, "application_closed")
    except Exception as error:  # noqa: BLE001 - the recovery retries it
        log.warning("release of %s failed: %r; the recovery retries it", enrollment_id, error)
        return False
    crash_point("enrollment_after_release")
    operations.mark_released(session, enrollment_id)
    session.commit()
    return True


def settle(session: Session, certificates: Certificates, accounts, now: datetime) -> dict:
    """The recovery: finish or compensate what a crash left halfway; release what is due."""
    done = {"driven": 0, "released": 0, "failed": 0}
    rows = operations.unsettled(session, now, settle_grace_seconds())
    session.commit()
    for enrollment_id, money in rows:
        try:
            if money == "pending":
                enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
                child = accounts.call("accounts", "get_child", enrollment.child_id)
                session.commit()
                drive(session, certificates, enrollment_id, child, certificates.periods(), now)
                session.commit()
                done["driven"] += 1
            elif release(session, certificates, enrollment_id):
                done["released"] += 1
            else:
                done["failed"] += 1
        except Exception as error:  # noqa: BLE001 - one stuck application must not stop the rest
            session.rollback()
            log.warning("settling %s failed: %r", enrollment_id, error)
            done["failed"] += 1
    return done


def expire_overdue(session: Session, certificates: Certificates, now: datetime) -> list[str]:
    """Applications the provider left undecided past the deadline expire; their seats promote
    the waiting list and their reservations are released."""
    expired = []
    for enrollment_id in operations.overdue(session, now):
        if operations.expire(session, enrollment_id, now) is not None:
            session.commit()
            expired.append(enrollment_id)
            release(session, certificates, enrollment_id)
    session.commit()
    return expired


def end_due(session: Session, now: datetime) -> dict:
    """The calendar's work, on the region's date of ``now``: terminated enrollments past
    their last day give their seat back (promoting the waiting list while the group runs),
    and enrolled children of a group that ended complete. One transaction each."""
    today = config.region_date(now)

    def each(find, step) -> list[str]:
        """`step` on every enrollment `find` names, one transaction each; those it changed."""
        candidates = find(session, today)
        session.commit()
        changed = []
        for enrollment_id in candidates:
            if step(session, enrollment_id, today, now) is not None:
                changed.append(enrollment_id)
            session.commit()
        return changed

    return {
        "seats_freed": each(operations.seats_due_back, operations.give_back_seat),
        "completed": each(operations.ended, operations.complete),
    }
