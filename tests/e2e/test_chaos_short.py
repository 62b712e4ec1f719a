"""The fault campaign's short version (issue 20, docs/chaos.md): a few of `make chaos`'s
scenarios with 100 applications, so that a regression of the answers' honesty under a fault
(a repeat that does not answer the first result, an application made after its 503, an
orphaned reservation, an overbooking, a lost event) fails the test suite, not only the
campaign run by hand.

Each scenario runs `bench.chaos` as `make chaos` does, in a process of its own: a system of
its own (databases navigator_bench_chaos_*, a vhost of its own behind a TCP proxy), its
processes killed or stopped by the scenario."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.system import ROOT

SCENARIOS = ("kill gateway", "stop certificates")


def campaign_env() -> dict:
    """The environment without the test run's own databases and broker: the campaign makes
    its own (bench/databases.py refuses to wipe any other)."""
    own = ("_DATABASE_URL", "_DATABASE_NAME")
    return {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(own) and name not in ("AMQP_URI", "NAVIGATOR_CRASH_AT")
    }


@pytest.mark.skipif(not shutil.which("rabbitmqctl"), reason="the campaign makes vhosts with it")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_short_fault_campaign_keeps_every_answer_honest(scenario, tmp_path):
    rows = tmp_path / "rows.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--applications", "100", "--seats", "70",
         "--groups", "5", "--clients", "20", "--scenario", scenario, "--json", str(rows)],
        cwd=ROOT, env=campaign_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    row = json.loads(rows.read_text())[scenario]
    assert sum(row["answers"].values()) == 100
    for column in ("orphaned", "after_503", "repeat_not_first", "overbooked", "lost"):
        assert row[column] == 0, (column, row)
