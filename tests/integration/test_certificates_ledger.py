"""The money ledger through the certificates service's entrypoints, on real PostgreSQL and
RabbitMQ: concurrent reservations never overdraw, repeated keys have one effect, a random walk
of thousands of operations always equals the recount of its entries, the municipal limit
gives exactly N financing certificates under concurrency, and audit-ledger finds a corrupted
balance."""

import contextlib
import itertools
import random
import subprocess
import sys
import time
import uuid
from datetime import date

import eventlet
import pytest
import sqlalchemy as sa
from nameko.exceptions import deserialize
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekit.errors import Conflict, InvalidInput, ServiceUnavailable
from services.certificates import audit, domain
from services.certificates.models import MunicipalFund, Period
from services.certificates.service import CertificatesService
from tests.support import sql

_children = itertools.count(int(uuid.uuid4().int % 10**6) * 1000)


def child(municipality="krasnoyarsk", birth="2016-05-20", parent_id=77):
    return {
        "id": next(_children),
        "parent_id": parent_id,
        "birth_date": birth,
        "municipality_code": municipality,
    }


def fresh_municipality() -> str:
    return f"mun-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def engine(engine_of):
    return engine_of("certificates")


@pytest.fixture
def period(engine):
    """The open period containing today, so balances show as current. Earlier tests of the
    run (end-to-end ones, schemathesis) may have made it, or closed it: it is reopened."""
    today = date.today()
    with Session(engine) as session, session.begin():
        existing = session.scalar(
            sa.select(Period).where(Period.start_date <= today, Period.end_date >= today)
        )
        if existing:
            existing.status = "open"
            return existing.id
        start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        row = Period(name="Тестовый период", start_date=start,
                     end_date=date(start.year + 1, 8, 31), status="open")  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def funded(engine, period_id, municipality, nominal, limit):
    with Session(engine) as session, session.begin():
        session.add(
            MunicipalFund(
                municipality_code=municipality,
                period_id=period_id,
                limit_amount=limit,
                used=0,
                bands=[{"age_from": 0, "age_to": 17, "amount": nominal}],
            )
        )
    return municipality


@pytest.fixture
def certificates(nameko_config, databases, container_factory):
    container = container_factory(CertificatesService)
    container.start()
    with ClusterRpcClient() as client:
        yield client.certificates


def balance(engine, number):
    return sql.mapping(
        engine,
        "SELECT b.* FROM balances b JOIN certificates c ON c.id = b.certificate_id"
        " WHERE c.number = :n",
        n=number,
    )


@contextlib.contextmanager
def balance_row_held(engine, period_id, number):
    """The certificate's balance of the period locked by a transaction of the test's own,
    until the caller rolls it back: what reaches for the row meanwhile waits."""
    with engine.connect() as blocker:
        blocker.execute(
            sa.text(
                "SELECT 1 FROM balances WHERE period_id = :p AND certificate_id ="
                " (SELECT id FROM certificates WHERE number = :n) FOR UPDATE"
            ),
            {"p": period_id, "n": number},
        )
        yield blocker


def financed_child(certificates, engine, period_id, nominal, enrollment=None):
    """A child with a financing certificate credited `nominal` (a fresh municipality)."""
    mun = funded(engine, period_id, fresh_municipality(), nominal, nominal)
    kid = child(mun)
    answer = certificates.reserve_funds(enrollment or f"probe-{uuid.uuid4()}", kid, period_id,
                                        0, True)  # fmt: skip
    assert answer["certificate_type"] == "financing"
    return kid, answer["certificate_number"]


def recount(engine, certificate_id):
    with engine.connect() as conn:
        entries = conn.execute(
            sa.text(
                "SELECT kind, amount FROM ledger_entries WHERE certificate_id = :c ORDER BY id"
            ),
            {"c": certificate_id},
        ).all()
    return domain.recount([(kind, int(amount)) for kind, amount in entries])


