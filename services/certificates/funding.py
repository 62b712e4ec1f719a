"""Municipal nominals and limits, financing certificates and the municipality's queue, on a
SQLAlchemy session.

A child becomes `financing` for a period when its municipality's counter takes the child's
nominal: `UPDATE municipal_funds SET used = used + :n WHERE ... AND used + :n <= limit_amount`
(the CHECK `used <= limit_amount` stands behind it). Otherwise the child joins the queue,
first come first served; `upgrade_queue` hands freed room to the queue in arrival order and
stops at the first child whose nominal does not fit, so nobody jumps the queue.
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.db import save_stamped
from servicekit.outbox import emit
from services.certificates import domain, ledger
from services.certificates.domain import AgeBand, Refused
from services.certificates.models import (
    Certificate,
    FreePlace,
    MunicipalFund,
    MunicipalitySettings,
    NominalChange,
    Period,
    QueueEntry,
)


def fund(session: Session, municipality_code: str, period_id: int, lock: bool = False):
    query = select(MunicipalFund).where(
        MunicipalFund.municipality_code == municipality_code,
        MunicipalFund.period_id == period_id,
    )
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def ensure_fund(session: Session, municipality_code: str, period_id: int) -> MunicipalFund:
    """The municipality's fund row of the period, locked (created first if missing)."""
    row = fund(session, municipality_code, period_id, lock=True)
    if row is not None:  # the usual case: one round trip
        return row
    session.execute(
        insert(MunicipalFund)
        .values(municipality_code=municipality_code, period_id=period_id)
        .on_conflict_do_nothing()
    )
    return fund(session, municipality_code, period_id, lock=True)


def bands_of(row: MunicipalFund | None) -> list[AgeBand]:
    return [AgeBand(**band) for band in (row.bands if row else [])]


def settings_of(session: Session, municipality_code: str) -> dict:
    """The municipality's settings, the defaults when it set none."""
    row = session.get(MunicipalitySettings, municipality_code)
    return {
        "municipality_code": municipality_code,
        "nominal_mode": row.nominal_mode if row else domain.NOMINAL_FULL,
        "free_allowance": int(row.free_allowance) if row else domain.FREE_ALLOWANCE_DEFAULT,
    }


def set_settings(
    session: Session, municipality_code: str, changes: dict, actor: str | None
) -> dict:
    values = {}
    if "nominal_mode" in changes:
        values["nominal_mode"] = domain.check_nominal_mode(changes["nominal_mode"])
    if "free_allowance" in changes:
        values["free_allowance"] = domain.check_free_allowance_setting(changes["free_allowance"])
    if values:
        key = {"municipality_code": municipality_code}
        save_stamped(session, MunicipalitySettings, key, values, actor)
    return settings_of(session, municipality_code)


def bands_on(session: Session, row: MunicipalFund | None, period_id: int, today) -> list[AgeBand]:
    """The bands in force on `today`: the latest change applying from that day or earlier,
    else the fund's own (set before changes were dated)."""
    if row is None:
        return []
    changed = session.scalar(
        select(NominalChange.bands)
        .where(
            NominalChange.municipality_code == row.municipality_code,
            NominalChange.period_id == period_id,
            NominalChange.effective_from <= today,
        )
        .order_by(NominalChange.effective_from.desc(), NominalChange.id.desc())
        .limit(1)
    )
    return [AgeBand(**band) for band in changed] if changed is not None else bands_of(row)


def nominal_of(
    session: Session,
    row: MunicipalFund,
    certificate: Certificate,
    period: Period,
    rules: tuple[list[AgeBand], str] | None = None,
) -> int | None:
    """What financing this certificate in the period credits today: its age band's nominal
    (the bands in force today), pro-rated to the months left when the municipality says so.
    `rules` is (bands, mode) when the caller already read them (a queue's upgrades)."""
    today = clock.today()
    bands, mode = rules or nominal_rules(session, row, period.id, today)
    nominal = domain.nominal_for(bands, certificate.birth_date, period.start_date)
    if not nominal:
        return nominal
    return domain.nominal_on(nominal, mode, period.start_date, period.end_date, today)


def nominal_rules(session: Session, row: MunicipalFund, period_id: int, today):
    return (
        bands_on(session, row, period_id, today),
        settings_of(session, row.municipality_code)["nominal_mode"],
    )


