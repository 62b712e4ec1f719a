"""The money ledger on a SQLAlchemy session: credit, adjust, reserve, release, debit, expire.

Every operation runs inside the caller's transaction and follows one recipe:

1. claim its idempotency key: `INSERT INTO ledger_operations ... ON CONFLICT DO NOTHING`.
   Nothing inserted means the key was used (or is being used by a transaction PostgreSQL
   makes us wait for): the stored first answer is returned and nothing else happens.
2. change the balance with a conditional UPDATE (`... WHERE available >= :amount RETURNING`);
   no row back means the money is not there, and the caller's rollback undoes the claim too.
3. write the ledger entries, the outbox event and the answer in the same transaction.

`reserve`, the call enrollment makes on the busiest day, does steps 1-3 in one statement
(data-modifying CTEs) and keeps its answer on the reservation row.

Rows are locked in one order everywhere (reservation, then balance) so batches do not deadlock.
The CHECK constraints of models.py refuse anything that would still slip through.
"""

from __future__ import annotations

import json

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from servicekit.db import insert_rows
from servicekit.money import format_kopecks
from servicekit.outbox import emit, emit_many
from services.certificates import domain
from services.certificates.domain import Refused
from services.certificates.models import (
    Balance,
    Certificate,
    LedgerEntry,
    LedgerOperation,
    Reservation,
)


def claim(session: Session, key: str, kind: str) -> dict | None:
    """None when the key is ours now; the first answer when it was used before."""
    claimed = session.execute(
        insert(LedgerOperation)
        .values(key=key, kind=kind)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(LedgerOperation.key)
    ).scalar()
    if claimed is not None:
        return None
    return first_answer(session, key)


def first_answer(session: Session, key: str) -> dict:
    """What the operation that first used `key` answered."""
    return (
        session.execute(
            select(LedgerOperation.result).where(LedgerOperation.key == key)
        ).scalar_one()
        or {}
    )


def answer(session: Session, key: str, result: dict) -> dict:
    session.execute(
        LedgerOperation.__table__.update().where(LedgerOperation.key == key).values(result=result)
    )
    return result


def entry(
    session: Session,
    key: str,
    certificate_id: int,
    period_id: int,
    kind: str,
    amount: int,
    enrollment_id: str | None = None,
    month: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    actor_name: str | None = None,
) -> None:
    session.execute(
        insert(LedgerEntry).values(
            operation_key=key,
            certificate_id=certificate_id,
            period_id=period_id,
            kind=kind,
            amount=amount,
            enrollment_id=enrollment_id,
            month=month,
            reason=reason or domain.REASONS[kind],
            actor=actor,
            actor_name=actor_name,
        )
    )


def balance_of(session: Session, certificate_id: int, period_id: int) -> dict:
    row = session.execute(
        select(
            Balance.nominal,
            Balance.credited,
            Balance.available,
            Balance.reserved,
            Balance.spent,
            Balance.expired,
        ).where(Balance.certificate_id == certificate_id, Balance.period_id == period_id)
    ).one_or_none()
    names = ("nominal", "credited", "available", "reserved", "spent", "expired")
    return dict(zip(names, row, strict=True)) if row else dict.fromkeys(names, 0)


# --- credit and adjust --------------------------------------------------------------------