def audit_command():
    """`make audit-ledger` as ops run it, on this run's database (CERTIFICATES_DATABASE_URL)."""
    return subprocess.run(
        [sys.executable, "-m", "services.certificates.audit"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def clean_audit(engine):
    with engine.connect() as conn:
        return audit.audit(conn)


def test_two_hundred_concurrent_reservations_against_ten_get_exactly_ten(
    certificates, engine, period
):
    kid, number = financed_child(certificates, engine, period, 10_000_00)
    calls = [
        certificates.reserve_funds.call_async(f"e-{uuid.uuid4()}", kid, period, 1_000_00, True)
        for _ in range(200)
    ]
    ok, refused = 0, 0
    for call in calls:
        try:
            call.result()
            ok += 1
        except Conflict as error:
            assert error.code == "insufficient_funds"
            assert int(error.extra["available"]) < 1_000_00  # nameko sends args as text
            refused += 1
    assert (ok, refused) == (10, 190)
    row = balance(engine, number)
    assert (row["available"], row["reserved"], row["credited"]) == (0, 10_000_00, 10_000_00)
    assert clean_audit(engine) == []


def test_same_with_two_instances_of_the_service(
    nameko_config, databases, container_factory, engine, period
):
    for _ in range(2):
        container_factory(CertificatesService).start()
    with ClusterRpcClient() as client:
        certificates = client.certificates
        kid, number = financed_child(certificates, engine, period, 9_500_00)
        calls = [
            certificates.reserve_funds.call_async(f"e-{uuid.uuid4()}", kid, period, 900_00, True)
            for _ in range(200)
        ]
        outcomes = []
        for call in calls:
            try:
                outcomes.append(call.result()["reserved"])
            except Conflict:
                outcomes.append(None)
    assert sum(1 for o in outcomes if o) == 10
    row = balance(engine, number)
    assert (row["available"], row["reserved"]) == (500_00, 9_000_00)
    assert clean_audit(engine) == []


def test_a_repeated_key_has_one_effect_and_returns_the_first_answer(certificates, engine, period):
    kid, number = financed_child(certificates, engine, period, 5_000_00)
    first = certificates.reserve_funds("rep-1", kid, period, 1_200_00, True)
    again = certificates.reserve_funds("rep-1", kid, period, 3_000_00, True)
    assert (
        again
        == first
        == {
            "certificate_number": number,
            "certificate_type": "financing",
            "reserved": 1_200_00,
            "available": 3_800_00,
            "municipality_code": kid["municipality_code"],  # the payer (issue 18)
        }
    )
    items = [{"enrollment_id": "rep-1", "month": "2026-09", "debit": 300_00, "release": 0}]
    debited = certificates.debit_funds(items)
    assert debited[0]["status"] == "debited"
    assert certificates.debit_funds(items)[0]["status"] == "repeated"
    released = certificates.release_funds("rep-1", 100_00, "отказ", "release:rep-1:2026-10")
    assert certificates.release_funds("rep-1", 100_00, "отказ", "release:rep-1:2026-10") == released
    assert released == {"released": 100_00, "reserved_left": 800_00}
    # a release of everything never gives back more than is left
    assert certificates.release_funds("rep-1") == {"released": 800_00, "reserved_left": 0}
    assert certificates.release_funds("rep-1", 1, key="release:rep-1:extra")["released"] == 0
    row = balance(engine, number)
    assert (row["available"], row["reserved"], row["spent"]) == (4_700_00, 0, 300_00)
    assert clean_audit(engine) == []


def test_amount_zero_records_nothing_and_a_refusal_changes_nothing(certificates, engine, period):
    kid, number = financed_child(certificates, engine, period, 1_000_00)
    assert certificates.reserve_funds("z-1", kid, period, 0, True)["available"] == 1_000_00
    with pytest.raises(Conflict) as refused:
        certificates.reserve_funds("z-2", kid, period, 1_000_01, True)
    assert refused.value.extra == {"available": "100000"}  # nameko stringifies
    with engine.connect() as conn:
        keys = conn.execute(
            sa.text(
                "SELECT count(*) FROM ledger_operations WHERE key IN ('reserve:z-1', 'reserve:z-2')"
            )
        ).scalar()
    assert keys == 0
    # refused once, the same key succeeds once money is there (nothing was remembered)
    assert certificates.reserve_funds("z-2", kid, period, 1_000_00, True)["reserved"] == 1_000_00


def test_the_database_refuses_a_negative_balance_whatever_the_code(certificates, engine, period):
    _kid, number = financed_child(certificates, engine, period, 1_000_00)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE balances SET available = available - 2000000, spent = spent + 2000000"
                " WHERE certificate_id = (SELECT id FROM certificates WHERE number = :n)"
            ),
            {"n": number},
        )


def test_audit_reports_a_corrupted_balance(certificates, engine, period):
    _kid, number = financed_child(certificates, engine, period, 2_000_00)
    assert clean_audit(engine) == []
    with engine.begin() as conn:  # a repair script gone wrong: adds up, but not to the ledger
        conn.execute(
            sa.text(
                "UPDATE balances SET available = available - 100, spent = spent + 100"
                " WHERE certificate_id = (SELECT id FROM certificates WHERE number = :n)"
            ),
            {"n": number},
        )
    try:
        problems = clean_audit(engine)
        assert len(problems) == 1 and number in problems[0] and "spent" in problems[0]
        cli = audit_command()
        assert cli.returncode == 1 and number in cli.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE balances SET available = available + 100, spent = spent - 100"
                    " WHERE certificate_id = (SELECT id FROM certificates WHERE number = :n)"
                ),
                {"n": number},
            )
    assert clean_audit(engine) == []
    assert audit_command().returncode == 0


