"""A whole program year, September to August, on a fresh set of databases of its own and the
business clock: `make year-demo` (python -m bench.year_demo).

Preparation goes straight into the demo's databases (named navigator_bench_year_<owner>
unless <OWNER>_DATABASE_NAME says otherwise; bench/databases.py refuses production and any
database it did not create): organizations in two municipalities, groups meeting weekly,
parents and children (one turning 18 in December), the 2026/2027 period with nominals and
limits, and the next period, opened in August.

Then every process of the system starts (tests/support/system.py, as the e2e tests start
them) with NAVIGATOR_CLOCK_FILE, and the demo moves that clock (servicekit.clock.set_shared,
frozen) through the year:

- 1 September: opening-day applications through the gateway's HTTP API; providers confirm;
- the 1st of every month: the calendar's jobs (advances, end_due, expire_aged, ...);
- the month's last evening: the providers record the month's weekly lessons, with absences;
- the day after the submission deadline: the calendar's final billing of the month, then the
  municipalities pay every invoice of it;
- along the way: a child who moves municipality (October), an operator's nominal change with
  its reason (November), terminations whose seats go to the waiting list (December), a child
  who turns 18 (December), a group shortened to March (January);
- 1 September of the next year: the calendar closes 2026/2027 and credits 2027/2028.

Each calendar job is run with the `run_calendar_job` RPC right after the clock moves, so the
year takes minutes; the timers (CALENDAR_SECONDS) run them too, under the same lease.

It prints a line a month (contracts, debited, released, invoiced as advance / final /
corrections, paid) and the invariants: the payments audit (invoices = debits for every
provider x municipality x month), the certificates audit with reservations against live
applications (`make audit-ledger`'s checks), every month billed and paid, the period closed
and the next credited, and what the year's events should have done. Exit 1 if one fails.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from calendar import monthrange
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.money import format_kopecks
from servicekit.tokens import issue_access_token
from services.payments.domain import submission_deadline

ROOT = Path(__file__).resolve().parent.parent
DATABASE_PREFIX = "navigator_bench_year"
YEAR = [f"2026-{m:02d}" for m in range(9, 13)] + [f"2027-{m:02d}" for m in range(1, 9)]
HOME, OTHER = "krasnoyarsk", "achinsk"
OPENING_DAY = date(2026, 9, 1)  # the program year opens: applications, confirmations
NOMINAL = 2_400_000  # 24,000 ₽ a year
PRICE = 1_800_000  # 18,000 ₽ for September to May: 2,000 ₽ a month
JOBS = {
    "payments": ("advances", "final_billing"),
    "certificates": ("close_periods", "expire_aged"),
    "enrollment": ("decision_deadlines", "end_due"),
}


def rub(kopecks: int | None) -> str:
    return format_kopecks(int(kopecks or 0))


def region_instant(day: date, hour: int) -> datetime:
    return clock.region_midnight(day) + timedelta(hours=hour)


def month_days(month: str) -> tuple[date, date]:
    year, number = map(int, month.split("-"))
    return date(year, number, 1), date(year, number, monthrange(year, number)[1])


@dataclass
class Year:
    """The demo's world and the calls that move it; `engine_of(owner)` reads its databases."""

    base_url: str
    amqp_uri: str
    engine_of: object
    clock_file: str
    applications: int = 300
    groups: int = 15
    months: list[str] = field(default_factory=lambda: list(YEAR))
    seed: int = 2026
    out: object = sys.stdout
    notes: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.api = f"{self.base_url}/api/v1"
        self.local = threading.local()  # a kept-alive session per client thread

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # --- preparation (straight into the demo's databases) ------------------------------

    def prepare(self) -> None:
        from tests.support import enrollment as data

        catalog, accounts = self.engine_of("catalog"), self.engine_of("accounts")
        certificates = self.engine_of("certificates")
        self.organizations = {HOME: data.organization(catalog, HOME)}
        self.organizations[OTHER] = data.organization(catalog, OTHER)
        seats = max(1, (self.applications * 9 // 10) // self.groups)  # a tenth waits
        self.group_ids, self.group_org = [], {}
        for index in range(self.groups):
            where = OTHER if index % 5 == 4 else HOME
            group_id = data.group(
                catalog,
                self.organizations[where],
                capacity=seats,
                price=PRICE,
                normative=PRICE,
                min_age=5,
                max_age=17,
                title=f"Кружок {index + 1}",
            )
            self.group_ids.append(group_id)
            self.group_org[group_id] = self.organizations[where]
        self.staff = {
            org: {**data.provider(accounts, org, where), "token": None}
            for where, org in self.organizations.items()
        }
        self.operators = {where: self._operator(accounts, where) for where in (HOME, OTHER)}
        self.regional = self._operator(accounts, HOME, "regional_operator")
        self.children = []  # {parent, child, group, municipality, birth}
        for index in range(self.applications):
            where = OTHER if index % 4 == 3 else HOME
            birth = date(2012 + self.rng.randint(0, 7), self.rng.randint(1, 12), 15)
            if index == 1:
                birth = date(2008, 12, 20)  # 17 on 1 September, 18 on 20 December
            parent = data.parent(accounts, where)
            (child,) = data.children(accounts, parent, 1, birth_date=birth, municipality=where)
            group = self.group_ids[index % self.groups]
            self.children.append(
                {
                    "parent": parent,
                    "child": child,
                    "group": group,
                    "municipality": where,
                    "birth": birth,
                }
            )
        # SNILS with their check numbers: a parent's change of the child is validated whole
        from services.accounts.domain import snils_check_number

        with accounts.begin() as conn:
            for item in self.children:
                nine = f"{300000000 + item['child']:09d}"
                conn.execute(
                    sa.text("UPDATE children SET snils = :s WHERE id = :c"),
                    {"s": f"{nine}{snils_check_number(nine):02d}", "c": item["child"]},
                )
        for where in (HOME, OTHER):
            self.period_id = data.period(certificates, where, nominal=NOMINAL, limit=10**12)

    @staticmethod
    def _operator(engine, municipality: str, role: str = "municipal_operator") -> dict:
        with engine.begin() as conn:
            user_id = conn.execute(
                sa.text(
                    "INSERT INTO users (email, password_hash, full_name, role,"
                    " municipality_code, is_active) VALUES (:email, 'x', 'Оператор', :role,"
                    " :mun, true) RETURNING id"
                ),
                {
                    "email": f"{role}-{municipality}-{os.urandom(4).hex()}@example.ru",
                    "role": role,
                    "mun": municipality,
                },
            ).scalar()
        return {"user_id": user_id, "role": role, "municipality_code": municipality}

    def open_next_period(self) -> int:
        """2027/2028 with the same nominals: the calendar credits it when 2026/2027 closes."""
        from services.certificates import funding
        from services.certificates.domain import AgeBand
        from services.certificates.models import Period

        engine = self.engine_of("certificates")
        with Session(engine, info={"producer": "certificates"}) as session:
            period = Period(
                name="2027/2028",
                start_date=date(2027, 9, 1),
                end_date=date(2028, 8, 31),
                status="open",
            )
            session.add(period)
            session.flush()
            for where in (HOME, OTHER):
                funding.set_bands(session, where, period.id, [AgeBand(0, 17, NOMINAL)])
                funding.set_limit(session, where, period.id, 10**12)
            session.commit()
            return period.id

    # --- the gateway, as each role ------------------------------------------------------

    def token(self, who: dict) -> str:
        claims = {"sub": str(who["user_id"]), "role": who["role"]}
        if who.get("organization_id"):
            claims["org"] = who["organization_id"]
        if who.get("municipality_code"):
            claims["mun"] = who["municipality_code"]
        return issue_access_token(claims, ttl=4 * 3600)

    def call(self, who: dict, method: str, path: str, body=None, ok=(200, 201, 202)):
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
        response = self.local.http.request(
            method,
            f"{self.api}{path}",
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token(who)}"},
        )
        if ok and response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:400]}")
        return response

    def parent(self, item: dict) -> dict:
        return {"user_id": item["parent"], "role": "parent"}

    # --- the clock and the calendar -------------------------------------------------------

    def move(self, day: date, hour: int = 10) -> None:
        clock.set_shared(self.clock_file, region_instant(day, hour), frozen=True)
        self.today = day

    def calendar(self, *names: str) -> None:
        """Every calendar job (or those named), by RPC, as an operator would start them."""
        from nameko import config as nameko_config
        from nameko.standalone.rpc import ClusterRpcClient

        with nameko_config.patch({"AMQP_URI": self.amqp_uri, "serializer": "json"}):
            with ClusterRpcClient(timeout=120) as rpc:
                for service, jobs in JOBS.items():
                    for job in jobs:
                        if names and job not in names:
                            continue
                        for attempt in range(20):
                            try:
                                getattr(rpc, service).run_calendar_job(job)
                                break
                            except Exception as exc:  # 409 job_running: the timer has it
                                if (
                                    not ("JobBusy" in repr(exc) or "job_running" in repr(exc))
                                    or attempt == 19
                                ):
                                    raise
                                time.sleep(0.5)

    def scalar(self, owner: str, query: str, **params):
        with self.engine_of(owner).connect() as conn:
            return conn.execute(sa.text(query), params).scalar()

    def rows_of(self, owner: str, query: str, **params) -> list:
        with self.engine_of(owner).connect() as conn:
            return conn.execute(sa.text(query), params).all()

    def wait(self, check, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not in {timeout:.0f} s")
            time.sleep(0.3)

    # --- the year's steps -------------------------------------------------------------------

    def opening_day(self) -> None:
        self.move(OPENING_DAY, 10)
        started = time.monotonic()

        def apply(item):
            response = self.call(
                self.parent(item),
                "POST",
                "/enrollments",
                {"child_id": item["child"], "group_id": item["group"]},
                ok=(),
            )
            item["apply_status"] = response.status_code
            if response.status_code in (200, 201, 202):
                item["enrollment"] = response.json()["id"]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(apply, self.children))
        refused = [c for c in self.children if "enrollment" not in c]
        self.say(
            f"opening day {OPENING_DAY}: {len(self.children) - len(refused)} applications in "
            f"{time.monotonic() - started:.1f} s through the gateway"
            + (f", {len(refused)} refused" if refused else "")
        )
        if refused:
            self.notes.append(
                f"{len(refused)} opening-day applications refused: "
                f"{sorted({c['apply_status'] for c in refused})}"
            )
        self.confirm_waiting()

    def confirm_waiting(self) -> int:
        """Providers confirm every application that holds a seat and its money."""
        self.wait(
            lambda: (
                not self.scalar(
                    "enrollment",
                    "SELECT count(*) FROM enrollments WHERE"
                    " money IN ('pending', 'release_pending')",
                )
            ),
            "money settled",
        )
        waiting = self.rows_of(
            "enrollment",
            "SELECT e.id::text, e.group_id FROM enrollments e"
            " WHERE e.status = 'awaiting_provider' AND e.money = 'reserved'",
        )
        confirmed = 0
        for enrollment_id, group_id in waiting:
            staff = self.staff[self.group_org[group_id]]
            response = self.call(staff, "POST", f"/enrollments/{enrollment_id}/confirm", ok=())
            confirmed += response.status_code == 200
            if response.status_code != 200:
                self.notes.append(
                    f"confirm {enrollment_id}: {response.status_code} {response.text[:200]}"
                )
        if waiting:
            self.wait(
                lambda: (
                    self.scalar("payments", "SELECT count(*) FROM contracts")
                    >= self.scalar(
                        "enrollment",
                        "SELECT count(*) FROM enrollments WHERE status"
                        " IN ('enrolled', 'completed', 'terminated')",
                    )
                ),
                "payments opened the contracts",
            )
        return confirmed

    def record_lessons(self, month: str) -> int:
        """The month's weekly lessons (Tuesdays), each child absent one time in ten."""
        first, last = month_days(month)
        recorded = 0
        for group_id in self.group_ids:
            contracts = self.rows_of(
                "payments",
                "SELECT child_id, start_date, coalesce(attends_until, end_date) FROM contracts"
                " WHERE group_id = :g",
                g=group_id,
            )
            end = self.scalar(
                "catalog", "SELECT end_date FROM study_groups WHERE id = :g", g=group_id
            )
            lessons = []
            day = first
            while day <= min(last, end):
                if day.isoweekday() == 2 and day >= date(2026, 9, 1):
                    marks = [
                        {"child_id": child, "present": self.rng.random() > 0.1}
                        for child, start, stop in contracts
                        if start <= day <= stop
                    ]
                    if marks:
                        lessons.append(
                            {"date": day.isoformat(), "status": "held", "attendance": marks}
                        )
                day += timedelta(days=1)
            if lessons:
                staff = self.staff[self.group_org[group_id]]
                self.call(staff, "POST", f"/groups/{group_id}/lessons", {"lessons": lessons})
                recorded += len(lessons)
        return recorded

    def bill(self, month: str) -> None:
        """The calendar bills the month after its deadline; the municipalities pay."""
        self.move(submission_deadline(month) + timedelta(days=1), 10)
        self.calendar("final_billing")
        if self.billable(month):  # the calendar bills the months that have contracts
            self.wait(
                lambda: self.scalar(
                    "payments",
                    "SELECT count(*) FROM billing_runs WHERE month = :m AND status = 'completed'",
                    m=month,
                ),
                f"the final billing of {month}",
                timeout=300,
            )
            self.wait(
                lambda: (
                    not self.scalar(
                        "payments",
                        "SELECT count(*) FROM billing_runs WHERE month = :m"
                        " AND status <> 'completed'",
                        m=month,
                    )
                ),
                f"every run of {month}",
                timeout=300,
            )
        for invoice_id, where in self.rows_of(
            "payments",
            "SELECT id, municipality_code FROM"
            " invoices WHERE month = :m AND status ="
            " 'issued' ORDER BY id",
            m=month,
        ):
            self.call(self.operators[where], "POST", f"/invoices/{invoice_id}/pay")
        self.report(month)

    def billable(self, month: str) -> bool:
        return bool(
            self.scalar(
                "payments", "SELECT count(*) FROM contract_months WHERE month = :m", m=month
            )
        )

    def report(self, month: str) -> None:
        first, last = month_days(month)
        contracts = self.scalar(
            "payments",
            "SELECT count(*) FROM contracts WHERE start_date <= :last AND end_date >= :first",
            first=first,
            last=last,
        )
        debited = self.scalar(
            "payments",
            "SELECT coalesce(sum(debited), 0) FROM charges WHERE month = :m AND status = 'posted'",
            m=month,
        )
        # the month's certificate money given back: by its billing (what completeness left)
        # and, before it, by the contracts that ended earlier (terminations, the 18th
        # birthday, a shortened group: their months released, never charged)
        released = self.scalar(
            "payments",
            "SELECT (SELECT coalesce(sum(released), 0) FROM charges WHERE month = :m AND"
            " status = 'posted') + (SELECT coalesce(sum(certificate), 0) FROM contract_months"
            " WHERE month = :m AND released AND NOT charged)",
            m=month,
        )
        kinds = dict(
            self.rows_of(
                "payments",
                "SELECT kind, sum(amount) FROM invoices WHERE month = :m GROUP BY kind",
                m=month,
            )
        )
        paid = self.scalar(
            "payments",
            "SELECT coalesce(sum(amount), 0) FROM invoices WHERE month = :m AND status = 'paid'",
            m=month,
        )
        debited, released, paid = int(debited), int(released), int(paid)
        kinds = {kind: int(amount) for kind, amount in kinds.items()}
        row = {
            "month": month,
            "contracts": contracts,
            "debited": debited,
            "released": released,
            "advance": kinds.get("advance", 0),
            "final": kinds.get("final", 0),
            "correction": kinds.get("correction", 0),
            "paid": paid,
        }
        self.rows.append(row)
        self.say(
            f"{month}  {contracts:5d}  {rub(debited):>12}  {rub(released):>12}  "
            f"{rub(row['advance']):>12}  {rub(row['final']):>12}  "
            f"{rub(row['correction']):>10}  {rub(paid):>12}"
        )

    # --- the year's events ----------------------------------------------------------------

    def contract_of(self, item: dict):
        return self.rows_of(
            "payments",
            "SELECT payer_municipality_code, end_date, status FROM contracts WHERE child_id = :c",
            c=item["child"],
        )

    def enrolled(self) -> list[dict]:
        active = {
            row[0]
            for row in self.rows_of(
                "enrollment", "SELECT id::text FROM enrollments WHERE status = 'enrolled'"
            )
        }
        return [c for c in self.children if c.get("enrollment") in active]

    def events(self, month: str) -> None:
        first, _ = month_days(month)
        middle = first.replace(day=15)
        if month == "2026-10":
            self.move(middle)
            mover = next(
                c
                for c in self.enrolled()
                if c["municipality"] == HOME and c["child"] != self.children[1]["child"]
            )
            response = self.call(
                self.parent(mover),
                "PATCH",
                f"/children/{mover['child']}",
                {"municipality_code": OTHER},
                ok=(),
            )
            self.mover = mover
            code = response.json().get("code", "") if response.status_code >= 400 else ""
            self.say(
                f"  {middle}: child {mover['child']} moves {HOME} -> {OTHER}: "
                f"{response.status_code} {code}"
            )
        if month == "2026-11":
            self.move(middle)
            # a raise: lowering is refused while money is reserved (409 active_contracts)
            item = self.enrolled()[-1]
            number = self.scalar(
                "certificates",
                "SELECT number FROM certificates WHERE child_id = :c",
                c=item["child"],
            )
            response = self.call(
                self.operators[item["municipality"]],
                "PUT",
                f"/certificates/{number}/nominal",
                {"amount": "26000.00", "reason": "решение комиссии №12"},
                ok=(),
            )
            self.nominal_changed = number
            self.say(
                f"  {middle}: an operator sets certificate {number}'s nominal to "
                f"26,000.00 with a reason: {response.status_code}"
            )
            if response.status_code != 200:
                self.notes.append(f"nominal change: {response.status_code} {response.text[:200]}")
        if month == "2026-12":
            self.move(middle.replace(day=10))
            leaving = [c for c in self.enrolled() if c is not self.children[1]][3:8]
            for item in leaving:
                self.call(
                    self.parent(item),
                    "POST",
                    f"/enrollments/{item['enrollment']}/terminate",
                    {"reason": "семья переезжает"},
                )
            self.terminated = leaving
            self.say(
                f"  {self.today}: {len(leaving)} contracts terminated by parents (end of "
                "December); their seats go to the waiting list"
            )
        if month == "2027-01":
            self.move(middle)
            group_id = self.group_ids[0]
            staff = self.staff[self.group_org[group_id]]
            self.call(staff, "PATCH", f"/groups/{group_id}", {"end_date": "2027-03-31"})
            self.shortened = group_id
            self.say(f"  {middle}: group {group_id} shortened to 2027-03-31")

    # --- the year -----------------------------------------------------------------------------

    def run(self) -> list[tuple[str, bool, str]]:
        started = time.monotonic()
        self.opening_day()
        self.say("")
        self.say(
            "month    contracts      debited      released       advance         final"
            "  corrections          paid"
        )
        for index, month in enumerate(self.months):
            first, last = month_days(month)
            self.move(first, 9)
            self.calendar()  # advances of the month, end_due, expire_aged, ...
            self.confirm_waiting()  # promoted from the waiting list
            if index:
                self.bill(self.months[index - 1])
            self.events(month)
            if month == "2027-08":
                self.next_period = self.open_next_period()
            self.move(last, 21)
            self.record_lessons(month)
        after = month_days(self.months[-1])[1] + timedelta(days=1)
        self.move(after, 9)
        self.calendar()  # closes the period at its end, credits the next one
        self.bill(self.months[-1])
        self.seconds = time.monotonic() - started
        return self.invariants()

    # --- the invariants ---------------------------------------------------------------------

    def audits(self) -> list[tuple[str, bool, str]]:
        env = {**os.environ, "AMQP_URI": self.amqp_uri, "PYTHONPATH": str(ROOT)}
        for owner in ("payments", "certificates", "catalog"):
            env[f"{owner.upper()}_DATABASE_URL"] = self.engine_of(owner).url.render_as_string(
                hide_password=False
            )
        checks = []
        for name, command in (
            (
                "invoices = debits for every provider x municipality x month (payments audit)",
                ["-m", "services.payments.audit"],
            ),
            (
                "every balance adds up, no reservation without a live application "
                "(certificates audit --applications)",
                ["-m", "services.certificates.audit", "--applications"],
            ),
        ):
            done = subprocess.run(
                [sys.executable, *command],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            lines = (done.stdout + done.stderr).strip().splitlines()
            checks.append((name, done.returncode == 0, " | ".join(lines[-6:])))
        return checks

    def invariants(self) -> list[tuple[str, bool, str]]:
        checks = self.audits()
        billable = [m for m in self.months if self.billable(m)]
        billed = [
            m
            for m in billable
            if self.scalar(
                "payments",
                "SELECT count(*) FROM billing_runs WHERE month = :m AND status = 'completed'",
                m=m,
            )
        ]
        checks.append(
            (
                "every month with contracts billed by the calendar after it ended",
                billed == billable,
                f"{len(billed)} of {len(billable)} months ({', '.join(billed)})",
            )
        )
        unpaid = self.scalar(
            "payments",
            "SELECT count(*) FROM invoices WHERE status <> 'paid' AND month = ANY(:months)",
            months=list(self.months),
        )
        checks.append(("every invoice of the year paid", unpaid == 0, f"{unpaid} unpaid"))
        mistimed = self.scalar(
            "payments", "SELECT count(*) FROM contracts WHERE start_date < '2026-09-01'"
        )
        checks.append(
            (
                "no contract starts before it was concluded",
                not mistimed,
                f"{mistimed} before 1 September",
            )
        )
        if "2026-12" in self.months:
            aged = self.contract_of(self.children[1])
            checks.append(
                (
                    "the child who turns 18 in December: contract ends 2026-12-31",
                    bool(aged) and all(r[1] <= date(2026, 12, 31) for r in aged),
                    f"{[(str(r[1]), r[2]) for r in aged]}",
                )
            )
            ended = [r for c in self.terminated for r in self.contract_of(c)]
            checks.append(
                (
                    "terminations end at the month's end",
                    bool(ended)
                    and all(r[1] == date(2026, 12, 31) and r[2] == "terminated" for r in ended),
                    f"{len(ended)} contracts",
                )
            )
        if "2026-10" in self.months:
            payer = self.contract_of(self.mover)
            checks.append(
                (
                    "the payer of the child who moved stays the issuing municipality",
                    bool(payer) and all(r[0] == HOME for r in payer),
                    f"{[r[0] for r in payer]}",
                )
            )
        if "2026-11" in self.months:
            reason = self.scalar(
                "certificates",
                "SELECT count(*) FROM ledger_entries e JOIN"
                " certificates c ON c.id = e.certificate_id WHERE c.number ="
                " :n AND e.reason LIKE '%комиссии №12%'",
                n=self.nominal_changed,
            )
            checks.append(
                (
                    "the nominal change is in the ledger with its reason",
                    bool(reason),
                    f"{reason} entries",
                )
            )
        if "2027-01" in self.months:
            late = self.scalar(
                "payments",
                "SELECT count(*) FROM contracts WHERE group_id = :g AND end_date > '2027-03-31'",
                g=self.shortened,
            )
            checks.append(
                (
                    "the shortened group's contracts end by 2027-03-31",
                    late == 0,
                    f"{late} end later",
                )
            )
        if self.months[-1] == "2027-08":
            closed = self.scalar(
                "certificates", "SELECT status FROM periods WHERE start_date = '2026-09-01'"
            )
            credited = self.scalar(
                "certificates",
                "SELECT count(*) FROM balances WHERE period_id = :p AND credited > 0",
                p=self.next_period,
            )
            checks.append(
                (
                    "2026/2027 closed at its end, 2027/2028 credited",
                    closed == "closed" and credited > 0,
                    f"2026/2027 {closed}, {credited} certificates credited in 2027/2028",
                )
            )
        return checks


def print_checks(checks, out=sys.stdout) -> int:
    failed = 0
    for name, ok, detail in checks:
        failed += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {name}: {detail}", file=out)
    return failed


def claim_databases() -> dict[str, str]:
    """The demo's own databases, fresh and migrated (bench/databases.py's refusals)."""
    from bench import databases
    from servicekit import config, migrate

    for owner in config.DATABASE_OWNERS:
        os.environ.setdefault(f"{owner.upper()}_DATABASE_NAME", f"{DATABASE_PREFIX}_{owner}")
    urls = databases.claim()
    for owner, url in urls.items():
        databases.recreate(url)
        migrate.upgrade(owner, url)
    return urls


def system_settings(clock_file: str) -> dict:
    """The year's system (here and in tests/e2e/test_year_demo.py): every process reads the
    business clock from `clock_file`; the calendar looks every 5 s, the billing runner every
    second, enrollment's sweep of overdue applications every 2 s; an RPC may wait 30 s; letters
    go to a port nobody answers; a parent's SNILS checks are practically unlimited."""
    return {
        "NAVIGATOR_CLOCK_FILE": clock_file,
        "CALENDAR_SECONDS": "5",
        "BILLING_POLL_INTERVAL": "1",
        "RPC_TIMEOUT": "30",
        "ENROLLMENT_SWEEP_SECONDS": "2",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "9",
        "SNILS_CHECK_LIMIT": "100000",
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.year_demo")
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--groups", type=int, default=15)
    parser.add_argument("--months", type=int, default=12, help="from September (1-12)")
    args = parser.parse_args()
    from bench.harness import _ensure_vhost
    from servicekit import topology
    from tests.support.system import RunningSystem

    started = time.monotonic()
    urls = claim_databases()
    engines = {owner: sa.create_engine(url) for owner, url in urls.items()}
    vhost = os.environ.get("YEAR_DEMO_VHOST", "navigator_bench_year")
    _ensure_vhost(vhost)
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    topology.declare(topology.all_handlers(), amqp)
    work = Path(tempfile.mkdtemp(prefix="year-demo-"))
    clock_file = str(work / "clock.json")
    clock.set_shared(clock_file, region_instant(date(2026, 8, 31), 10), frozen=True)
    system = RunningSystem(amqp, work, {**system_settings(clock_file), "LOG_LEVEL": "WARNING"})
    year = Year(
        system.base_url,
        amqp,
        engines.__getitem__,
        clock_file,
        applications=args.applications,
        groups=args.groups,
        months=YEAR[: args.months],
    )
    print(
        f"preparing {args.applications} children, {args.groups} groups in "
        f"{', '.join(make_url_names(urls))}...",
        flush=True,
    )
    year.prepare()
    try:
        system.start(timeout=120)
        checks = year.run()
    finally:
        system.stop()
        for engine in engines.values():
            engine.dispose()
    print()
    for note in year.notes:
        print(f"note: {note}")
    failed = print_checks(checks)
    print(
        f"the year took {year.seconds:.0f} s ({time.monotonic() - started:.0f} s in all; "
        f"logs in {work})"
    )
    sys.exit(1 if failed else 0)


def make_url_names(urls: dict[str, str]) -> list[str]:
    from sqlalchemy.engine import make_url

    return [make_url(url).database for url in urls.values()]


if __name__ == "__main__":
    main()