def credit(
    session: Session,
    certificate: Certificate,
    period_id: int,
    amount: int,
    key: str,
    reason: str | None = None,
    actor: str | None = None,
    actor_name: str | None = None,
) -> dict:
    """Credit a nominal (or a raise of it) for a period. The municipal limit is the caller's
    business (funding.py), checked in the same transaction."""
    # One statement (one round trip, taken while the municipality's fund row is locked by
    # the caller): claim the key, add to the balance, write the entry and keep the answer.
    row = session.execute(
        text(
            "WITH claim AS ("
            "  INSERT INTO ledger_operations (key, kind) VALUES (:k, 'credit')"
            "  ON CONFLICT (key) DO NOTHING RETURNING key"
            "), balance AS ("
            "  INSERT INTO balances (certificate_id, period_id, nominal, credited, available)"
            "  SELECT :c, :p, :a, :a, :a FROM claim"
            "  ON CONFLICT (certificate_id, period_id) DO UPDATE SET"
            "   nominal = balances.nominal + :a, credited = balances.credited + :a,"
            "   available = balances.available + :a"
            "  RETURNING nominal, credited, available, reserved, spent, expired"
            "), entry AS ("
            "  INSERT INTO ledger_entries (operation_key, certificate_id, period_id, kind,"
            "   amount, reason, actor, actor_name)"
            "  SELECT :k, :c, :p, 'credit', :a, :reason, :actor, :actor_name"
            "  FROM balance WHERE :a > 0"
            ") SELECT (SELECT count(*) FROM claim) AS claimed, balance.* FROM balance"
            "  RIGHT JOIN (SELECT 1) one ON true"
        ),
        {"k": key, "c": certificate.id, "p": period_id, "a": amount,
         "reason": reason or domain.REASONS[domain.CREDIT], "actor": actor,
         "actor_name": actor_name},
    ).one()  # fmt: skip
    if not row.claimed:  # a repeat: the first answer
        return first_answer(session, key)
    names = ("nominal", "credited", "available", "reserved", "spent", "expired")
    return answer(
        session, key, {"credited": amount, **{name: int(getattr(row, name)) for name in names}}
    )


def lower_nominal(
    session: Session,
    certificate: Certificate,
    period_id: int,
    by: int,
    key: str,
    actor: str,
    reason: str | None = None,
    actor_name: str | None = None,
) -> dict:
    """Take back `by` of a credited nominal from what is available (no active contracts)."""
    first = claim(session, key, domain.ADJUST)
    if first is not None:
        return first
    row = session.execute(
        text(
            "UPDATE balances SET nominal = nominal - :by, credited = credited - :by,"
            " available = available - :by"
            " WHERE certificate_id = :c AND period_id = :p AND reserved = 0 AND available >= :by"
            " RETURNING available"
        ),
        {"by": by, "c": certificate.id, "p": period_id},
    ).one_or_none()
    if row is None:
        domain.check_can_lower_nominal(balance_of(session, certificate.id, period_id)["reserved"])
        raise Refused("insufficient_funds", "Номинал уже израсходован", available=0)
    entry(session, key, certificate.id, period_id, domain.ADJUST, -by, reason=reason,
          actor=actor, actor_name=actor_name)  # fmt: skip
    return answer(session, key, {"lowered": by, **balance_of(session, certificate.id, period_id)})


# --- reserve, release, debit ------------------------------------------------------------


def money(value: int) -> str:
    return format_kopecks(int(value))


