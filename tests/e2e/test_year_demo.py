"""`make year-demo`, shorter: September to November with a few dozen applications, on
databases and a RabbitMQ virtual host of its own (the year moves the business clock of every
process, which the shared test system must not see), and its invariants asserted."""

import io
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from bench.year_demo import Year, print_checks, region_instant, system_settings
from servicekit import clock, config, migrate, topology
from tests.conftest import own_vhost
from tests.support.system import RunningSystem


@pytest.fixture
def year_world(server_urls, databases, tmp_path):
    name = f"navtest_year_{uuid.uuid4().hex[:8]}"
    urls = {}
    for owner in config.DATABASE_OWNERS:
        url = config.with_driver(f"{server_urls['database']}/{name}_{owner}")
        migrate.create_database(url)
        migrate.upgrade(owner, url)
        urls[owner] = url
    engines = {owner: sa.create_engine(url) for owner, url in urls.items()}
    clock_file = str(tmp_path / "clock.json")
    clock.set_shared(clock_file, region_instant(date(2026, 8, 31), 10), frozen=True)
    try:
        with own_vhost(server_urls, name) as amqp:
            topology.declare(topology.all_handlers(), amqp)
            env = {f"{owner.upper()}_DATABASE_URL": url for owner, url in urls.items()}
            env.update(system_settings(clock_file))
            system = RunningSystem(amqp, tmp_path, env)
            try:
                yield system, amqp, engines, clock_file
            finally:
                system.stop()
    finally:
        for engine in engines.values():
            engine.dispose()
        for url in urls.values():
            migrate.drop_database(url)


def test_three_months_of_the_year_keep_every_invariant(year_world):
    system, amqp, engines, clock_file = year_world
    out = io.StringIO()
    year = Year(
        system.base_url,
        amqp,
        engines.__getitem__,
        clock_file,
        applications=24,
        groups=3,
        months=["2026-09", "2026-10", "2026-11"],
        out=out,
    )
    year.prepare()
    system.start(timeout=120)
    checks = year.run()
    failed = print_checks(checks, out)
    report = out.getvalue() + "\n".join(year.notes)
    assert failed == 0, report
    assert [row["month"] for row in year.rows] == ["2026-09", "2026-10", "2026-11"], report
    september = year.rows[0]
    assert september["contracts"] > 0 and september["debited"] > 0, report
    # every month: the invoices (advance + final + corrections) are what was debited, all paid
    for row in year.rows:
        invoiced = row["advance"] + row["final"] + row["correction"]
        assert invoiced == row["debited"] == row["paid"], report
