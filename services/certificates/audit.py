"""Recompute every balance and every reservation from the ledger's entries and report each
difference; the exit status is non-zero when there is one (`make audit-ledger`).

With `--applications` (what `make audit-ledger` runs) it also asks enrollment for its
applications (`money_states`, read-only, paged) and names every reservation that holds
money no live application stands behind, and every application that should hold money
whose reservation holds none. Enrollment not answering is exit status 2, never "clean".

A balance is the sum of its entries: credited = credits + adjustments; reserved = reserves -
releases - debits; spent = debits; expired = expiries; available = credited - reserved -
spent - expired. A reservation's `reserved` is the same sum over its enrollment's entries.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

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


HELD = text("SELECT enrollment_id, reserved, amount FROM reservations ORDER BY enrollment_id")
# the application's money is with a live application or a contract (payments bills and
# releases it month by month); in flight ('pending', 'release_pending') the recovery settles
HOLDS_MONEY = ("reserved", "contract")
CLOSED = ("rejected", "cancelled", "expired")


def against_applications(conn: Connection, applications: Iterable[dict]) -> list[str]:
    """Reservations against enrollment's applications ({enrollment_id, status, money,
    share}), each difference named: money held for an application enrollment does not have,
    whose money it released, or that is closed; an application holding a share that its
    reservation does not hold."""
    held = {row.enrollment_id: row for row in conn.execute(HELD)}
    known = {}
    problems = []
    for app in applications:
        known[app["enrollment_id"]] = app
    for enrollment_id, row in held.items():
        if not row.reserved:
            continue
        app = known.get(enrollment_id)
        if app is None:
            problems.append(f"reservation {enrollment_id}: holds {row.reserved} kopecks but"
                            " enrollment has no such application")  # fmt: skip
        elif app["money"] == "released" or (
            app["status"] in CLOSED and app["money"] in HOLDS_MONEY
        ):
            problems.append(
                f"reservation {enrollment_id}: holds {row.reserved} kopecks but the application"
                f" is {app['status']} with its money {app['money']}"
            )
    for enrollment_id, app in known.items():
        if app["money"] != "reserved" or app["status"] in CLOSED or not app.get("share"):
            continue
        row = held.get(enrollment_id)
        if row is None or not row.amount:
            problems.append(
                f"application {enrollment_id} ({app['status']}): should hold {app['share']}"
                " kopecks but has no reservation"
            )
    return problems


def enrollment_pages(ask: Callable[[str | None, int], list[dict]], page: int = 5000):
    """Every application, page by page (enrollment's `money_states`)."""
    after = None
    while True:
        rows = ask(after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1]["enrollment_id"]


def _ask_enrollment():
    from nameko import config as nameko_config
    from nameko.standalone.rpc import ClusterRpcClient

    from servicekit import config

    timeout = float(config.env("AUDIT_RPC_TIMEOUT", "30"))
    with nameko_config.patch({"AMQP_URI": config.amqp_uri(), "serializer": "json"}):
        with ClusterRpcClient(timeout=timeout) as rpc:
            return list(enrollment_pages(rpc.enrollment.money_states))


def main(argv: list[str] | None = None) -> int:
    from servicekit.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m services.certificates.audit")
    parser.add_argument(
        "--applications",
        action="store_true",
        help="also check reservations against enrollment's applications",
    )
    args = parser.parse_args(argv)
    applications = None
    if args.applications:
        try:
            applications = _ask_enrollment()
        except Exception as exc:  # noqa: BLE001 - any failure: the check was not done
            print(f"audit-ledger: enrollment did not answer ({type(exc).__name__}: {exc});"
                  " reservations not checked against applications", file=sys.stderr)  # fmt: skip
            return 2
    engine = make_engine("certificates", pool_size=1)
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT count(*) FROM balances")).scalar()
        problems = audit(conn)
        if applications is not None:
            problems += against_applications(conn, applications)
    engine.dispose()
    for line in problems:
        print(line)
    checked = f", {len(applications)} applications" if applications is not None else ""
    print(f"audit-ledger: {counted} balances{checked} checked, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