def reserve(
    session: Session, certificate: Certificate, period_id: int, enrollment_id: str, amount: int
) -> dict:
    """Set `amount` aside for one enrollment; refused with what is available when short."""
    key = f"reserve:{enrollment_id}"
    if amount == 0:  # records nothing, answers the balances
        existing = session.get(Reservation, enrollment_id)
        return _reserve_answer(
            session, certificate, period_id, existing.reserved if existing else 0
        )
    # One statement (one round trip) claims the key and, only if the key is new and the money
    # is there, takes it and records the reservation (with its answer) and the entry. The
    # balance row's lock is then held just for this, the event and the commit: that is what
    # limits reservations on one certificate.
    row = session.execute(
        text(
            "WITH claim AS ("
            "  INSERT INTO ledger_operations (key, kind) VALUES (:k, 'reserve')"
            "  ON CONFLICT (key) DO NOTHING RETURNING key"
            "), taken AS ("
            "  UPDATE balances SET available = available - :a, reserved = reserved + :a"
            "  WHERE certificate_id = :c AND period_id = :p AND available >= :a"
            "  AND EXISTS (SELECT 1 FROM claim)"
            "  RETURNING available"
            "), reservation AS ("
            "  INSERT INTO reservations (enrollment_id, certificate_id, period_id, amount,"
            "   reserved, available_after) SELECT :e, :c, :p, :a, :a, available FROM taken"
            "), entry AS ("
            "  INSERT INTO ledger_entries (operation_key, certificate_id, period_id, kind,"
            "   amount, enrollment_id, reason) SELECT :k, :c, :p, 'reserve', :a, :e, :reason"
            "  FROM taken"
            ") SELECT (SELECT count(*) FROM claim) AS claimed,"
            "  (SELECT available FROM taken) AS available"
        ),
        {"a": amount, "c": certificate.id, "p": period_id, "e": enrollment_id, "k": key,
         "reason": domain.REASONS[domain.RESERVE]},
    ).one()  # fmt: skip
    if not row.claimed:  # a repeat: the first answer, kept on the reservation
        first = session.get(Reservation, enrollment_id, populate_existing=True)
        if first is None:  # the key is a release's tombstone: this request is stale
            raise _released_before()
        return {
            "certificate_number": certificate.number,
            "certificate_type": certificate.type,
            "reserved": int(first.amount),
            "available": int(first.available_after),
        }
    if row.available is None:  # nothing written but the claim, which the caller's rollback undoes
        available = balance_of(session, certificate.id, period_id)["available"]
        raise Refused(
            "insufficient_funds",
            "Недостаточно средств на сертификате",
            available=int(available),
        )
    emit(
        session,
        "funds_reserved",
        {
            "certificate_number": certificate.number,
            "child_id": certificate.child_id,
            "enrollment_id": enrollment_id,
            "period_id": period_id,
            "amount": money(amount),
            "available": money(row.available),
        },
    )
    return {
        "certificate_number": certificate.number,
        "certificate_type": certificate.type,
        "reserved": amount,
        "available": int(row.available),
    }


def _reserve_answer(session, certificate: Certificate, period_id: int, reserved: int) -> dict:
    return {
        "certificate_number": certificate.number,
        "certificate_type": certificate.type,
        "reserved": int(reserved),
        "available": int(balance_of(session, certificate.id, period_id)["available"]),
    }


def _take_from_reservation(
    session: Session, reservation_id: str, release: int, debit: int
) -> dict | None:
    """Release and debit from one enrollment's reservation and its balance: both conditional,
    both in this transaction. None if the reservation no longer holds that much."""
    row = session.execute(
        text(
            "UPDATE reservations SET reserved = reserved - :r - :d,"
            " released = released + :r, debited = debited + :d"
            " WHERE enrollment_id = :e AND reserved >= :r + :d"
            " RETURNING certificate_id, period_id, reserved"
        ),
        {"r": release, "d": debit, "e": reservation_id},
    ).one_or_none()
    if row is None:
        return None
    updated = session.execute(
        text(
            "UPDATE balances SET reserved = reserved - :r - :d, available = available + :r,"
            " spent = spent + :d"
            " WHERE certificate_id = :c AND period_id = :p AND reserved >= :r + :d"
            " RETURNING available"
        ),
        {"r": release, "d": debit, "c": row.certificate_id, "p": row.period_id},
    ).one_or_none()
    if updated is None:  # the balance disagrees with the reservation: never expected
        raise RuntimeError(f"balance of certificate {row.certificate_id} lost its reservation")
    return {
        "certificate_id": row.certificate_id,
        "period_id": row.period_id,
        "reserved_left": int(row.reserved),
        "available": int(updated.available),
    }


def _locked_reservation(session: Session, enrollment_id: str) -> Reservation | None:
    return session.execute(
        select(Reservation).where(Reservation.enrollment_id == enrollment_id).with_for_update()
    ).scalar_one_or_none()


# The tombstone a release leaves when it finds nothing reserved: the reserve key of that
# enrollment, claimed with this answer. A reserve that comes later (a stale request, queued
# behind a hung process or retried after its caller gave up and released) finds its key used
# and no reservation, and is refused: money is never set aside for a closed application.
TOMBSTONE = {"tombstone": "released"}


