"""The fault campaign of issue 20: `make chaos` (or `python -m bench.chaos`).

Each scenario runs on a system of its own: fresh databases (navigator_bench_chaos_*, which
bench/databases.py lets a benchmark wipe), a RabbitMQ virtual host of its own reached through
a TCP proxy of its own (bench/tcp_proxy.py: cutting it takes the broker away from this system
only, never from the shared server), every Procfile line its own process, and an integrator's
durable queue bound to every service's event exchange before the first request. A few hundred
parents apply at once through the gateway, each with its own Idempotency-Key, repeating after
a 503 or a lost connection with the same key as a browser would (for up to PATIENCE seconds,
after Retry-After). Meanwhile the scenario's fault: SIGKILL of a process (restarted a second later,
as a supervisor would), SIGSTOP of one (SIGCONT after STOP_SECONDS), or the broker cut for
STOP_SECONDS.

After the load, once enrollment's recovery has settled what was in flight and the outboxes
are drained, each scenario is judged on:

- client answers: the last answer of each parent (201, 409, 422, 503 ...) and how many 503s
  were answered on the way;
- overbooking: a group holding more seats than it has, or seats that disagree with the
  applications holding them;
- orphaned reservations: money reserved for an application that is not live with its money
  reserved (or a live application without its reservation), certificate balances below
  zero, the ledger's own audit; applications whose money is still unsettled;
- created after its 503: a parent whose last answer was a failure (503, lost connection), yet
  an application of the child stands (the request ran after the caller was told it failed);
- repeat not first: a repeat with the same key that did not answer the first result (a 409
  instead of the application, or another application's id);
- events: every event of every outbox received by the integrator's queue (lost = in an
  outbox, never received; duplicates are reported, delivery being at least once).

It prints the table and exits 1 when any scenario has an orphaned reservation, an application
created after its 503, a repeat that did not return the first result, an overbooking or a
lost event.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from kombu import Connection

from servicekit import clock, config

ROOT = Path(__file__).resolve().parent.parent
for _owner in config.DATABASE_OWNERS:
    os.environ.setdefault(f"{_owner.upper()}_DATABASE_NAME", f"navigator_bench_chaos_{_owner}")

from bench.harness import procfile_processes  # noqa: E402
from bench.opening_day import below_zero, live_reserved, prepare, reservations_held  # noqa: E402
from servicekit.tokens import issue_access_token  # noqa: E402

sys.path.insert(0, str(ROOT / "examples"))
import integrator  # noqa: E402

# a start a week ahead of the business clock, inside the prepared groups' year
START = (clock.today() + timedelta(days=7)).isoformat()
# a parent repeats a failed application (same key, after Retry-After, at most 2 s apart) for
# this long before giving up
PATIENCE = 30.0
STOP_SECONDS = 8.0
BROKER = ("127.0.0.1", 5672)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the system of a scenario -----------------------------------------------------------


class Proxy:
    """bench/tcp_proxy.py in front of the shared RabbitMQ server, for this system only."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tcp_proxy", str(self.port), f"{BROKER[0]}:{BROKER[1]}"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        return self

    def cut(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class System:
    """Every Procfile line as its own process (as bench/harness.py starts them), which a
    scenario can kill, stop and restart one by one."""

    def __init__(self, vhost: str, proxy: Proxy, log_dir: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "LOG_LEVEL": "WARNING",
            "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}",
            "GATEWAY_ADDRESS": f"127.0.0.1:{self.port}",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "CALENDAR_SECONDS": "0",
            # the recovery settles what a fault left halfway within seconds
            "ENROLLMENT_SWEEP_SECONDS": "1",
            "ENROLLMENT_SETTLE_GRACE_SECONDS": "3",
            "METRICS_ENABLED": "false",
            "SMTP_PORT": str(free_port()),  # the Procfile's mail server, beside others'
        }
        self.commands = {name: command for name, command, _ in procfile_processes()}
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {self.commands[name]}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_all(self, timeout: float = 120) -> None:
        for name in self.commands:
            self.start(name)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise SystemExit(f"the chaos system did not become healthy; see {self.log_dir}")
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/api/v1/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def signal(self, name: str, sig: int) -> None:
        self.processes[name].send_signal(sig)
        if sig == signal.SIGKILL:
            self.processes[name].wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def rabbit(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], capture_output=True, check=True)


