"""Reservations per second of one certificates instance, as a ratio to a trivial RPC (`ping`)
to the same instance measured in the same run by the same client.

    python -m bench.certificates_reserve [--seconds 15] [--concurrency 50] [--instances 1]

It starts its own certificates process(es) (`nameko run`) in a RabbitMQ virtual host of its
own (BENCH_VHOST) on a database of its own (`<BENCH_VHOST>_certificates`, recreated each run),
so it never touches a `make run`. Three loads, `concurrency` calls in flight each:
ping; reserve_funds spread over 1,000 financed certificates (each enrollment another child, as
on the day enrollment opens); reserve_funds all on one certificate (the hot row). The ledger is
audited afterwards.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.harness import BENCH_VHOST, ROOT, _ensure_vhost  # noqa: E402
from servicekit import config, migrate  # noqa: E402

CERTIFICATES = 1000


class BenchClient(ClusterRpcClient):
    """Publishes like the gateway's TimedClusterRpc: no reply-queue re-declaration per call
    (the listener declared it) and no publisher confirm, so the client is not the limit."""

    class publisher_cls(ClusterRpcClient.publisher_cls):  # noqa: N801 - nameko's hook name
        def __init__(self, *args, declare=None, **kwargs):
            super().__init__(*args, declare=[], **kwargs)


MUNICIPALITY = "bench"


def prepare(url: str) -> list[dict]:
    """A fresh database: a current period, a municipality with room for everyone, and
    CERTIFICATES financed certificates of 100,000.00 each."""
    from services.certificates import funding, operations
    from services.certificates.models import MunicipalFund, Period

    migrate.drop_database(url)
    migrate.create_database(url)
    migrate.upgrade("certificates", url)
    engine = sa.create_engine(url)
    today = date.today()
    start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    children = [
        {"id": 10_000 + i, "parent_id": 1, "birth_date": "2016-01-01",
         "municipality_code": MUNICIPALITY}
        for i in range(CERTIFICATES)
    ]  # fmt: skip
    with Session(engine, info={"producer": "certificates"}) as session, session.begin():
        period = Period(name="bench", start_date=start, end_date=date(start.year + 1, 8, 31))
        session.add(period)
        session.flush()
        session.add(
            MunicipalFund(
                municipality_code=MUNICIPALITY,
                period_id=period.id,
                limit_amount=10**14,
                used=0,
                bands=[{"age_from": 0, "age_to": 17, "amount": 100_000_00}],
            )
        )
        session.flush()
        for child in children:
            funding.finance(session, operations.ensure_certificate(session, child), period)
        period_id = period.id
    engine.dispose()
    return [{**c, "period_id": period_id} for c in children]


def start_instances(count: int, amqp: str, url: str, log_dir: Path) -> list:
    env = {
        **os.environ,
        "AMQP_URI": amqp,
        "CERTIFICATES_DATABASE_URL": url,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
    }
    nameko = str(Path(sys.executable).with_name("nameko"))
    processes = []
    for i in range(count):
        log = open(log_dir / f"certificates-{i}.log", "ab")  # noqa: SIM115 - closed below
        processes.append(
            subprocess.Popen(
                [nameko, "run", "--config", str(ROOT / "deploy" / "nameko.yaml"),
                 "services.certificates.service:CertificatesService"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        log.close()
    return processes


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the service processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measure(client, make_call, seconds: float, concurrency: int, pids=()) -> dict:
    """Closed loop: `concurrency` calls in flight; calls/s, latency percentiles, and the CPU
    the service processes spent per call."""
    cpu_before, client_before = cpu_seconds(list(pids)), time.process_time()
    latencies, refused = [], 0
    pending = []
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        now = time.perf_counter()
        while len(pending) < concurrency and now < deadline:
            pending.append((time.perf_counter(), make_call()))
        if not pending:
            break
        sent, reply = pending.pop(0)
        try:
            reply.result()
        except Exception:  # noqa: BLE001 - counted, e.g. insufficient funds
            refused += 1
        latencies.append((time.perf_counter() - sent) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "cpu_ms": (cpu_seconds(list(pids)) - cpu_before) * 1000 / max(1, len(latencies)),
        "client_ms": (time.process_time() - client_before) * 1000 / max(1, len(latencies)),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95) - 1],
        "errors": refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.certificates_reserve")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument(
        "--no-sync-commit",
        action="store_true",
        help="diagnosis only: the bench database does not wait for the WAL flush at commit",
    )
    args = parser.parse_args()
    _ensure_vhost(BENCH_VHOST)
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{BENCH_VHOST}"
    url = config.with_driver(f"{config.server_url()}/{BENCH_VHOST}_certificates")
    children = prepare(url)
    if args.no_sync_commit:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = sa.engine.make_url(url).database
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        admin.dispose()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-certificates-"))
    processes = start_instances(args.instances, amqp, url, log_dir)
    pids = [process.pid for process in processes]
    try:
        with BenchClient(uri=amqp, timeout=30, use_confirms=False) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.certificates.ping.call_async().result()
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if time.monotonic() > deadline:
                        sys.exit(f"certificates did not start; see {log_dir}")
                    time.sleep(0.5)
            service = client.certificates
            spread = iter(range(10**9))

            def reserve_spread():
                child = children[next(spread) % len(children)]
                return service.reserve_funds.call_async(
                    str(uuid.uuid4()), child, child["period_id"], 100, True
                )

            def reserve_hot():
                child = children[0]
                return service.reserve_funds.call_async(
                    str(uuid.uuid4()), child, child["period_id"], 100, True
                )

            measure(client, service.ping.call_async, 3, args.concurrency)  # warm up
            results = {
                "ping (ceiling)": measure(
                    client, service.ping.call_async, args.seconds, args.concurrency, pids
                ),
                "reserve_funds, 1,000 certificates": measure(
                    client, reserve_spread, args.seconds, args.concurrency, pids
                ),
                "reserve_funds, one certificate": measure(
                    client, reserve_hot, args.seconds, args.concurrency, pids
                ),
            }
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    ceiling = results["ping (ceiling)"]["rps"]
    print(
        f"certificates instances: {args.instances}, {args.concurrency} calls in flight"
        + (", synchronous_commit off (diagnosis)" if args.no_sync_commit else "")
    )
    for name, r in results.items():
        print(
            f"{name:36} {r['rps']:7.0f} calls/s  ratio to ping {r['rps'] / ceiling:5.2f}"
            f"  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  errors {r['errors']}"
            f"  CPU per call: service {r['cpu_ms']:4.1f} ms, client {r['client_ms']:4.1f} ms"
        )
    from services.certificates.audit import audit

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        problems = audit(conn)
    engine.dispose()
    print(f"audit-ledger after the run: {len(problems)} differences")


if __name__ == "__main__":
    main()
