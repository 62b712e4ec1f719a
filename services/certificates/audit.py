"""Recompute every balance and every reservation from the ledger's entries and report each
difference; the exit status is non-zero when there is one (`make audit-ledger`).

A balance is the sum of its entries: credited = credits + adjustments; reserved = reserves -
releases - debits; spent = debits; expired = expiries; available = credited - reserved -
spent - expired. A reservation's `reserved` is the same sum over its enrollment's entries.
"""

from __future__ import annotations

import sys

from sqlalchemy import text
from sqlalchemy.engine import Connection

BALANCES = text(
    """
    WITH sums AS (
      SELECT certificate_id, period_id,
        sum(amount) FILTER (WHERE kind IN ('credit', 'adjust')) AS credited,
        coalesce(sum(amount) FILTER (WHERE kind = 'reserve'), 0)
          - coalesce(sum(amount) FILTER (WHERE kind IN ('release', 'debit')), 0) AS reserved,
        coalesce(sum(amount) FILTER (WHERE kind = 'debit'), 0) AS spent,
        coalesce(sum(amount) FILTER (WHERE kind = 'expire'), 0) AS expired
      FROM ledger_entries GROUP BY certificate_id, period_id
    ), expected AS (
      SELECT certificate_id, period_id, coalesce(credited, 0) AS credited, reserved, spent,
             expired, coalesce(credited, 0) - reserved - spent - expired AS available
      FROM sums
    )
    SELECT c.number, coalesce(b.period_id, e.period_id) AS period_id,
           b.credited, b.available, b.reserved, b.spent, b.expired,
           e.credited AS e_credited, e.available AS e_available, e.reserved AS e_reserved,
           e.spent AS e_spent, e.expired AS e_expired
    FROM balances b
    FULL JOIN expected e USING (certificate_id, period_id)
    JOIN certificates c ON c.id = coalesce(b.certificate_id, e.certificate_id)
    WHERE (coalesce(b.credited, 0), coalesce(b.available, 0), coalesce(b.reserved, 0),
           coalesce(b.spent, 0), coalesce(b.expired, 0))
       IS DISTINCT FROM
          (coalesce(e.credited, 0), coalesce(e.available, 0), coalesce(e.reserved, 0),
           coalesce(e.spent, 0), coalesce(e.expired, 0))
    ORDER BY c.number, 2
    """
)

RESERVATIONS = text(
    """
    WITH sums AS (
      SELECT enrollment_id,
        coalesce(sum(amount) FILTER (WHERE kind = 'reserve'), 0) AS amount,
        coalesce(sum(amount) FILTER (WHERE kind = 'release'), 0) AS released,
        coalesce(sum(amount) FILTER (WHERE kind = 'debit'), 0) AS debited
      FROM ledger_entries WHERE enrollment_id IS NOT NULL GROUP BY enrollment_id
    )
    SELECT coalesce(r.enrollment_id, s.enrollment_id) AS enrollment_id,
           r.amount, r.released, r.debited, s.amount AS e_amount,
           s.released AS e_released, s.debited AS e_debited
    FROM reservations r FULL JOIN sums s USING (enrollment_id)
    WHERE (coalesce(r.amount, 0), coalesce(r.released, 0), coalesce(r.debited, 0))
          IS DISTINCT FROM (coalesce(s.amount, 0), coalesce(s.released, 0), coalesce(s.debited, 0))
    ORDER BY 1
    """
)


def audit(conn: Connection) -> list[str]:
    """Every difference between the stored figures and the recount, as a line of text."""
    problems = []
    names = ("credited", "available", "reserved", "spent", "expired")
    for row in conn.execute(BALANCES).mappings():
        diffs = ", ".join(
            f"{n} {row[n]} != {row['e_' + n]}"
            for n in names
            if (row[n] or 0) != (row["e_" + n] or 0)
        )
        problems.append(f"certificate {row['number']} period {row['period_id']}: {diffs}")
    for row in conn.execute(RESERVATIONS).mappings():
        diffs = ", ".join(
            f"{n} {row[n]} != {row['e_' + n]}"
            for n in ("amount", "released", "debited")
            if (row[n] or 0) != (row["e_" + n] or 0)
        )
        problems.append(f"reservation {row['enrollment_id']}: {diffs}")
    return problems


def main() -> int:
    from servicekit.db import make_engine

    engine = make_engine("certificates", pool_size=1)
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM balances")).scalar()
        problems = audit(conn)
    engine.dispose()
    for line in problems:
        print(line)
    print(f"audit-ledger: {counted} balances checked, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
