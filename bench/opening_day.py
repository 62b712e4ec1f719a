"""Opening day: 15,000 applications from distinct children to popular groups with 10,000 seats
in total, through the gateway from 200 concurrent clients (wrk), against the trivial gateway
RPC (`GET /api/v1/ping`) measured in the same run; then the invariants, checked in the
databases and on a queue bound as docs/asyncapi.yaml says.

    make bench-opening-day       # APPLICATIONS=15000 SEATS=10000 CLIENTS=200 SCALE=enrollment=2

Preparation is untimed and goes straight into the databases of the run (their names come
from the environment, e.g. CATALOG_DATABASE_NAME; bench/databases.py refuses any it did not
create itself, or not named navigator_bench_...): an organization with `GROUPS` certified
groups, parents with one child each and tokens minted by the development key, a period with
a nominal that covers one application per child.
"""

import argparse
import json
import os
import sys
import time
import uuid

import sqlalchemy as sa
from kombu import Connection

from bench import databases
from bench.harness import (
    BENCH_VHOST,
    ROOT,
    cpu_by_part,
    deliveries_by_queue,
    run_wrk,
    running_system,
)
from servicekit import clock, config, migrate
from servicekit.tokens import issue_access_token

sys.path.insert(0, str(ROOT / "examples"))
import integrator  # noqa: E402

# no start_date: each contract starts on the business day it is made (a fixed date in the past
# is refused since issue 18, `start_in_past`: every application of a run after it was 422)


def engine(owner: str):
    return sa.create_engine(config.database_url(owner))


def prepare(applications: int, seats: int, groups: int) -> dict:
    """Fresh databases of this run, migrated, and the data of opening day."""
    for owner, url in databases.claim().items():
        databases.recreate(url)
        migrate.upgrade(owner, url)
    catalog, accounts, certificates = engine("catalog"), engine("accounts"), engine("certificates")
    from tests.support import enrollment as data

    org = data.organization(catalog)
    per_group = seats // groups
    group_ids = [
        data.group(catalog, org, capacity=per_group, price=900_000, normative=900_000)
        for _ in range(groups)
    ]
    data.period(certificates, nominal=1_000_000)
    parents, children = [], []
    for start in range(0, applications, 1000):
        batch = min(1000, applications - start)
        with accounts.begin() as conn:
            ids = (
                conn.execute(
                    sa.text(
                        "INSERT INTO users (email, password_hash, full_name, role, is_active)"
                        " SELECT 'bench-' || g || '-' || :run || '@example.ru', 'x', 'Родитель',"
                        " 'parent', true FROM generate_series(1, :n) g RETURNING id"
                    ),
                    {"n": batch, "run": uuid.uuid4().hex[:8]},
                )
                .scalars()
                .all()
            )
        for parent_id in ids:
            parents.append(parent_id)
        for parent_id in ids:
            children.extend(data.children(accounts, parent_id, 1))
    ready = certificates_ready(certificates, parents, children)
    children_known(parents, children)
    # popular groups: children spread over them, more than seats in every one
    plan = [
        {"parent": parents[i], "child": children[i], "group": group_ids[i % groups]}
        for i in range(applications)
    ]
    for engine_ in (catalog, accounts, certificates):
        engine_.dispose()
    vacuumed()
    return {"organization": org, "groups": group_ids, "plan": plan, "per_group": per_group,
            "financed": ready}  # fmt: skip


def vacuumed() -> None:
    """In the days before opening day autovacuum (PostgreSQL's default, and production's;
    this machine's server runs with it off, conf.d/90-ci.conf) has vacuumed and analyzed
    what was written then: without it the planner knows none of the rows just prepared, and
    the outbox keeps the index entries of every event marked sent during the preparation."""
    for owner in config.DATABASE_OWNERS:
        vacuum = sa.create_engine(config.database_url(owner), isolation_level="AUTOCOMMIT")
        with vacuum.connect() as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        vacuum.dispose()