# --- the parents --------------------------------------------------------------------------


def apply_with_repeats(base_url: str, item: dict) -> dict:
    """One parent's application, repeated with the same Idempotency-Key after a 503 or a lost
    connection. Every attempt is kept: (sent, answered, status, code, application id)."""
    token = issue_access_token({"sub": str(item["parent"]), "role": "parent"}, ttl=7200)
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    body = json.dumps({"child_id": item["child"], "group_id": item["group"],
                       "start_date": START})  # fmt: skip
    attempts = []
    first = time.monotonic()
    while True:
        sent = time.time()
        try:
            answer = requests.post(
                f"{base_url}/api/v1/enrollments", data=body, headers=headers, timeout=20
            )
            said = answer.json() if answer.content else {}
            status, code = answer.status_code, said.get("code")
            application = said.get("id") or said.get("enrollment_id")
            retry_after = float(answer.headers.get("Retry-After") or 1)
        except (requests.RequestException, ValueError) as error:
            status, code, application, retry_after = 0, type(error).__name__, None, 1.0
        attempts.append((sent, time.time(), status, code, application))
        if status not in (0, 502, 503, 504) or time.monotonic() - first > PATIENCE:
            break
        time.sleep(min(retry_after, 2.0))
    return {**item, "attempts": attempts}


# --- judging ------------------------------------------------------------------------------


def engine(owner: str):
    return sa.create_engine(config.database_url(owner))


def settle(timeout: float = 90) -> int:
    """Wait for enrollment's recovery to settle every application's money; what is left."""
    enrollment = engine("enrollment")
    deadline = time.monotonic() + timeout
    try:
        while True:
            with enrollment.connect() as conn:
                left = conn.execute(
                    sa.text("SELECT count(*) FROM enrollments"
                            " WHERE money IN ('pending', 'release_pending')")
                ).scalar()  # fmt: skip
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(1)
    finally:
        enrollment.dispose()


# events the preparation left as published "the days before" opening day (certificates
# issued and financed at registration, bench/opening_day.py): no integrator of this run's
# system could have received them, so they are not this run's to judge
BEFORE_THE_RUN: set[str] = set()


def outboxes() -> dict[str, tuple[int, set]]:
    """Every service database's outbox: (rows not yet published, event ids of this run)."""
    found = {}
    for owner in config.DATABASE_OWNERS:
        eng = engine(owner)
        try:
            with eng.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT event_id::text, published_at IS NULL FROM outbox")
                ).all()
            found[owner] = (
                sum(1 for _, unsent in rows if unsent),
                {e for e, _ in rows} - BEFORE_THE_RUN,
            )
        except sa.exc.ProgrammingError:
            pass  # no outbox (the gateway's database)
        finally:
            eng.dispose()
    return found