def _released_before() -> Refused:
    return Refused(
        "reservation_released",
        "Заявка уже закрыта, её средства освобождены: резерв не выполнен",
    )


def _leave_tombstone(session: Session, enrollment_id: str) -> bool:
    """Claim `reserve:<enrollment_id>` for a release that found no reservation. True when the
    tombstone is ours (no reserve has run, none will); False when a reserve holds the key:
    its claim was in flight, PostgreSQL waited for it, and its reservation is committed now."""
    claimed = session.execute(
        insert(LedgerOperation)
        .values(key=f"reserve:{enrollment_id}", kind=domain.RESERVE, result=TOMBSTONE)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(LedgerOperation.key)
    ).scalar()
    return claimed is not None


def released_before(session: Session, enrollment_id: str) -> None:
    """Refuse a reservation for an enrollment whose money a release has closed already (for
    amount 0 and a free place, which claim no reserve key). The reserve statement checks it
    again atomically for an amount, through the key."""
    result = session.execute(
        select(LedgerOperation.result).where(LedgerOperation.key == f"reserve:{enrollment_id}")
    ).scalar()
    if result == TOMBSTONE:
        raise _released_before()


def release(
    session: Session,
    enrollment_id: str,
    amount: int | None,
    reason: str | None,
    key: str | None,
) -> dict:
    """Give back to the balance what is reserved for an enrollment (all of it when `amount`
    is None), never more than is still reserved."""
    key = key or f"release:{enrollment_id}"
    first = claim(session, key, domain.RELEASE)
    if first is not None:
        return first
    reservation = _locked_reservation(session, enrollment_id)
    if reservation is None and not _leave_tombstone(session, enrollment_id):
        # a reservation committed between the two statements: it is released like any other
        reservation = _locked_reservation(session, enrollment_id)
    if reservation is None:
        return answer(session, key, {"released": 0, "reserved_left": 0})
    wanted = reservation.reserved if amount is None else min(amount, reservation.reserved)
    if wanted == 0:
        return answer(session, key, {"released": 0, "reserved_left": int(reservation.reserved)})
    taken = _take_from_reservation(session, enrollment_id, wanted, 0)
    certificate = session.get(Certificate, reservation.certificate_id)
    entry(session, key, certificate.id, reservation.period_id, domain.RELEASE, wanted,
          enrollment_id, reason=reason)  # fmt: skip
    emit(
        session,
        "funds_released",
        {
            "certificate_number": certificate.number,
            "child_id": certificate.child_id,
            "enrollment_id": enrollment_id,
            "period_id": reservation.period_id,
            "amount": money(wanted),
            "reserved_left": money(taken["reserved_left"]),
            "reason": reason or domain.REASONS[domain.RELEASE],
        },
    )
    return answer(session, key, {"released": wanted, "reserved_left": taken["reserved_left"]})