def children_known(parents: list[int], children: list[int]) -> None:
    """Enrollment's projection of the children (issue 20), as accounts' `child_changed` of
    each registration fills it: an application reads the child there, not by RPC."""
    from datetime import date

    enrollment = engine("enrollment")
    with enrollment.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO children (child_id, parent_id, birth_date, municipality_code,"
                " changed_at) SELECT c, p, :birth, 'krasnoyarsk', :at"
                " FROM unnest(CAST(:children AS int[]), CAST(:parents AS int[])) AS u(c, p)"
            ),
            {"children": children, "parents": parents, "birth": date(2017, 3, 1),
             "at": clock.now()},
        )  # fmt: skip
    enrollment.dispose()


def certificates_ready(certificates, parents: list[int], children: list[int]) -> int:
    """What the system does before opening day, which the children written straight into
    accounts skipped: each child's certificate issued as accounts' `child_registered` has
    certificates do, and financed as the calendar's `finance_registered` does (issue 20).
    Answers how many it financed."""
    from datetime import date

    from services.certificates import operations, rollover

    factory = rollover.sessions_on(certificates)
    for start in range(0, len(children), 500):
        with factory() as session, session.begin():
            for parent, child in zip(parents[start:start + 500], children[start:start + 500],
                                     strict=True):  # fmt: skip
                operations.ensure_certificate(session, {
                    "id": child, "parent_id": parent, "birth_date": date(2017, 3, 1),
                    "municipality_code": "krasnoyarsk",
                })  # fmt: skip
    financed = rollover.finance_registered(factory, clock.today())
    # their events (certificate_issued, certificate_type_changed) went out in the days before:
    # published at the system's start, thousands of them would be handled (letters, accounts
    # RPCs) during the measured applications, which is not opening day's work
    with certificates.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))
    return financed


PARTS = {
    "gateway": "gateway.service:",
    "enrollment": "enrollment.service:",
    "accounts": "accounts.service:",
    "certificates": "certificates.service:",
    "catalog": "services.catalog.service:",
    "payments": "payments.service:",
    "notifications": "notifications.service:",
}


def apply_all(base_url: str, plan: list[dict], clients: int, keys: bool = True) -> dict:
    """Every application of the plan sent once, in plan order, by `clients` concurrent
    clients, each on one kept-alive connection (as browsers behind nginx would be), each
    with an `Idempotency-Key` of its own as the portal sends it (`keys`; without, the
    path of a client that sends none: no idempotency record, no operation id).

    A small eventlet client rather than wrk: wrk cannot stop when the last application is
    answered, and its Lua stop logic hung a run until its duration ran out. The client's own
    cost is a fraction of a millisecond per request; it is measured and printed."""
    import eventlet
    from eventlet.green.http import client as http

    host, port = base_url.removeprefix("http://").split(":")
    requests_ = []
    for item in plan:
        token = issue_access_token({"sub": str(item["parent"]), "role": "parent"}, ttl=7200)
        body = json.dumps({"child_id": item["child"], "group_id": item["group"]})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        if keys:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        requests_.append((headers, body))
    pending = iter(requests_)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = []

    def client() -> None:
        connection = http.HTTPConnection(host, int(port), timeout=60)
        for headers, body in pending:
            sent = time.monotonic()
            try:
                connection.request("POST", "/api/v1/enrollments", body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.HTTPException) as error:
                errors.append(repr(error))
                connection.close()
                connection = http.HTTPConnection(host, int(port), timeout=60)
                continue
            latencies.append(time.monotonic() - sent)
            statuses[response.status] = statuses.get(response.status, 0) + 1
        connection.close()

    cpu = time.process_time()
    started = time.monotonic()
    pool = eventlet.GreenPool(clients)
    for _ in range(clients):
        pool.spawn(client)
    pool.waitall()
    seconds = time.monotonic() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000

    return {
        "applications": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50": percentile(50),
        "p95": percentile(95),
        "p99": percentile(99),
        "statuses": statuses,
        "non2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "socket_errors": len(errors),
        "client_cpu_ms": (time.process_time() - cpu) * 1000 / max(1, len(requests_)),
    }


# what a run's invariants read, here and in chaos.py: the applications standing with money
# reserved and the certificate share each should hold (enrollment's database), the
# reservations that hold money and the balances below zero (the certificates' database)
def live_reserved(conn) -> dict[str, int]:
    return dict(
        conn.execute(
            sa.text(
                "SELECT id::text, (terms->>'certificate_share')::bigint FROM enrollments"
                " WHERE status IN ('awaiting_provider', 'waitlisted') AND money = 'reserved'"
            )
        ).all()
    )