def test_random_walk_of_thousands_of_operations_always_equals_the_recount(
    certificates, engine, period
):
    """Seeded: credit (a raised nominal), reserve, release, debit and expire with repeated
    keys; after every step the stored balance equals the recount of its entries, and after
    every batch audit-ledger is clean."""
    rng = random.Random(20261129)
    kid, number = financed_child(certificates, engine, period, 20_000_00)
    enrollments: list[str] = []
    used_keys: list[tuple] = []
    model_reserved: dict[str, int] = {}
    for step in range(2500):
        roll = rng.random()
        if used_keys and roll < 0.15:
            op = rng.choice(used_keys)  # a repeat: must change nothing
        elif roll < 0.45 or not enrollments:
            op = ("reserve", f"w-{step}", rng.randint(1, 3_000_00))
        elif roll < 0.65:
            op = ("release", rng.choice(enrollments), rng.choice([None, rng.randint(1, 2_000_00)]),
                  f"release:{step}")  # fmt: skip
        elif roll < 0.95:
            op = ("debit", rng.choice(enrollments), f"2026-{rng.randint(1, 12):02d}",
                  rng.randint(0, 1_500_00), rng.randint(0, 500_00))  # fmt: skip
        else:
            op = ("credit", rng.randint(1, 200_00))
        before = balance(engine, number)
        if op[0] == "reserve":
            try:
                certificates.reserve_funds(op[1], kid, period, op[2], True)
                if op[1] not in model_reserved:
                    model_reserved[op[1]] = op[2]
                    enrollments.append(op[1])
            except Conflict as error:
                assert error.code == "insufficient_funds" and op[2] > before["available"]
        elif op[0] == "release":
            certificates.release_funds(op[1], op[2], "проверка", op[3])
        elif op[0] == "debit":
            certificates.debit_funds(
                [{"enrollment_id": op[1], "month": op[2], "debit": op[3], "release": op[4]}]
            )
        else:
            with engine.begin() as conn:  # room for the raise, as a municipality would give
                conn.execute(
                    sa.text(
                        "UPDATE municipal_funds SET limit_amount = limit_amount + :a"
                        " WHERE municipality_code = :m"
                    ),
                    {"a": op[1], "m": kid["municipality_code"]},
                )
            principal = {"user_id": 1, "role": "regional_operator"}
            certificates.change_nominal(
                principal, number, int(before["nominal"]) + op[1], "Случайное изменение"
            )
        if op not in used_keys and op[0] != "credit":
            used_keys.append(op)
        after = balance(engine, number)
        parts = ("credited", "available", "reserved", "spent", "expired")
        stored = domain.Balance(*(int(after[k]) for k in parts))
        assert stored.is_consistent(), (step, op, after)
        assert stored == recount(engine, after["certificate_id"]), (step, op)
        if step % 250 == 249:
            assert clean_audit(engine) == [], step
    # expire what is left, twice: the second is a repeat
    with Session(engine) as session, session.begin():
        session.info["producer"] = "certificates"
        from services.certificates import ledger
        from services.certificates.models import Certificate

        cert = session.scalar(sa.select(Certificate).where(Certificate.number == number))
        left = balance(engine, number)["available"]
        assert ledger.expire(session, cert, period, "expire:walk", "тест")["expired"] == left
        assert ledger.expire(session, cert, period, "expire:walk", "тест")["expired"] == left
    row = balance(engine, number)
    assert row["available"] == 0 and row["expired"] == left
    assert clean_audit(engine) == []


def test_municipal_limit_of_n_gives_exactly_n_under_concurrency_and_the_queue_moves_up(
    certificates, engine, period
):
    n, nominal = 7, 3_000_00
    mun = funded(engine, period, fresh_municipality(), nominal, n * nominal)
    kids = [child(mun) for _ in range(30)]
    calls = [
        (kid, certificates.reserve_funds.call_async(f"lim-{kid['id']}", kid, period, 0, True))
        for kid in kids
    ]
    answers = {kid["id"]: call.result() for kid, call in calls}
    financed = [k for k, a in answers.items() if a["certificate_type"] == "financing"]
    assert len(financed) == n
    used = sql.scalar(
        engine, "SELECT used FROM municipal_funds WHERE municipality_code = :m", m=mun
    )
    queue = sql.scalars(
        engine,
        "SELECT c.child_id FROM financing_queue q JOIN certificates c"
        " ON c.id = q.certificate_id WHERE q.municipality_code = :m"
        " AND q.status = 'waiting' ORDER BY q.id",
        m=mun,
    )
    assert used == n * nominal and len(queue) == 30 - n
    # one financed child's nominal comes back (lowered to 0): the first in the queue moves up
    regional = {"user_id": 1, "role": "regional_operator"}
    returned = answers[financed[0]]["certificate_number"]
    certificates.change_nominal(regional, returned, 0, "Возврат номинала")
    first_waiting = certificates.get_balance(queue[0])
    assert first_waiting["type"] == "financing" and first_waiting["available"] == nominal
    assert certificates.get_balance(queue[1])["type"] == "accounting"
    # the limit is raised by two nominals: the next two move up, in order
    # (directly: the RPC checks the municipality with the catalog, not running here)
    with Session(engine) as session, session.begin():
        session.info["producer"] = "certificates"
        from services.certificates import funding

        funding.set_limit(session, mun, period, (n + 2) * nominal)
    assert [certificates.get_balance(c)["type"] for c in queue[1:4]] == [
        "financing",
        "financing",
        "accounting",
    ]
    assert clean_audit(engine) == []