def debit_many(session: Session, items: list[tuple[str, str, int, int]]) -> dict:
    """A batch of months of billing, each `(enrollment_id, month, debit, release)`: debit,
    then release the month's unused rest. Keyed `debit:<enrollment_id>:<month>`; a repeat
    answers the first result with status `repeated`. Answers {(enrollment_id, month): result}.

    Set-based, a fixed number of statements per batch whatever its size (billing sends
    hundreds of items per call): claim every key, lock the reservations and then the
    balances in one order, split each month by domain.split_release in Python (in month
    order per enrollment, on what is left), then write the reservations, balances, entries,
    events and answers of the whole batch at once. The CHECK constraints stand behind it."""
    keys = {f"debit:{e}:{m}": (e, m, d, r) for e, m, d, r in sorted(items)}
    claimed = set(
        session.execute(
            text(
                "INSERT INTO ledger_operations (key, kind)"
                " SELECT k, 'debit' FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
                " ON CONFLICT (key) DO NOTHING RETURNING key"
            ),
            {"keys": list(keys)},
        ).scalars()
    )
    results: dict[tuple[str, str], dict] = {}
    repeats = [key for key in keys if key not in claimed]
    if repeats:
        firsts = dict(
            session.execute(
                select(LedgerOperation.key, LedgerOperation.result).where(
                    LedgerOperation.key.in_(repeats)
                )
            ).all()
        )
        for key in repeats:
            e, m, _d, _r = keys[key]
            results[(e, m)] = {**(firsts.get(key) or {}), "status": "repeated"}
    mine = [key for key in keys if key in claimed]
    if not mine:
        return results
    reservations = {
        row.enrollment_id: row
        for row in session.execute(
            text(
                "SELECT enrollment_id, certificate_id, period_id, reserved FROM reservations"
                " WHERE enrollment_id = ANY(CAST(:ids AS text[])) ORDER BY enrollment_id"
                " FOR UPDATE"
            ),
            {"ids": sorted({keys[key][0] for key in mine})},
        )
    }
    certificates = {
        row.id: row
        for row in session.execute(
            select(Certificate.id, Certificate.number, Certificate.child_id, Certificate.status)
            .where(Certificate.id.in_({r.certificate_id for r in reservations.values()}))
        )
    }  # fmt: skip
    left = {e: int(r.reserved) for e, r in reservations.items()}
    taken: dict[str, list[int]] = {}  # enrollment -> [released, debited]
    balances: dict[tuple[int, int], list[int]] = {}  # (certificate, period) -> same
    entries, events, answers, frozen = [], [], {}, []
    for key in mine:
        e, m, debit, release_ = keys[key]
        reservation = reservations.get(e)
        if reservation is None:
            answers[key] = {"enrollment_id": e, "month": m, "debited": 0, "released": 0,
                            "status": "no_reservation"}  # fmt: skip
            continue
        certificate = certificates[reservation.certificate_id]
        if certificate.status == domain.FROZEN:
            # not recorded: billing retries the month once the certificate is unfrozen
            frozen.append(key)
            results[(e, m)] = {"enrollment_id": e, "month": m, "debited": 0, "released": 0,
                               "status": "frozen"}  # fmt: skip
            continue
        debited, released = domain.split_release(left[e], debit, release_)
        left[e] -= debited + released
        if debited or released:
            for totals in (
                taken.setdefault(e, [0, 0]),
                balances.setdefault((certificate.id, reservation.period_id), [0, 0]),
            ):
                totals[0] += released
                totals[1] += debited
            events.append({
                "certificate_number": certificate.number, "child_id": certificate.child_id,
                "enrollment_id": e, "period_id": reservation.period_id, "month": m,
                "debited": money(debited), "released": money(released),
            })  # fmt: skip
        for kind, amount in ((domain.DEBIT, debited), (domain.RELEASE, released)):
            if amount:
                entries.append({
                    "operation_key": key, "certificate_id": certificate.id,
                    "period_id": reservation.period_id, "kind": kind, "amount": amount,
                    "enrollment_id": e, "month": m, "reason": domain.REASONS[kind],
                })  # fmt: skip
        answers[key] = {"enrollment_id": e, "month": m, "debited": debited, "released": released,
                        "status": "short" if debited < debit else "debited"}  # fmt: skip
    if frozen:
        session.execute(
            text("DELETE FROM ledger_operations WHERE key = ANY(CAST(:k AS text[]))"),
            {"k": frozen},
        )
    if taken:
        _take_many(session, taken, balances)
    if entries:
        insert_rows(session, LedgerEntry.__table__, entries)
    emit_many(session, "funds_debited", events)
    if answers:
        session.execute(
            text(
                "UPDATE ledger_operations o SET result = v.result FROM unnest("
                " CAST(:keys AS text[]), CAST(:results AS jsonb[])) AS v(key, result)"
                " WHERE o.key = v.key"
            ),
            {"keys": list(answers), "results": [json.dumps(a) for a in answers.values()]},
        )
        for key, result in answers.items():
            results[keys[key][:2]] = result
    return results