def reservations_held(conn) -> dict[str, int]:
    return dict(
        conn.execute(
            sa.text("SELECT enrollment_id, reserved FROM reservations WHERE reserved > 0")
        ).all()
    )


def below_zero(conn) -> int:
    return conn.execute(sa.text("SELECT count(*) FROM balances WHERE available < 0")).scalar()


def invariants(prepared: dict, queue_name: str, amqp: str) -> list[tuple[str, bool, str]]:
    catalog, certificates = engine("catalog"), engine("certificates")
    enrollment = engine("enrollment")
    checks = []
    with enrollment.connect() as conn:
        over = conn.execute(
            sa.text("SELECT count(*) FROM groups WHERE held + enrolled > capacity")
        ).scalar()
        checks.append(("no group over capacity", over == 0, f"{over} over"))
        mismatched = conn.execute(
            sa.text(
                "SELECT count(*) FROM groups g WHERE g.held + g.enrolled <>"
                " (SELECT count(*) FROM seat_holds h WHERE h.group_id = g.id)"
                " OR g.held + g.enrolled <> (SELECT count(*) FROM enrollments e WHERE"
                " e.group_id = g.id AND e.seat_held)"
            )
        ).scalar()
        checks.append(("held-or-enrolled = seats taken = seated applications",
                       mismatched == 0, f"{mismatched} groups differ"))  # fmt: skip
        counts = dict(
            conn.execute(sa.text("SELECT status, count(*) FROM enrollments GROUP BY status")).all()
        )
        seated = counts.get("awaiting_provider", 0)
        waiting = counts.get("waitlisted", 0)
        full = conn.execute(
            sa.text("SELECT count(*) FROM groups WHERE held + enrolled = capacity")
        ).scalar()
        everyone = seated + waiting == len(prepared["plan"])
        checks.append(("every group full, the rest waitlisted",
                       full == len(prepared["groups"]) and everyone,
                       f"{seated} seated, {waiting} waitlisted, {full} full groups, "
                       f"statuses {counts}"))  # fmt: skip
        disorder = conn.execute(
            sa.text(
                "SELECT count(*) FROM groups g WHERE"
                " (SELECT max(arrival) FROM enrollments WHERE group_id = g.id AND seat_held)"
                " > (SELECT min(arrival) FROM enrollments WHERE group_id = g.id"
                " AND status = 'waitlisted')"
            )
        ).scalar()
        checks.append(("seats went to the first arrivals, the list is in arrival order",
                       disorder == 0, f"{disorder} groups out of order"))  # fmt: skip
        live = live_reserved(conn)
        stuck = conn.execute(
            sa.text(
                "SELECT count(*) FROM enrollments WHERE money IN ('pending', 'release_pending')"
            )
        ).scalar()
        # every event of enrollment's outbox (its applications' and its groups' seats)
        events = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar()
        taken = dict(conn.execute(sa.text("SELECT id, held + enrolled FROM groups")).all())
    with catalog.connect() as conn:
        told = dict(
            conn.execute(
                sa.text("SELECT id, held + enrolled FROM study_groups WHERE id = ANY(:ids)"),
                {"ids": list(taken)},
            ).all()
        )
    behind = sum(told.get(g) != n for g, n in taken.items())
    checks.append(("the catalog's free seats (its projection) = enrollment's seats",
                   behind == 0, f"{behind} groups behind"))  # fmt: skip
    with certificates.connect() as conn:
        negative = below_zero(conn)
        reservations = reservations_held(conn)
    checks.append(("no certificate below zero", negative == 0, f"{negative} below zero"))
    matched = reservations == live
    orphans = len(set(reservations) - set(live))
    checks.append(("every reservation = exactly one live application, none left behind",
                   matched and stuck == 0,
                   f"{len(reservations)} reservations, {len(live)} live applications, "
                   f"{orphans} orphaned, {stuck} unsettled"))  # fmt: skip
    received, ids = 0, set()
    duplicates = 0
    errors = integrator.validator(integrator.load_catalog())
    invalid = 0
    with Connection(amqp) as connection:
        queue = integrator.bind(connection, queue_name, ["enrollment.events"], ["#"])
        for exchange, body in integrator.events(connection, queue, timeout=10):
            received += 1
            duplicates += body["event_id"] in ids
            ids.add(body["event_id"])
            invalid += bool(errors(exchange, body))
        connection.channel().queue_delete(queue_name)
    checks.append(("every enrollment.events event received once by an AsyncAPI-bound queue",
                   len(ids) == events and duplicates == 0 and invalid == 0,
                   f"{events} in the outbox, {len(ids)} received, {duplicates} duplicates, "
                   f"{invalid} invalid"))  # fmt: skip
    catalog.dispose()
    enrollment.dispose()
    certificates.dispose()
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.opening_day")
    parser.add_argument("--applications", type=int, default=15_000)
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--scale", default=os.environ.get("SCALE", "enrollment=2"))
    parser.add_argument(
        "--no-idempotency-keys", dest="keys", action="store_false",
        help="send no Idempotency-Key (the portal sends one with every application)",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"preparing {args.applications} children and {args.groups} groups "
          f"({args.seats} seats)...", flush=True)  # fmt: skip
    prepared = prepare(args.applications, args.seats, args.groups)
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{BENCH_VHOST}"
    queue_name = f"bench-integrator-{uuid.uuid4().hex[:8]}"
    env = {"ENROLLMENT_SWEEP_SECONDS": "5", "RPC_TIMEOUT": "30"}
    with running_system(scale=args.scale, env=env) as base_url:
        with Connection(amqp) as connection:  # bound before the first application
            integrator.bind(connection, queue_name, ["enrollment.events"], ["#"])
        run_wrk(base_url, ["/api/v1/ping"], 3, args.clients)  # warm up
        ping = run_wrk(base_url, ["/api/v1/ping"], 10, args.clients)
        print(f"{prepared['financed']} certificates issued and financed before opening day; "
          f"applying with {args.clients} clients, "
          f"{'each with an Idempotency-Key' if args.keys else 'without Idempotency-Keys'}...",
          flush=True)  # fmt: skip
        time.sleep(6)  # RabbitMQ samples its statistics every 5 s: the pings' RPCs are in
        before, delivered_before = cpu_by_part(PARTS), deliveries_by_queue()
        applied = apply_all(base_url, prepared["plan"], args.clients, args.keys)
        # what the last answers set going (events to the catalog, accounts, the letters) is
        # part of an application's cost: counted once the relays drained the outbox
        time.sleep(3)
        after = cpu_by_part(PARTS)
        time.sleep(6)  # RabbitMQ's statistics are sampled every 5 s
        delivered = deliveries_by_queue()
        ping_after = run_wrk(base_url, ["/api/v1/ping"], 10, args.clients)
        checks = invariants(prepared, queue_name, amqp)
    ceiling = (ping["rps"] + ping_after["rps"]) / 2
    print()
    print(f"applications        {applied['applications']:6d} in {applied['seconds']:.1f} s = "
          f"{applied['rps']:.0f}/s   p50 {applied['p50']:.0f} ms  p95 {applied['p95']:.0f} ms"
          f"  p99 {applied['p99']:.0f} ms  non-2xx {applied['non2xx']}"
          f"  socket errors {applied['socket_errors']}")  # fmt: skip
    print(f"                    statuses {applied['statuses']}, the client's own CPU "
          f"{applied['client_cpu_ms']:.2f} ms per application")  # fmt: skip
    print(f"ping (same run)     {ceiling:6.0f}/s (before {ping['rps']:.0f}, after "
          f"{ping_after['rps']:.0f})   p95 {ping['p95']:.0f} ms")  # fmt: skip
    print(f"ratio applications/ping  {applied['rps'] / ceiling:.2f}")
    per = max(applied["applications"], 1)
    print("CPU ms per application: " + ", ".join(
        f"{part} {(after[part] - before[part]) * 1000 / per:.1f}" for part in after
    ))  # fmt: skip
    flows = {k: v - delivered_before.get(k, 0) for k, v in delivered.items()}
    flows = sorted(((v / per, k) for k, v in flows.items() if v > 0), reverse=True)
    print(f"messages delivered per application: {sum(v for v, _k in flows):.1f}: " + ", ".join(
        f"{k} {v:.2f}" for v, k in flows
    ))  # fmt: skip
    print()
    failed = 0
    for name, ok, detail in checks:
        failed += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {name}: {detail}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