def test_a_frozen_certificate_neither_reserves_nor_freezes_with_a_contract(
    certificates, engine, period
):
    kid, number = financed_child(certificates, engine, period, 2_000_00)
    regional = {"user_id": 1, "role": "regional_operator"}
    certificates.reserve_funds("fr-1", kid, period, 500_00, True)
    with pytest.raises(Conflict) as refused:
        certificates.freeze(regional, number)
    assert refused.value.code == "active_contracts"
    with pytest.raises(Conflict) as lowered:
        certificates.change_nominal(regional, number, 1_000_00, "Понижение")
    assert lowered.value.code == "active_contracts"
    certificates.release_funds("fr-1")
    assert certificates.freeze(regional, number)["status"] == "frozen"
    with pytest.raises(Conflict) as frozen:
        certificates.reserve_funds("fr-2", kid, period, 100_00, True)
    assert frozen.value.code == "certificate_frozen"
    assert certificates.freeze(regional, number, False)["status"] == "active"
    assert certificates.reserve_funds("fr-2", kid, period, 100_00, True)["reserved"] == 100_00


def test_ensure_certificate_is_one_per_child_under_concurrency(certificates, engine):
    kid = child()
    calls = [certificates.ensure_certificate.call_async(kid["id"], kid) for _ in range(20)]
    numbers = {call.result()["number"] for call in calls}
    assert len(numbers) == 1
    (number,) = numbers
    assert len(number) == 10 and number.isdigit()
    with engine.connect() as conn:
        issued = conn.execute(
            sa.text("SELECT count(*) FROM outbox WHERE type = 'certificate_issued'"
                    " AND body->'data'->>'certificate_number' = :n"),
            {"n": number},
        ).scalar()  # fmt: skip
    assert issued == 1


def test_period_rollover_expires_leftovers_credits_the_next_and_can_be_rerun(
    certificates, engine, period
):
    from sqlalchemy.orm import sessionmaker

    from services.certificates import rollover

    # years of their own (children "born" in 2030), so no other test meets these periods
    with Session(engine) as session, session.begin():
        old = Period(name=f"Старый {uuid.uuid4().hex[:4]}", start_date=date(2040, 9, 1),
                     end_date=date(2041, 8, 31), status="open")  # fmt: skip
        new = Period(name="Следующий", start_date=date(2041, 9, 1), end_date=date(2042, 8, 31),
                     status="open")  # fmt: skip
        session.add_all([old, new])
        session.flush()
        old_id, new_id = old.id, new.id
    mun = fresh_municipality()
    funded(engine, old_id, mun, 1_000_00, 10_000_00)
    funded(engine, new_id, mun, 1_500_00, 1_500_00)  # room for one child next year
    kids = [child(mun, birth="2030-03-01"), child(mun, birth="2030-04-01")]
    numbers = [
        certificates.reserve_funds(f"old-{k['id']}", k, old_id, 400_00, True)["certificate_number"]
        for k in kids
    ]
    factory = sessionmaker(engine, expire_on_commit=False, info={"producer": "certificates"})
    # issue 18 item 7: closed once its last day is over, not before
    with pytest.raises(domain.Refused) as early:
        rollover.close_period(factory, old_id, date(2041, 8, 31))
    assert early.value.code == "period_not_over"
    first = rollover.close_period(factory, old_id, date(2041, 9, 1))
    again = rollover.close_period(factory, old_id, date(2041, 9, 1))
    assert first["expired"] >= 2 * 600_00
    assert again["expired"] == first["expired"]  # answered from the ledger, nothing new
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.number, b.period_id, b.available, b.expired, b.reserved FROM balances b"
                " JOIN certificates c ON c.id = b.certificate_id WHERE c.number = ANY(:n)"
                " ORDER BY c.id, b.period_id"
            ),
            {"n": numbers},
        ).all()
        status = conn.execute(
            sa.text("SELECT status FROM periods WHERE id = :p"), {"p": old_id}
        ).scalar()
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM financing_queue WHERE period_id = :p AND status = 'waiting'"
            ),
            {"p": new_id},
        ).scalar()
    assert status == "closed"
    old_rows = [r for r in rows if r.period_id == old_id]
    assert [(r.available, r.expired, r.reserved) for r in old_rows] == [(0, 600_00, 400_00)] * 2
    assert [r.available for r in rows if r.period_id == new_id] == [1_500_00]
    assert waiting == 1
    assert clean_audit(engine) == []