def drained(timeout: float = 60) -> dict[str, tuple[int, set]]:
    deadline = time.monotonic() + timeout
    while True:
        found = outboxes()
        if all(unsent == 0 for unsent, _ in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def judge(results: list[dict], amqp: str, queue_name: str) -> dict:
    unsettled = settle()
    boxes = drained()
    enrollment, certificates = engine("enrollment"), engine("certificates")
    row: dict = {"unsettled": unsettled}
    with enrollment.connect() as conn:  # enrollment owns the seats and the applications
        row["overbooked"] = conn.execute(
            sa.text(
                "SELECT count(*) FROM groups g WHERE g.held + g.enrolled > g.capacity"
                " OR g.held + g.enrolled <> (SELECT count(*) FROM seat_holds h"
                "  WHERE h.group_id = g.id)"
                " OR g.held + g.enrolled <> (SELECT count(*) FROM enrollments e"
                "  WHERE e.group_id = g.id AND e.seat_held)"
            )
        ).scalar()
        live = live_reserved(conn)
        standing, created = {}, {}
        for child, app_id, live_, at in conn.execute(
            sa.text(
                "SELECT child_id, id::text,"
                " status IN ('requested', 'awaiting_provider', 'waitlisted', 'enrolled'),"
                " extract(epoch FROM created_at) FROM enrollments"
            )
        ):
            created.setdefault(child, []).append((app_id, float(at)))
            if live_:
                standing.setdefault(child, set()).add(app_id)
    with certificates.connect() as conn:
        reservations = reservations_held(conn)
        negative = below_zero(conn)
        from services.certificates import audit

        ledger = audit.audit(conn)
    enrollment.dispose()
    certificates.dispose()
    row["orphaned"] = len(set(reservations) - set(live)) + sum(
        1 for app_id, share in live.items() if share and app_id not in reservations
    )
    row["below_zero"] = negative
    row["ledger"] = len(ledger)
    answers: dict[str, int] = {}
    after_503 = repeat_not_first = answered_503 = 0
    for result in results:
        attempts = result["attempts"]
        last = attempts[-1]
        said = str(last[2] or "lost") + (f" {last[3]}" if last[2] != 201 and last[3] else "")
        answers[said] = answers.get(said, 0) + 1
        answered_503 += sum(1 for a in attempts if a[2] == 503)
        stands = standing.get(result["child"], set())
        told = last[4] if last[2] == 201 else None
        answered_503_at = [a[1] for a in attempts if a[2] in (502, 503, 504)]
        # an application made after its caller was told 503, by no attempt in flight then
        # (one made while a repeat was in flight may be that repeat's, an unknown outcome
        # the repeat must answer: rep≠1st), and never named by an answer
        late = answered_503_at and any(
            at > answered_503_at[0]
            and app_id != told
            and not any(a[0] <= at <= a[1] for a in attempts)
            for app_id, at in created.get(result["child"], [])
        )
        if late or (last[2] in (502, 503, 504) and stands):
            after_503 += 1  # told 503, yet an application was made later or stands
        if last[2] == 0 and stands:
            repeat_not_first += 1  # repeated until it gave up, never told of its application
        if last[2] == 201 and stands - {told}:
            repeat_not_first += 1  # another application than the one answered
        elif len(attempts) > 1 and last[2] == 409:
            repeat_not_first += 1  # a repeat refused as a new operation
    row["answers"] = answers
    row["answered_503"] = answered_503
    row["after_503"] = after_503
    row["repeat_not_first"] = repeat_not_first
    row.update(events_row(boxes, amqp, queue_name))
    return row


def events_row(boxes: dict, amqp: str, queue_name: str) -> dict:
    """Every outbox's events against what the integrator's queue received."""
    published = set().union(*(ids for _, ids in boxes.values())) if boxes else set()
    received: list[str] = []
    with Connection(amqp) as connection:
        queue = integrator.bind(connection, queue_name, exchanges(), ["#"])
        for _exchange, body in integrator.events(connection, queue, timeout=5):
            received.append(body["event_id"])
        connection.channel().queue_delete(queue_name)
    return {
        "events": len(published),
        "lost": len(published - set(received)),
        "duplicates": len(received) - len(set(received)),
        "unsent": sum(unsent for unsent, _ in boxes.values()),
    }


def exchanges() -> list[str]:
    return [f"{service}.events" for service in config.RUNNING_SERVICES]


# --- the scenarios ------------------------------------------------------------------------


def kill(process: str, restart_after: float = 1.0):
    def fault(system: System, proxy: Proxy) -> None:
        system.signal(process, signal.SIGKILL)
        time.sleep(restart_after)
        system.start(process)

    return fault


def stop(process: str, seconds: float = STOP_SECONDS):
    def fault(system: System, proxy: Proxy) -> None:
        system.signal(process, signal.SIGSTOP)
        time.sleep(seconds)
        system.signal(process, signal.SIGCONT)

    return fault


def cut_broker(seconds: float = STOP_SECONDS):
    def fault(system: System, proxy: Proxy) -> None:
        proxy.cut()
        time.sleep(seconds)
        proxy.start()

    return fault


# --- payments killed during a billing run ---------------------------------------------------

BILLING_MONTH = "2026-10"
# billing posts about a thousand contracts a second: enough of them to be killed halfway
BILLING_CONTRACTS_PER_APPLICATION = 20


def prepare_billing(contracts: int) -> None:
    """Fresh databases with `contracts` active contracts, their certificates and reservations
    and the month's lessons, as bench/billing.py prepares them."""
    from bench import billing, databases
    from servicekit import migrate

    for owner, url in databases.claim().items():
        databases.recreate(url)
        migrate.upgrade(owner, url)
    billing.prepare_payments(contracts, BILLING_MONTH)
    billing.prepare_certificates(contracts)


def run_billing(system: System, contracts: int) -> dict:
    """A regional operator starts the month's billing run; payments is SIGKILLed once a third
    of the contracts are posted and restarted a second later; the run is followed to its end."""
    token = issue_access_token({"sub": "1", "role": "regional_operator"}, ttl=3600)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    api = f"{system.base_url}/api/v1"
    answer = requests.post(f"{api}/billing/runs", json={"month": BILLING_MONTH},
                           headers=headers, timeout=30)  # fmt: skip
    answer.raise_for_status()
    run_id, killed, state, killed_at = answer.json()["id"], False, {}, None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            got = requests.get(f"{api}/billing/runs/{run_id}", headers=headers, timeout=10)
            state = got.json() if got.status_code == 200 else state
        except requests.RequestException:
            pass
        if not killed and state.get("posted", 0) >= contracts // 3:
            killed_at = state.get("posted")
            kill("payments")(system, None)
            killed = True
        if killed and state.get("status") == "completed":
            break
        time.sleep(0.1)
    return {**state, "status": state.get("status", "unknown"), "killed_at": killed_at}


def judge_billing(run: dict, contracts: int, amqp: str, queue_name: str) -> dict:
    boxes = drained()
    payments, certificates = engine("payments"), engine("certificates")
    with payments.connect() as conn:
        charges, distinct, charged = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT contract_id), coalesce(sum(debited), 0)"
                    " FROM charges WHERE month = :m"), {"m": BILLING_MONTH},
        ).one()  # fmt: skip
    with certificates.connect() as conn:
        debited = conn.execute(
            sa.text("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'debit'")
        ).scalar()
        negative = below_zero(conn)
        from services.certificates import audit

        ledger = audit.audit(conn)
    payments.dispose()
    certificates.dispose()
    row = {
        "answers": {f"run {run['status']}": 1, f"{distinct}/{contracts} charged": 1,
                    f"kill at {run['killed_at']}": 1},
        "answered_503": 0, "after_503": 0, "repeat_not_first": 0, "unsettled": 0,
        "overbooked": 0, "below_zero": negative, "ledger": len(ledger),
        # money set aside that the billing did not account for: charges twice, or debits
        # in certificates that payments does not know of (or the other way round)
        "orphaned": (charges - distinct) + (distinct != contracts) + (charged != debited),
        "billing": {"charges": charges, "contracts": distinct, "charged": int(charged),
                    "debited": int(debited), "run": run.get("status")},
    }  # fmt: skip
    row.update(events_row(boxes, amqp, queue_name))
    return row