def fund_view(session: Session, municipality_code: str, period_id: int) -> dict:
    row = fund(session, municipality_code, period_id)
    changes = session.scalars(
        select(NominalChange)
        .where(
            NominalChange.municipality_code == municipality_code,
            NominalChange.period_id == period_id,
        )
        .order_by(NominalChange.effective_from, NominalChange.id)
    ).all()
    today = clock.today()
    waiting = session.scalar(
        select(func.count())
        .select_from(QueueEntry)
        .where(
            QueueEntry.municipality_code == municipality_code,
            QueueEntry.period_id == period_id,
            QueueEntry.status == "waiting",
        )
    )
    return {
        "municipality_code": municipality_code,
        "period_id": period_id,
        "bands": [vars(band) for band in bands_on(session, row, period_id, today)],
        "changes": [
            {
                "effective_from": change.effective_from.isoformat(),
                "bands": change.bands,
                "reason": change.reason,
                "actor": change.actor,
                "in_force": change.effective_from <= today,
            }
            for change in changes
        ],
        "limit": int(row.limit_amount) if row else 0,
        "used": int(row.used) if row else 0,
        "queue_length": int(waiting or 0),
    }


def set_bands(
    session: Session,
    municipality_code: str,
    period_id: int,
    bands: list[AgeBand],
    effective_from=None,
    reason: str | None = None,
    actor: str | None = None,
):
    """Certificates of the period financed from `effective_from` (today by default, never
    earlier) get these nominals; those credited keep theirs. Recorded with its reason."""
    ordered = domain.check_bands(bands)
    today = clock.today()
    effective_from = domain.check_effective_from(effective_from or today, today)
    reason = domain.check_reason(reason) if reason is not None else "Номиналы муниципалитета"
    row = ensure_fund(session, municipality_code, period_id)
    session.add(
        NominalChange(
            municipality_code=municipality_code,
            period_id=period_id,
            bands=[vars(band) for band in ordered],
            effective_from=effective_from,
            reason=reason,
            actor=actor,
        )
    )
    if effective_from <= today:
        row.bands = [vars(band) for band in ordered]
    session.flush()
    upgrade_queue(session, municipality_code, period_id)  # a cheaper band may fit now


def set_limit(session: Session, municipality_code: str, period_id: int, limit: object) -> None:
    row = ensure_fund(session, municipality_code, period_id)
    row.limit_amount = domain.check_limit(limit, int(row.used))
    session.flush()
    upgrade_queue(session, municipality_code, period_id)


# --- financing and the queue ------------------------------------------------------------


def _grant(
    session: Session, certificate: Certificate, period: Period, nominal: int, actor: str | None
) -> None:
    ledger.credit(session, certificate, period.id, nominal, f"credit:{certificate.id}:{period.id}",
                  f"Начисление номинала за период «{period.name}»", actor)  # fmt: skip
    if not getattr(certificate, "issued_now", False):  # a new certificate was never queued
        session.execute(
            QueueEntry.__table__.update()
            .where(
                QueueEntry.certificate_id == certificate.id,
                QueueEntry.period_id == period.id,
                QueueEntry.status == "waiting",
            )
            .values(status="upgraded", upgraded_at=clock.now())
        )
    if certificate.type != domain.FINANCING:
        certificate.type = domain.FINANCING
        session.flush()
        emit(
            session,
            "certificate_type_changed",
            {
                "certificate_number": certificate.number,
                "child_id": certificate.child_id,
                "municipality_code": certificate.municipality_code,
                "type": domain.FINANCING,
                "period_id": period.id,
                "nominal": ledger.money(nominal),
            },
        )


def take_room(session: Session, municipality_code: str, period_id: int, nominal: int) -> bool:
    return (
        session.execute(
            text(
                "UPDATE municipal_funds SET used = used + :n, updated_at = now()"
                " WHERE municipality_code = :m AND period_id = :p"
                " AND used + :n <= limit_amount RETURNING used"
            ),
            {"n": nominal, "m": municipality_code, "p": period_id},
        ).one_or_none()
        is not None
    )


def return_room(session: Session, municipality_code: str, period_id: int, amount: int) -> None:
    """A nominal (or part of it) handed back: the municipality may hand it out again."""
    if amount > 0:
        session.execute(
            text(
                "UPDATE municipal_funds SET used = used - :n, updated_at = now()"
                " WHERE municipality_code = :m AND period_id = :p"
            ),
            {"n": amount, "m": municipality_code, "p": period_id},
        )
        upgrade_queue(session, municipality_code, period_id)