def test_many_debits_in_one_batch_each_once(certificates, engine, period):
    kid, number = financed_child(certificates, engine, period, 20_000_00)
    for i in range(5):
        certificates.reserve_funds(f"b-{i}", kid, period, 2_000_00, True)
    items = [
        {"enrollment_id": f"b-{i}", "month": f"2026-{m:02d}", "debit": 300_00, "release": 50_00}
        for i in range(5)
        for m in (9, 10, 11)
    ]
    answers = certificates.debit_funds(items)
    assert [a["status"] for a in answers] == ["debited"] * 15
    assert {(a["enrollment_id"], a["month"]) for a in answers} == {
        (i["enrollment_id"], i["month"]) for i in items
    }
    eventlet.sleep(0)
    repeated = certificates.debit_funds(list(reversed(items)))
    assert [a["status"] for a in repeated] == ["repeated"] * 15
    row = balance(engine, number)
    assert (row["spent"], row["reserved"]) == (15 * 300_00, 10_000_00 - 15 * 350_00)
    assert clean_audit(engine) == []


def test_a_certificate_expires_at_eighteen_and_its_room_goes_to_the_queue(
    certificates, engine, period
):
    from datetime import timedelta

    from sqlalchemy.orm import sessionmaker

    from services.certificates import rollover

    with engine.connect() as conn:
        start = conn.execute(
            sa.text("SELECT start_date FROM periods WHERE id = :p"), {"p": period}
        ).scalar()
    nominal = 2_000_00
    mun = funded(engine, period, fresh_municipality(), nominal, nominal)
    birthday = start + timedelta(days=20)  # turns 18 during the period
    older = child(mun, birth=birthday.replace(year=birthday.year - 18).isoformat())
    younger = child(mun)
    first = certificates.reserve_funds(f"age-{older['id']}", older, period, 0, True)
    assert first["certificate_type"] == "financing"
    assert (
        certificates.reserve_funds(f"age-{younger['id']}", younger, period, 0, True)[
            "certificate_type"
        ]
        == "accounting"
    )
    factory = sessionmaker(engine, expire_on_commit=False, info={"producer": "certificates"})
    expired = rollover.expire_aged(factory, birthday)
    assert first["certificate_number"] in expired
    assert rollover.expire_aged(factory, birthday) == []  # a re-run does nothing
    gone = certificates.get_balance(older["id"])
    assert (gone["status"], gone["available"], gone["expired"]) == ("expired", 0, nominal)
    moved_up = certificates.get_balance(younger["id"])
    assert (moved_up["type"], moved_up["available"]) == ("financing", nominal)
    assert clean_audit(engine) == []


def test_a_debit_batch_mixes_unknown_short_and_full_months_and_races_itself(
    certificates, engine, period
):
    """One batch answers each item as the one-by-one rules would: an unknown enrollment is
    `no_reservation` (recorded), a month asking more than is left is `short` (takes what is
    left: the debit first), the rest `debited`; two batches sent at once with the same and
    overlapping items debit each month once, and the ledger stays clean."""
    kid, number = financed_child(certificates, engine, period, 10_000_00)
    certificates.reserve_funds("mix-1", kid, period, 1_000_00, True)
    certificates.reserve_funds("mix-2", kid, period, 500_00, True)
    items = [
        {"enrollment_id": "mix-1", "month": "2026-09", "debit": 400_00, "release": 100_00},
        {"enrollment_id": "mix-2", "month": "2026-09", "debit": 600_00, "release": 300_00},
        {"enrollment_id": "mix-none", "month": "2026-09", "debit": 100_00, "release": 0},
    ]
    answers = certificates.debit_funds(items)
    assert [(a["status"], a["debited"], a["released"]) for a in answers] == [
        ("debited", 400_00, 100_00),
        ("short", 500_00, 0),
        ("no_reservation", 0, 0),
    ]
    more = [
        {"enrollment_id": "mix-1", "month": f"2026-{m}", "debit": 100_00, "release": 0}
        for m in ("10", "11", "12")
    ]
    racing = [certificates.debit_funds.call_async(more), certificates.debit_funds.call_async(
        list(reversed(more)) + items)]  # fmt: skip
    first, second = (call.result() for call in racing)
    statuses = sorted(a["status"] for a in first + second[:3])
    assert statuses == ["debited"] * 3 + ["repeated"] * 3
    assert [a["status"] for a in second[3:]] == ["repeated"] * 3
    row = balance(engine, number)
    assert (row["spent"], row["reserved"]) == (400_00 + 500_00 + 300_00, 1_000_00 - 800_00)
    assert row["available"] == 10_000_00 - 1_500_00 + 100_00
    assert clean_audit(engine) == []