SCENARIOS = {
    "none": None,
    "kill enrollment": kill("enrollment"),
    "kill certificates": kill("certificates"),
    "kill gateway": kill("gateway"),
    "stop certificates": stop("certificates"),
    "stop accounts": stop("accounts"),
    "broker cut": cut_broker(),
    "kill payments": "billing",  # during a billing run
}


def run_scenario(name: str, applications: int, seats: int, groups: int, clients: int) -> dict:
    fault = SCENARIOS[name]
    contracts = applications * BILLING_CONTRACTS_PER_APPLICATION
    BEFORE_THE_RUN.clear()
    if fault == "billing":
        prepare_billing(contracts)
    else:
        prepared = prepare(applications, seats, groups)
        BEFORE_THE_RUN.update(*(ids for _, ids in outboxes().values()))
    vhost = f"navigator_chaos_{uuid.uuid4().hex[:8]}"
    rabbit("add_vhost", vhost)
    rabbit("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    direct = f"amqp://guest:guest@{BROKER[0]}:{BROKER[1]}/{vhost}"
    queue_name = f"chaos-integrator-{uuid.uuid4().hex[:8]}"
    log_dir = Path(tempfile.mkdtemp(prefix="chaos-"))
    proxy = Proxy().start()
    system = System(vhost, proxy, log_dir)
    try:
        subprocess.run([sys.executable, "-m", "servicekit.topology"],
                       env={**system.env, "AMQP_URI": direct}, check=True,
                       capture_output=True)  # fmt: skip
        with Connection(direct) as connection:  # bound before the first application
            integrator.bind(connection, queue_name, exchanges(), ["#"])
        system.start_all()
        if fault == "billing":
            started = time.monotonic()
            run = run_billing(system, contracts)
            row = judge_billing(run, contracts, direct, queue_name)
            row["seconds"] = time.monotonic() - started
            row["logs"] = str(log_dir)
            return row
        plan = prepared["plan"]
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(apply_with_repeats, system.base_url, item) for item in plan]
            if fault is not None:
                # the fault strikes once about a third of the parents have an answer
                while sum(f.done() for f in futures) < len(plan) // 3:
                    time.sleep(0.05)
                threading.Thread(target=fault, args=(system, proxy), daemon=True).start()
            results = [f.result() for f in futures]
        seconds = time.monotonic() - started
        if proxy.process.poll() is not None:
            proxy.start()
        time.sleep(STOP_SECONDS + 2)  # the fault is over (a stopped process resumed)
        (log_dir / "attempts.json").write_text(json.dumps(results))  # for a closer look
        row = judge(results, direct, queue_name)
        row["seconds"] = seconds
        row["logs"] = str(log_dir)
        return row
    finally:
        system.stop_all()
        proxy.cut()
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