def is_financed(session: Session, certificate: Certificate, period_id: int) -> bool:
    return (
        session.scalar(
            text("SELECT 1 FROM ledger_operations WHERE key = :k"),
            {"k": f"credit:{certificate.id}:{period_id}"},
        )
        is not None
    )


def _waiting(session: Session, municipality_code: str, period_id: int) -> bool:
    return (
        session.scalar(
            select(QueueEntry.id)
            .where(
                QueueEntry.municipality_code == municipality_code,
                QueueEntry.period_id == period_id,
                QueueEntry.status == "waiting",
            )
            .limit(1)
        )
        is not None
    )


def _grant_if_room(
    session: Session, row: MunicipalFund, certificate: Certificate, period: Period, actor
) -> bool:
    """The nominal taken from the limit and credited, when there is room and nobody waits
    (somebody already waiting goes first). The caller holds the fund row's lock."""
    nominal = nominal_of(session, row, certificate, period)
    if not nominal or _waiting(session, certificate.municipality_code, period.id):
        return False
    if not take_room(session, certificate.municipality_code, period.id, nominal):
        return False
    _grant(session, certificate, period, nominal, actor)
    return True


def finance_if_room(session: Session, certificate: Certificate, period: Period) -> bool:
    """A registered child's certificate financed ahead of its first application (issue 20)
    when the limit has room and nobody waits; never queued here (a child joins the queue
    when it applies). True when it was financed now."""
    if period.status != domain.PERIOD_OPEN or certificate.status != domain.ACTIVE:
        return False
    if certificate.valid_until <= period.start_date:
        return False
    row = fund(session, certificate.municipality_code, period.id, lock=True)
    if row is None:
        return False
    if not getattr(certificate, "issued_now", False):
        session.refresh(certificate, with_for_update=True)
        if is_financed(session, certificate, period.id):
            return False
    return _grant_if_room(session, row, certificate, period, None)


def finance(
    session: Session, certificate: Certificate, period: Period, actor: str | None = None
) -> str:
    """Make the certificate a financing one for the period, or queue the child.
    Answers "financed", "queued" or "already"."""
    # A certificate issued in this very transaction (`issued_now`) is seen by no other one
    # yet: it cannot be financed, locked or queued elsewhere, so its checks are skipped.
    fresh = getattr(certificate, "issued_now", False)
    if not fresh and is_financed(session, certificate, period.id):
        return "already"
    if certificate.valid_until <= period.start_date:
        raise Refused("certificate_expired", "Ребёнку исполнится 18 лет до начала периода")
    if period.status != domain.PERIOD_OPEN:
        raise Refused("period_closed", "Период закрыт")
    # locks in one order everywhere: the fund row, then the certificate, then its balance
    row = ensure_fund(session, certificate.municipality_code, period.id)
    if not fresh:
        session.refresh(certificate, with_for_update=True)
        if is_financed(session, certificate, period.id):  # financed while we waited
            return "already"
    if _grant_if_room(session, row, certificate, period, actor):
        return "financed"
    session.execute(
        insert(QueueEntry)
        .values(
            certificate_id=certificate.id,
            period_id=period.id,
            municipality_code=certificate.municipality_code,
        )
        .on_conflict_do_nothing(constraint="one_queue_place_per_period")
    )
    upgrade_queue(session, certificate.municipality_code, period.id)
    return "financed" if is_financed(session, certificate, period.id) else "queued"


def upgrade_queue(session: Session, municipality_code: str, period_id: int) -> int:
    """Hand the room there is to waiting children in arrival order; stop at the first whose
    nominal does not fit. Serialized per municipality and period by the fund row's lock."""
    row = fund(session, municipality_code, period_id, lock=True)
    if row is None:
        return 0
    period = session.get(Period, period_id)
    if period.status != domain.PERIOD_OPEN:
        return 0
    upgraded = 0
    rules = nominal_rules(session, row, period_id, clock.today())
    waiting = session.execute(
        select(QueueEntry.id, QueueEntry.certificate_id)
        .where(
            QueueEntry.municipality_code == municipality_code,
            QueueEntry.period_id == period_id,
            QueueEntry.status == "waiting",
        )
        .order_by(QueueEntry.id)
    ).all()
    for _entry_id, certificate_id in waiting:
        certificate = session.get(Certificate, certificate_id, with_for_update=True)
        nominal = nominal_of(session, row, certificate, period, rules)
        if certificate.status == domain.EXPIRED or certificate.valid_until <= period.start_date:
            session.execute(
                QueueEntry.__table__.delete().where(QueueEntry.id == _entry_id)
            )  # nobody to finance any more
            continue
        if not nominal or not take_room(session, municipality_code, period_id, nominal):
            break
        _grant(session, certificate, period, nominal, None)
        upgraded += 1
    return upgraded