def test_a_freeze_racing_a_reservation_never_leaves_a_frozen_certificate_holding_money(
    certificates, engine, period
):
    """Issue 24: the reservation read the certificate's status unlocked, then waited for its
    balance row; a freeze in between found nothing reserved and froze it. Here the balance row
    is held so that the reservation waits exactly there, and the freeze comes meanwhile."""
    kid, number = financed_child(certificates, engine, period, 2_000_00)
    regional = {"user_id": 1, "role": "regional_operator"}
    with balance_row_held(engine, period, number) as blocker:
        reserving = certificates.reserve_funds.call_async("race-1", kid, period, 500_00, True)
        eventlet.sleep(0.5)  # the reservation waits for the balance row
        freezing = certificates.freeze.call_async(regional, number)
        eventlet.sleep(0.5)  # and the freeze has run, or waits for the reservation
        blocker.rollback()
    outcomes = []
    for call in (reserving, freezing):
        try:
            outcomes.append(call.result())
        except Conflict as refused:
            outcomes.append(refused.code)
    row = balance(engine, number)
    with engine.connect() as conn:
        status = conn.scalar(
            sa.text("SELECT status FROM certificates WHERE number = :n"), {"n": number}
        )
    assert not (status == "frozen" and row["reserved"] > 0), (status, dict(row), outcomes)
    assert outcomes[1] == "active_contracts", outcomes  # the reservation went first


# --- issue 20 item 1: a release that finds nothing leaves a tombstone ----------------------


def test_a_reserve_after_a_release_that_found_nothing_is_refused_and_changes_nothing(
    certificates, engine, period
):
    """The campaign's SIGSTOP of certificates: enrollment gave up on a reservation, cancelled
    the application and released (nothing was reserved yet); the stale reserve ran after and
    held 6,000 ₽ for a cancelled application. Now the release's tombstone refuses it."""
    kid, number = financed_child(certificates, engine, period, 10_000_00)
    assert certificates.release_funds("stale-1", None, "application_closed") == {
        "released": 0,
        "reserved_left": 0,
    }
    for amount in (6_000_00, 0):
        with pytest.raises(Conflict) as refused:
            certificates.reserve_funds("stale-1", kid, period, amount, True)
        assert refused.value.code == "reservation_released"
    # a free place (budget registry) is not claimed for it either
    with pytest.raises(Conflict) as refused:
        certificates.reserve_funds("stale-1", kid, period, 0, False)
    assert refused.value.code == "reservation_released"
    row = balance(engine, number)
    assert (row["available"], row["reserved"]) == (10_000_00, 0)
    with engine.connect() as conn:
        held = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM reservations WHERE enrollment_id = 'stale-1'),"
                " (SELECT count(*) FROM free_places WHERE enrollment_id = 'stale-1')"
            )
        ).one()
    assert tuple(held) == (0, 0)
    # a repeat of the release answers the same; other enrollments reserve as before
    assert certificates.release_funds("stale-1")["released"] == 0
    assert (
        certificates.reserve_funds("fresh-1", kid, period, 1_000_00, True)["reserved"] == 1_000_00
    )
    assert clean_audit(engine) == []


def test_a_release_racing_a_reservation_in_flight_releases_it(certificates, engine, period):
    """The reservation has claimed its key and waits for the balance row when the release
    comes: the release finds no committed reservation; its tombstone waits for the
    reservation's claim, and then the release gives back what was reserved."""
    kid, number = financed_child(certificates, engine, period, 10_000_00)
    with balance_row_held(engine, period, number) as blocker:
        reserving = certificates.reserve_funds.call_async("race-2", kid, period, 6_000_00, True)
        eventlet.sleep(0.5)  # the reservation waits for the balance row, its key claimed
        releasing = certificates.release_funds.call_async("race-2", None, "application_closed")
        eventlet.sleep(0.5)  # the release found nothing and waits on the key
        blocker.rollback()
    assert reserving.result()["reserved"] == 6_000_00
    assert releasing.result() == {"released": 6_000_00, "reserved_left": 0}
    row = balance(engine, number)
    assert (row["available"], row["reserved"]) == (10_000_00, 0)
    assert clean_audit(engine) == []


def test_releases_and_reservations_of_the_same_applications_in_any_order_hold_nothing(
    certificates, engine, period
):
    """Each application's reserve and release race (both sent at once, in either order): in
    the end nothing is reserved for any of them, whichever ran first."""
    kid, number = financed_child(certificates, engine, period, 100_000_00)
    rng = random.Random(20)
    calls = []
    for i in range(60):
        reserve = (certificates.reserve_funds.call_async, (f"any-{i}", kid, period, 1_000_00, True))
        release = (certificates.release_funds.call_async, (f"any-{i}", None, "application_closed"))
        pair = [reserve, release]
        rng.shuffle(pair)
        calls += [send(*args) for send, args in pair]
    for call in calls:
        try:
            call.result()
        except Conflict as refused:
            assert refused.code == "reservation_released"
    row = balance(engine, number)
    assert (row["available"], row["reserved"]) == (100_000_00, 0), dict(row)
    assert clean_audit(engine) == []