FAILING = ("orphaned", "after_503", "repeat_not_first", "overbooked", "lost")


def failures(row: dict) -> list[str]:
    bad = [k for k in FAILING if row[k]]
    bad += [k for k in ("below_zero", "ledger", "unsettled") if row[k]]
    return bad


def print_table(rows: dict[str, dict]) -> None:
    head = (f"{'scenario':<17} {'client answers (last answer: count)':<46} {'503s':>5} "
            f"{'over':>4} {'orph':>4} {'unset':>5} {'ledg':>4} {'aft503':>6} {'rep≠1st':>7} "
            f"{'events':>6} {'lost':>4} {'dup':>4}  verdict")  # fmt: skip
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        if "billing" in row:  # what the billing run came to, not parents' answers
            answers = ", ".join(sorted(row["answers"], reverse=True))
        else:
            answers = " ".join(f"{k}:{v}" for k, v in sorted(row["answers"].items()))
        bad = failures(row)
        print(f"{name:<17} {answers:<46} {row['answered_503']:>5} {row['overbooked']:>4} "
              f"{row['orphaned']:>4} {row['unsettled']:>5} {row['ledger']:>4} "
              f"{row['after_503']:>6} {row['repeat_not_first']:>7} {row['events']:>6} "
              f"{row['lost']:>4} {row['duplicates']:>4}  "
              f"{'OK' if not bad else 'FAIL: ' + ', '.join(bad)}")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--seats", type=int, default=200)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="default: every scenario")  # fmt: skip
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    rows = {}
    for name in args.scenario or list(SCENARIOS):
        print(f"scenario {name}: {args.applications} applications...", flush=True)
        rows[name] = run_scenario(name, args.applications, args.seats, args.groups,
                                  args.clients)  # fmt: skip
        print(f"  {json.dumps(rows[name], ensure_ascii=False, default=str)}", flush=True)
    print()
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    return 1 if any(row[k] for row in rows.values() for k in FAILING) else 0


if __name__ == "__main__":
    sys.exit(main())
