"""Monthly billing of 100,000 active contracts while parents search the catalog.

    make bench-billing        # CONTRACTS=100000 MONTH=2026-10

It truncates tables, so it runs only on databases it created itself, named navigator_bench_...
(bench/databases.py refuses anything else, and production).

Prepared directly in the databases (untimed): the contracts with their schedules and the
month's lessons in payments; in certificates a period, a financing certificate per child
with its nominal credited and the contract's share reserved, each written as ledger entries,
so `audit-ledger` holds before and after. Then, in the same run of the system:

1. idle: the catalog search mix (bench/catalog_search.py, gateway cache off so every search
   reaches the database) for a few 10-second chunks -> p95;
2. billing: POST /api/v1/billing/runs {month}, and the same search chunks until the run is
   completed -> contracts/s and the search p95 during billing;
3. checks: one posted charge per contract, debits in certificates equal to the charges, the
   ledger audit clean.
"""

import argparse
import os
import statistics
import time
from datetime import date

import requests
import sqlalchemy as sa

from bench import databases
from bench.catalog_search import request_mix, vocabulary
from bench.harness import run_wrk, running_system
from contracts.cost import contract_terms
from servicekit import clock, config, migrate
from servicekit.tokens import issue_access_token

START = date(2026, 9, 1)
END = date(2027, 5, 31)
PAYERS = ("krasnoyarsk", "norilsk", "achinsk", "kansk", "minusinsk", "lesosibirsk")
DIRECTIONS = ("technical", "natural_science", "sports", "arts", "tourism", "social_humanitarian")
TUE_THU = '[{"weekday": 2, "start": "16:00", "end": "17:30"}, ' \
          '{"weekday": 4, "start": "16:00", "end": "17:30"}]'  # fmt: skip
NOMINAL = 5_000_000
# (start date, price, normative): full year; from mid-October; price above the normative
TEMPLATES = (
    (date(2026, 9, 1), 2_730_000, 3_000_000),
    (date(2026, 10, 15), 2_730_000, 3_000_000),
    (date(2026, 9, 1), 3_000_000, 2_400_000),
    (date(2026, 9, 15), 1_820_000, 1_820_000),
)


def engine(service: str):
    return sa.create_engine(config.database_url(service))


def prepare_payments(contracts: int, month: str) -> None:
    with engine("payments").begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE attendance, lessons, charges, billing_runs, invoices, contract_months, "
                "contracts, municipality_settings, outbox, processed_events RESTART IDENTITY "
                "CASCADE"
            )
        )
        for index, (start, price, normative) in enumerate(TEMPLATES):
            terms = contract_terms(
                group_start=START, group_end=END, period_start=START,
                period_end=date(2027, 8, 31), start_date=start, group_price=price,
                group_normative=normative, available=NOMINAL,
            )  # fmt: skip
            conn.execute(
                sa.text(
                    """
                    INSERT INTO contracts (id, enrollment_id, child_id, parent_id, group_id,
                      program_id, organization_id, organization_municipality_code,
                      payer_municipality_code, direction, registry_code, certificate_number,
                      start_date, end_date, planned_end_date, total, normative_cost,
                      certificate_share, copay, group_schedule, status)
                    SELECT n, 'bench-' || lpad(n::text, 10, '0'), 1000000 + n, 2000000 + n / 2,
                      3000000 + n / 10, 4000000 + n / 40, 5000000 + n / 200, 'krasnoyarsk',
                      (:payers)[1 + n % 6], (:directions)[1 + (n / 10) % 6], 'certified',
                      lpad((1000000 + n)::text, 10, '0'), :start, :end, :end, :total,
                      :normative, :share, :copay, CAST(:schedule AS jsonb), 'active'
                    FROM generate_series(1, :count) AS n WHERE n % 4 = :template
                    """
                ),
                {
                    "payers": list(PAYERS), "directions": list(DIRECTIONS),
                    "start": terms.start_date, "end": terms.end_date, "total": terms.total,
                    "normative": terms.normative_cost, "share": terms.certificate_share,
                    "copay": terms.copay, "schedule": TUE_THU, "count": contracts,
                    "template": index,
                },
            )  # fmt: skip
            for part in terms.schedule:
                conn.execute(
                    sa.text(
                        "INSERT INTO contract_months (contract_id, month, certificate, copay) "
                        "SELECT id, :month, :certificate, :copay FROM contracts "
                        "WHERE id % 4 = :template"
                    ),
                    {"month": part.month, "certificate": part.certificate, "copay": part.copay,
                     "template": index},
                )  # fmt: skip
        conn.execute(sa.text("SELECT setval('contracts_id_seq', :n)"), {"n": contracts})
        # the month's lessons: every group held them all but every third group cancelled one
        first, last = month_bounds(month)
        conn.execute(
            sa.text(
                """
                INSERT INTO lessons (group_id, lesson_date, start_time, status)
                SELECT g, d::date, '16:00',
                  CASE WHEN g % 3 = 0 AND extract(day FROM d) <= 7 THEN 'cancelled'
                       ELSE 'held' END
                FROM (SELECT DISTINCT group_id AS g FROM contracts) groups,
                     generate_series(CAST(:first AS date), CAST(:last AS date), '1 day') d
                WHERE extract(isodow FROM d) IN (2, 4)
                """
            ),
            {"first": first, "last": last},
        )
        conn.execute(sa.text("ANALYZE"))