def finance_registered(engine, municipality, period_id) -> int:
    """The calendar's finance_registered (rollover.finance_registered), for one municipality:
    other tests' municipalities keep what they have."""
    from services.certificates import funding

    total, after = 0, 0
    while after is not None:
        with Session(engine, info={"producer": "certificates"}) as session, session.begin():
            financed, after = funding.finance_registered(session, municipality, period_id, after)
        total += financed
    return total


def test_registered_children_are_financed_before_they_apply_in_issue_order_within_the_limit(
    certificates, engine, period
):
    """Issue 20: the calendar's finance_registered credits registered children's certificates
    while the limit has room (issue order, never queueing anyone), so the first application
    is a reservation; a child left without room still queues by applying, and with anyone
    waiting nothing is pre-financed (nobody jumps the queue)."""
    nominal = 5_000_00
    mun = funded(engine, period, fresh_municipality(), nominal, 2 * nominal)
    kids = [child(mun) for _ in range(3)]
    numbers = [certificates.ensure_certificate(kid["id"], kid)["number"] for kid in kids]

    assert finance_registered(engine, mun, period) == 2
    assert [certificates.get_balance(kid["id"])["type"] for kid in kids] == [
        "financing", "financing", "accounting",
    ]  # fmt: skip
    assert balance(engine, numbers[0])["available"] == nominal
    assert finance_registered(engine, mun, period) == 0  # a re-run: nothing more
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT count(*) FROM financing_queue WHERE municipality_code = :m"),
            {"m": mun},
        ).scalar() == 0  # fmt: skip

    # the first application of a financed child reserves; it finances nothing again
    answer = certificates.reserve_funds(f"pre-{kids[0]['id']}", kids[0], period, nominal, True)
    assert answer["certificate_type"] == "financing" and answer["reserved"] == nominal
    # the third applies: no room, so it queues; a fourth registered child waits behind it
    assert (
        certificates.reserve_funds(f"pre-{kids[2]['id']}", kids[2], period, 0, True)[
            "certificate_type"
        ]
        == "accounting"
    )
    late = child(mun)
    certificates.ensure_certificate(late["id"], late)
    with Session(engine) as session, session.begin():
        session.info["producer"] = "certificates"
        from services.certificates import funding

        funding.set_limit(session, mun, period, 4 * nominal)  # room for two more
    # the queue moved first (the third child), then the calendar finances the late one
    assert certificates.get_balance(kids[2]["id"])["type"] == "financing"
    assert certificates.get_balance(late["id"])["type"] == "accounting"
    finance_registered(engine, mun, period)
    assert certificates.get_balance(late["id"])["type"] == "financing"
    with engine.connect() as conn:
        used = conn.execute(
            sa.text("SELECT used FROM municipal_funds WHERE municipality_code = :m"), {"m": mun}
        ).scalar()
    assert used == 4 * nominal
    assert clean_audit(engine) == []


def test_with_a_child_waiting_nobody_is_financed_ahead_of_the_queue(certificates, engine, period):
    nominal = 5_000_00
    mun = funded(engine, period, fresh_municipality(), nominal, nominal)
    first, waiting, registered = child(mun), child(mun), child(mun)
    certificates.reserve_funds(f"q-{first['id']}", first, period, 0, True)  # takes the room
    certificates.reserve_funds(f"q-{waiting['id']}", waiting, period, 0, True)  # queued
    certificates.ensure_certificate(registered["id"], registered)
    with Session(engine) as session, session.begin():  # room for one: not the newcomer's
        session.execute(
            sa.text("UPDATE municipal_funds SET limit_amount = :l WHERE municipality_code = :m"),
            {"l": 2 * nominal, "m": mun},
        )
    finance_registered(engine, mun, period)
    assert certificates.get_balance(registered["id"])["type"] == "accounting"
    assert certificates.get_balance(waiting["id"])["type"] == "accounting"  # the queue's turn


# --- issue 20: reserve_many, enrollment's batch of reservations in one transaction --------
# It answers each item what that item alone would have been answered, never lets one refusal
# refuse the others, and concurrent batches over the same certificates neither deadlock nor
# overdraw.


def item(enrollment_id, kid, period_id, amount, financing=True, deadline=None):
    return {
        "enrollment_id": enrollment_id,
        "child": kid,
        "period_id": period_id,
        "amount": amount,
        "financing": financing,
        "deadline": deadline,
    }


def error_of(outcome):
    assert set(outcome) == {"error"}, outcome
    return deserialize(outcome["error"])


def funds_reserved_events(engine, enrollment_ids):
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT body->'data'->>'enrollment_id' FROM outbox"
                    " WHERE type = 'funds_reserved'"
                    " AND body->'data'->>'enrollment_id' = ANY(:ids) ORDER BY 1"
                ),
                {"ids": list(enrollment_ids)},
            )
            .scalars()
            .all()
        )