def finance_registered(
    session: Session, municipality_code: str, period_id: int, after: int = 0, limit: int = 200
) -> tuple[int, int | None]:
    """Certificates ready before opening day (issue 20): finance, in issue order, up to
    `limit` active `accounting` certificates of the municipality (never financed: those
    financed in an earlier period are credited by its rollover) while the limit has room, so
    that a child's application finds its certificate financed and is one reservation. Nobody
    jumps the queue: with anyone waiting it does nothing (the queue's upgrades hand out the
    room), and it never queues a child (a child joins the queue when it applies). Answers
    (how many it financed, the last certificate id it looked at: the next batch's `after`;
    None once there is nothing left or no room). Under the fund row's lock, as every
    financing, taken only when there is somebody to finance."""
    period = session.get(Period, period_id)
    if period is None or period.status != domain.PERIOD_OPEN:
        return 0, None
    candidates = (
        select(Certificate)
        .where(
            Certificate.municipality_code == municipality_code,
            Certificate.type == domain.ACCOUNTING,
            Certificate.status == domain.ACTIVE,
            Certificate.id > after,
            Certificate.valid_until > period.start_date,
        )
        .order_by(Certificate.id)
        .limit(limit)
    )
    if session.scalar(candidates.with_only_columns(Certificate.id)) is None:
        return 0, None  # the usual tick: nobody new, and no lock taken
    row = fund(session, municipality_code, period_id, lock=True)
    if row is None or _waiting(session, municipality_code, period_id):
        return 0, None
    # locks in one order everywhere: the fund row, then the certificates
    certificates = session.scalars(candidates.with_for_update()).all()
    rules = nominal_rules(session, row, period_id, clock.today())
    financed = 0
    for certificate in certificates:
        if is_financed(session, certificate, period_id):
            continue
        nominal = nominal_of(session, row, certificate, period, rules)
        if not nominal:
            continue  # no band for the child's age: nothing to credit
        if not take_room(session, municipality_code, period_id, nominal):
            return financed, None
        certificate.issued_now = True  # never queued (nobody waits): no queue place to end
        _grant(session, certificate, period, nominal, None)
        financed += 1
    return financed, (certificates[-1].id if len(certificates) == limit else None)


def queue_position(session: Session, certificate_id: int, period_id: int) -> int | None:
    mine = session.execute(
        select(QueueEntry.id, QueueEntry.municipality_code).where(
            QueueEntry.certificate_id == certificate_id,
            QueueEntry.period_id == period_id,
            QueueEntry.status == "waiting",
        )
    ).one_or_none()
    if mine is None:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(QueueEntry)
        .where(
            QueueEntry.municipality_code == mine.municipality_code,
            QueueEntry.period_id == period_id,
            QueueEntry.status == "waiting",
            QueueEntry.id < mine.id,
        )
    )
    return int(ahead) + 1


# --- free places (budget registries) ----------------------------------------------------


def claim_free_place(session: Session, certificate: Certificate, enrollment_id: str) -> None:
    """One more free place for the child, within the municipality's allowance (places held
    at a time, by live applications and contracts of budget registries). Idempotent by the
    enrollment; one child's claims are taken in turn (the certificate row's lock)."""
    if session.get(FreePlace, enrollment_id) is not None:
        return  # a repeat of the same application
    session.refresh(certificate, with_for_update=True)
    live = session.scalar(
        select(func.count())
        .select_from(FreePlace)
        .where(FreePlace.certificate_id == certificate.id, FreePlace.ended_at.is_(None))
    )
    allowance = settings_of(session, certificate.municipality_code)["free_allowance"]
    domain.check_free_allowance(int(live), allowance)
    session.execute(
        insert(FreePlace)
        .values(enrollment_id=enrollment_id, certificate_id=certificate.id)
        .on_conflict_do_nothing(index_elements=["enrollment_id"])
    )


def end_free_place(session: Session, enrollment_id: str) -> bool:
    """The application or contract ended: its free place no longer counts. Safe to repeat."""
    ended = session.execute(
        FreePlace.__table__.update()
        .where(FreePlace.enrollment_id == enrollment_id, FreePlace.ended_at.is_(None))
        .values(ended_at=clock.now())
    )
    return bool(ended.rowcount)