def month_bounds(month: str) -> tuple[date, date]:
    from services.payments.domain import parse_month

    return parse_month(month)


def prepare_certificates(contracts: int) -> None:
    """A period, a financing certificate per child credited its nominal, each contract's
    share reserved: as balances, reservations and the ledger entries they add up from."""
    with engine("certificates").begin() as conn:
        tables = [
            t for t in ("financing_queue", "ledger_entries", "ledger_operations",
                        "reservations", "balances", "certificates", "municipal_funds",
                        "nominal_rules", "periods", "outbox", "processed_events")
            if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": t}).scalar()
        ]  # fmt: skip
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        period = conn.execute(
            sa.text(
                "INSERT INTO periods (name, start_date, end_date, status) "
                "VALUES ('2026/2027', '2026-09-01', '2027-08-31', 'open') RETURNING id"
            )
        ).scalar()
        shares = {index: None for index in range(4)}
        for index, (start, price, normative) in enumerate(TEMPLATES):
            shares[index] = contract_terms(
                group_start=START, group_end=END, period_start=START,
                period_end=date(2027, 8, 31), start_date=start, group_price=price,
                group_normative=normative, available=NOMINAL,
            ).certificate_share  # fmt: skip
        share = "(CASE n % 4 WHEN 0 THEN :s0 WHEN 1 THEN :s1 WHEN 2 THEN :s2 ELSE :s3 END)"
        params = {"count": contracts, "period": period, "nominal": NOMINAL}
        params.update({f"s{i}": amount for i, amount in shares.items()})
        statements = [
            """INSERT INTO certificates (id, number, child_id, parent_id, municipality_code,
                 birth_date, type, status, valid_until)
               SELECT n, lpad((1000000 + n)::text, 10, '0'), 1000000 + n, 2000000 + n / 2,
                 'krasnoyarsk', '2016-05-20', 'financing', 'active', '2034-05-20'
               FROM generate_series(1, :count) n""",
            """INSERT INTO ledger_operations (key, kind, result)
               SELECT 'credit:' || n || ':' || :period, 'credit', NULL::jsonb
               FROM generate_series(1, :count) n
               UNION ALL
               SELECT 'reserve:bench-' || lpad(n::text, 10, '0'), 'reserve', NULL::jsonb
               FROM generate_series(1, :count) n""",
            """INSERT INTO ledger_entries (operation_key, certificate_id, period_id, kind,
                 amount, enrollment_id, reason)
               SELECT 'credit:' || n || ':' || :period, n, :period, 'credit', :nominal, NULL,
                 'номинал периода'
               FROM generate_series(1, :count) n
               UNION ALL
               SELECT 'reserve:bench-' || lpad(n::text, 10, '0'), n, :period, 'reserve',
                 SHARE, 'bench-' || lpad(n::text, 10, '0'), 'резерв по заявке'
               FROM generate_series(1, :count) n""",
            """INSERT INTO balances (certificate_id, period_id, nominal, credited, available,
                 reserved, spent, expired)
               SELECT n, :period, :nominal, :nominal, :nominal - SHARE, SHARE, 0, 0
               FROM generate_series(1, :count) n""",
            """INSERT INTO reservations (enrollment_id, certificate_id, period_id, amount,
                 reserved, released, debited)
               SELECT 'bench-' || lpad(n::text, 10, '0'), n, :period, SHARE, SHARE, 0, 0
               FROM generate_series(1, :count) n""",
        ]
        for statement in statements:
            conn.execute(sa.text(statement.replace("SHARE", share)), params)
        conn.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('certificates', 'id'), :n)"),
            {"n": contracts},
        )
        conn.execute(sa.text("ANALYZE"))