def test_a_batch_answers_each_item_what_it_alone_would_be_answered(certificates, engine, period):
    a, number_a = financed_child(certificates, engine, period, 1_000_00)
    b, number_b = financed_child(certificates, engine, period, 1_000_00)
    tag = uuid.uuid4().hex[:8]
    ids = {name: f"{tag}-{name}" for name in ("a1", "a2", "b1", "late", "stale", "z")}
    # the tombstone of an application closed before its reservation came
    certificates.release_funds(ids["stale"], None, "application_closed")
    outcomes = certificates.reserve_many(
        [
            item(ids["a1"], a, period, 600_00),
            item(ids["a2"], a, period, 600_00),  # the same certificate, after a1: short
            item(ids["b1"], b, period, 300_00),
            item(ids["late"], b, period, 100_00, deadline=time.time() - 1),
            item(ids["stale"], b, period, 100_00),
            {"enrollment_id": ids["z"], "child": b},  # malformed
            item(ids["a1"], a, period, 999_00),  # a repeat in the same batch: the first answer
        ]
    )
    assert len(outcomes) == 7
    assert outcomes[0]["reserved"]["reserved"] == 600_00
    assert outcomes[0]["reserved"]["certificate_number"] == number_a
    short = error_of(outcomes[1])
    assert isinstance(short, Conflict) and short.code == "insufficient_funds"
    assert int(short.extra["available"]) == 400_00
    assert outcomes[2]["reserved"]["reserved"] == 300_00
    late = error_of(outcomes[3])
    assert isinstance(late, ServiceUnavailable) and late.code == "deadline_passed"
    stale = error_of(outcomes[4])
    assert isinstance(stale, Conflict) and stale.code == "reservation_released"
    malformed = error_of(outcomes[5])
    assert isinstance(malformed, InvalidInput) and malformed.code == "invalid_item"
    assert outcomes[6]["reserved"]["reserved"] == 600_00  # the first answer, not 999
    # what was written is exactly what the answers say, and the ledger agrees
    assert (balance(engine, number_a)["available"], balance(engine, number_a)["reserved"]) == (
        400_00,
        600_00,
    )
    assert (balance(engine, number_b)["available"], balance(engine, number_b)["reserved"]) == (
        700_00,
        300_00,
    )
    assert funds_reserved_events(engine, ids.values()) == sorted([ids["a1"], ids["b1"]])
    # the refused ones may be asked again alone: a2 once there is money, late as it was
    certificates.release_funds(ids["a1"], None, "application_closed")
    assert certificates.reserve_funds(ids["a2"], a, period, 600_00, True)["reserved"] == 600_00
    assert certificates.reserve_funds(ids["late"], b, period, 100_00, True)["reserved"] == 100_00
    assert clean_audit(engine) == []


def test_a_batch_issues_and_finances_a_certificate_the_child_has_not_yet(
    certificates, engine, period
):
    """As reserve_funds does: a child without a certificate gets one with the batch, and its
    financing stays even when its reservation is refused."""
    municipality = funded(engine, period, fresh_municipality(), 500_00, 10_000_00)
    kid = child(municipality)
    tag = uuid.uuid4().hex[:8]
    outcomes = certificates.reserve_many(
        [item(f"{tag}-1", kid, period, 700_00), item(f"{tag}-2", kid, period, 200_00)]
    )
    assert error_of(outcomes[0]).code == "insufficient_funds"
    assert outcomes[1]["reserved"]["certificate_type"] == "financing"
    row = balance(engine, outcomes[1]["reserved"]["certificate_number"])
    assert (row["credited"], row["available"], row["reserved"]) == (500_00, 300_00, 200_00)
    assert clean_audit(engine) == []


def test_concurrent_batches_over_the_same_certificates_neither_deadlock_nor_overdraw(
    certificates, engine, period
):
    """12 batches at once, each asking for the same 6 certificates in another order, more
    than they hold: every item answered (reserved or short), no certificate below zero, each
    balance exactly its reservations, the ledger's recount clean."""
    kids = [financed_child(certificates, engine, period, 1_000_00) for _ in range(6)]
    rng = random.Random(20)
    tag = uuid.uuid4().hex[:8]
    batches = []
    for n in range(12):
        items = [item(f"{tag}-{n}-{i}", kid, period, 300_00) for i, (kid, _no) in enumerate(kids)]
        rng.shuffle(items)
        batches.append(items)
    calls = [certificates.reserve_many.call_async(items) for items in batches]
    reserved = {number: 0 for _kid, number in kids}
    by_child = {kid["id"]: number for kid, number in kids}
    answered = 0
    for items, call in zip(batches, calls, strict=True):
        for sent, outcome in zip(items, call.result(), strict=True):
            answered += 1
            if "reserved" in outcome:
                reserved[by_child[sent["child"]["id"]]] += outcome["reserved"]["reserved"]
            else:
                assert error_of(outcome).code == "insufficient_funds"
    assert answered == 72
    for _kid, number in kids:
        row = balance(engine, number)
        assert reserved[number] == 900_00  # three of 300 fit in 1,000, the rest refused
        assert (row["available"], row["reserved"]) == (100_00, 900_00)
    assert clean_audit(engine) == []
