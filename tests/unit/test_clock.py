"""The business clock: one source of "now" that tests, demonstrations and staging move, and
production never does."""

import ast
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from servicekit import clock

ROOT = Path(__file__).resolve().parents[2]


def test_today_is_the_region_day_of_the_instant():
    # 20:00 UTC on 3 December is already 4 December in Krasnoyarsk (UTC+7)
    with clock.freeze(datetime(2026, 12, 3, 20, 0, tzinfo=UTC)):
        assert clock.today() == date(2026, 12, 4)
        assert clock.now() == datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def test_a_frozen_clock_travels_and_comes_back():
    real_before = datetime.now(UTC)
    with clock.freeze("2027-01-20T10:00:00+07:00"):
        clock.travel(timedelta(days=40))
        assert clock.today() == date(2027, 3, 1)
    assert clock.now() >= real_before  # the real clock again
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_date_freezes_at_ten_in_the_morning_region_time():
    with clock.freeze(date(2027, 9, 1)) as instant:
        assert instant == datetime(2027, 9, 1, 3, 0, tzinfo=UTC)
        assert clock.today() == date(2027, 9, 1)


def test_a_naive_instant_is_refused():
    with pytest.raises(clock.ClockRefused):
        clock.parse_instant("2027-01-20T10:00:00")
    with pytest.raises(clock.ClockRefused):
        clock.parse_instant("the twentieth")


def test_the_shared_file_moves_every_reader(tmp_path, monkeypatch):
    path = tmp_path / "clock.json"
    monkeypatch.setenv(clock.FILE_VARIABLE, str(path))
    clock.set_shared(str(path), "2027-05-31T23:59:59+07:00", frozen=True)
    assert clock.today() == date(2027, 5, 31)
    clock.set_shared(str(path), "2027-06-01T09:00:00+07:00")  # running from here
    assert clock.today() == date(2027, 6, 1)
    assert clock.now() >= datetime(2027, 6, 1, 2, 0, tzinfo=UTC)
    path.unlink()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NAVIGATOR_")}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )


def test_clock_start_starts_the_process_there_and_runs_forward():
    done = _python(
        "from servicekit import clock; import time; a = clock.now(); time.sleep(0.2); "
        "b = clock.now(); print(clock.today(), (b - a).total_seconds() >= 0.2)",
        NAVIGATOR_CLOCK_START="2027-01-20T10:00:00+07:00",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2027-01-20", "True"]


@pytest.mark.parametrize("module", ["servicekit.service", "gateway.service"])
def test_a_moved_clock_is_refused_at_start_in_production(module):
    done = _python(
        f"import {module}",
        NAVIGATOR_ENV="production",
        NAVIGATOR_CLOCK_START="2027-01-20T10:00:00+07:00",
    )
    assert done.returncode != 0
    assert "NAVIGATOR_CLOCK_START is refused when NAVIGATOR_ENV=production" in done.stderr


WALL_CLOCK_CALLS = {("date", "today"), ("datetime", "now"), ("datetime", "utcnow")}
# the real time on purpose: tokens, throttles and sessions expire for real; a mail relay's
# outage is waited out, and an interrupted send's lease ends, in real seconds
REAL_TIME_ALLOWED = {"services/accounts/operations.py", "services/notifications/sender.py"}


def test_no_business_code_reads_the_wall_clock():
    offenders = []
    for folder in ("services", "contracts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            if "/migrations/" in relative or relative in REAL_TIME_ALLOWED:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and (node.func.value.id, node.func.attr) in WALL_CLOCK_CALLS
                ):
                    offenders.append(f"{relative}:{node.lineno}")
    assert offenders == [], "read servicekit.clock instead"