def _take_many(
    session: Session, taken: dict[str, list[int]], balances: dict[tuple[int, int], list[int]]
) -> None:
    """Release and debit `taken` ([released, debited] per enrollment) from the locked
    reservations and their balances: two conditional UPDATEs; the balances locked first in
    one order, so concurrent batches never deadlock."""
    ids = sorted(taken)
    changed = session.execute(
        text(
            "UPDATE reservations r SET reserved = r.reserved - v.rel - v.deb,"
            " released = r.released + v.rel, debited = r.debited + v.deb"
            " FROM unnest(CAST(:ids AS text[]), CAST(:rel AS bigint[]), CAST(:deb AS bigint[]))"
            "  AS v(id, rel, deb)"
            " WHERE r.enrollment_id = v.id AND r.reserved >= v.rel + v.deb"
            " RETURNING r.enrollment_id"
        ),
        {"ids": ids, "rel": [taken[i][0] for i in ids], "deb": [taken[i][1] for i in ids]},
    ).all()
    if len(changed) != len(ids):  # we hold their locks: never expected
        raise RuntimeError("a reservation changed under its lock during a debit batch")
    pairs = sorted(balances)
    certificates, periods = [c for c, _ in pairs], [p for _, p in pairs]
    session.execute(
        text(
            "SELECT 1 FROM balances b JOIN unnest(CAST(:c AS int[]), CAST(:p AS int[]))"
            " AS v(c, p) ON b.certificate_id = v.c AND b.period_id = v.p"
            " ORDER BY b.certificate_id, b.period_id FOR UPDATE OF b"
        ),
        {"c": certificates, "p": periods},
    ).all()
    updated = session.execute(
        text(
            "UPDATE balances b SET reserved = b.reserved - v.rel - v.deb,"
            " available = b.available + v.rel, spent = b.spent + v.deb"
            " FROM unnest(CAST(:c AS int[]), CAST(:p AS int[]), CAST(:rel AS bigint[]),"
            "  CAST(:deb AS bigint[])) AS v(c, p, rel, deb)"
            " WHERE b.certificate_id = v.c AND b.period_id = v.p"
            " AND b.reserved >= v.rel + v.deb RETURNING b.certificate_id"
        ),
        {"c": certificates, "p": periods, "rel": [balances[k][0] for k in pairs],
         "deb": [balances[k][1] for k in pairs]},
    ).all()  # fmt: skip
    if len(updated) != len(pairs):  # the balance disagrees with its reservations
        raise RuntimeError("a balance lost its reservations during a debit batch")


# --- expire ------------------------------------------------------------------------------


def expire(
    session: Session, certificate: Certificate, period_id: int, key: str, reason: str
) -> dict:
    """What is available on a balance expires (period end, or the certificate's end)."""
    first = claim(session, key, domain.EXPIRE)
    if first is not None:
        return first
    row = session.execute(
        text(
            "UPDATE balances AS b SET expired = b.expired + old.available, available = 0"
            " FROM (SELECT certificate_id, period_id, available FROM balances"
            "       WHERE certificate_id = :c AND period_id = :p FOR UPDATE) AS old"
            " WHERE b.certificate_id = old.certificate_id AND b.period_id = old.period_id"
            " RETURNING old.available"
        ),
        {"c": certificate.id, "p": period_id},
    ).one_or_none()
    amount = int(row.available) if row else 0
    if amount:
        entry(session, key, certificate.id, period_id, domain.EXPIRE, amount, reason=reason)
        emit(
            session,
            "certificate_expired",
            {
                "certificate_number": certificate.number,
                "child_id": certificate.child_id,
                "period_id": period_id,
                "expired": money(amount),
                "reason": reason,
            },
        )
    return answer(session, key, {"expired": amount})