def audit_ledger() -> list[str]:
    from services.certificates.audit import audit

    with engine("certificates").connect() as conn:
        return audit(conn)


def search_chunks(base_url, paths, seconds, connections, until=None, chunks=None):
    results = []
    while True:
        results.append(run_wrk(base_url, paths, seconds, connections))
        if chunks is not None and len(results) >= chunks:
            return results
        if until is not None and until():
            return results


def print_search(args, ping: dict, idle: list[dict], busy: list[dict], while_: str) -> None:
    """The catalog search's latency idle and while the billing (or its half) ran, per chunk
    and as the ratio of the medians of their p95 (the goal: at most 1.5)."""
    print(f"ceiling in this run: ping {ping['rps']:.0f} req/s, p95 {ping['p95']:.1f} ms")
    for label, chunks in (("idle", idle), (while_, busy)):
        print(
            f"search {label:15} p95 per {args.chunk}s chunk: "
            + ", ".join(f"{r['p95']:.1f}" for r in chunks)
            + f" ms; {statistics.mean(r['rps'] for r in chunks):.0f} req/s"
        )
    idle_p95 = statistics.median(r["p95"] for r in idle)
    busy_p95 = statistics.median(r["p95"] for r in busy)
    print(f"search p95 {while_} / idle: {busy_p95 / idle_p95:.2f} (goal <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.billing")
    parser.add_argument("--contracts", type=int, default=int(os.environ.get("CONTRACTS", 100_000)))
    parser.add_argument("--month", default=os.environ.get("MONTH", "2026-10"))
    parser.add_argument("--chunk", type=int, default=10, help="seconds of one wrk chunk")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--workers", default=os.environ.get("BILLING_WORKERS", "2"))
    parser.add_argument(
        "--charge-only",
        action="store_true",
        default=os.environ.get("CHARGE_ONLY") == "1",
        help="only payments' half (charging, in this process), for a system without the "
        "certificates service: nothing is debited",
    )
    args = parser.parse_args()
    if args.charge_only:
        charge_only(args)
        return

    for service in databases.claim():
        migrate.upgrade(service)
    from deploy.seed import seed_catalog

    print(seed_catalog(if_empty=True))
    started = time.monotonic()
    prepare_payments(args.contracts, args.month)
    prepare_certificates(args.contracts)
    problems = audit_ledger()
    print(
        f"prepared {args.contracts} contracts and certificates in "
        f"{time.monotonic() - started:.0f} s; ledger audit: {len(problems)} differences"
    )
    words, towns = vocabulary()
    paths = request_mix(3000, words, towns)
    token = issue_access_token({"sub": "1", "role": "regional_operator"}, ttl=3600)
    regional = {"Authorization": f"Bearer {token}"}
    env = {"SEARCH_CACHE_SECONDS": "0", "BILLING_WORKERS": args.workers, "LOG_LEVEL": "WARNING"}
    with running_system(env=env) as base_url:
        api = f"{base_url}/api/v1"
        run_wrk(base_url, paths, 3, args.connections)  # warm up pools
        ping = run_wrk(base_url, ["/api/v1/ping"], args.chunk, args.connections)
        idle = search_chunks(base_url, paths, args.chunk, args.connections, chunks=3)

        response = requests.post(
            f"{api}/billing/runs", json={"month": args.month}, headers=regional, timeout=30
        )
        response.raise_for_status()
        run_id = response.json()["id"]
        billing_started = time.monotonic()
        finished = {}

        def done() -> bool:
            state = requests.get(f"{api}/billing/runs/{run_id}", headers=regional, timeout=30)
            state.raise_for_status()
            body = state.json()
            print(
                f"  billing: {body['posted']}/{body['contracts_total']} posted, "
                f"{body['pending']} pending, {body['status']}"
            )
            if body["status"] == "completed" and "at" not in finished:
                finished["at"] = time.monotonic()
                finished["body"] = body
            return body["status"] == "completed"

        during = search_chunks(base_url, paths, args.chunk, args.connections, until=done)
        while not done():
            time.sleep(1)
        elapsed = finished["at"] - billing_started
        body = finished["body"]

    with engine("payments").connect() as conn:
        charges, posted, distinct = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE status = 'posted'), "
                "count(DISTINCT contract_id) FROM charges WHERE month = :m"
            ),
            {"m": args.month},
        ).one()
        charged = conn.execute(
            sa.text("SELECT coalesce(sum(debited), 0) FROM charges WHERE month = :m"),
            {"m": args.month},
        ).scalar()
    with engine("certificates").connect() as conn:
        debited = conn.execute(
            sa.text("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'debit'")
        ).scalar()
    problems = audit_ledger()

    print(f"\nbilling of {args.month}: {body['contracts_total']} contracts in {elapsed:.1f} s "
          f"= {body['posted'] / elapsed:.0f} contracts/s (goal: under 120 s)")  # fmt: skip
    print(f"charges {charges}, posted {posted}, distinct contracts {distinct}; "
          f"debited in payments {charged} = in the certificates ledger {debited}: "
          f"{charged == debited}; ledger audit differences: {len(problems)}")  # fmt: skip
    print_search(args, ping, idle, during, "during billing")


def charge_only(args) -> None:
    """Payments' half of a run (the charge step of every contract, in this process) while the
    search mix runs, against the same search idle: what billing costs without certificates."""
    import threading

    from sqlalchemy.orm import sessionmaker

    from servicekit.db import make_engine
    from services.payments import billing

    for service in databases.claim():
        migrate.upgrade(service)
    from deploy.seed import seed_catalog

    print(seed_catalog(if_empty=True))
    prepare_payments(args.contracts, args.month)
    words, towns = vocabulary()
    paths = request_mix(3000, words, towns)
    factory = sessionmaker(make_engine("payments", pool_size=2), expire_on_commit=False)
    with running_system(env={"SEARCH_CACHE_SECONDS": "0", "LOG_LEVEL": "WARNING"}) as base_url:
        run_wrk(base_url, paths, 3, args.connections)
        ping = run_wrk(base_url, ["/api/v1/ping"], args.chunk, args.connections)
        idle = search_chunks(base_url, paths, args.chunk, args.connections, chunks=3)
        finished = threading.Event()
        timing = {}

        def charge_all():
            with factory() as session, session.begin():
                run = billing.start_run(session, args.month, None, clock.today())
            started, after = time.monotonic(), 0
            while True:
                with factory() as session, session.begin():
                    last = billing.charge_batch(session, session.get(BillingRun, run.id), after)
                if not last:
                    break
                after = last
            timing["seconds"] = time.monotonic() - started
            finished.set()

        from services.payments.models import BillingRun

        worker = threading.Thread(target=charge_all)
        worker.start()
        during = search_chunks(base_url, paths, args.chunk, args.connections, until=finished.is_set)
        worker.join()
    with engine("payments").connect() as conn:
        charges, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT contract_id) FROM charges WHERE month = :m"),
            {"m": args.month},
        ).one()
    print(f"\ncharging {args.month} (payments' half only, nothing debited): {charges} charges "
          f"({distinct} contracts) in {timing['seconds']:.1f} s = "
          f"{charges / timing['seconds']:.0f} contracts/s")  # fmt: skip
    print_search(args, ping, idle, during, "while charging")


if __name__ == "__main__":
    main()
