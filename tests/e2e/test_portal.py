"""The parents' portal in a browser (tests/browser), against the running system.

Playwright's synchronous API does not run under eventlet's monkey-patching (which
`nameko test` applies): it waits forever for its driver. So this test prepares the data here
and runs the browser journeys in a plain pytest process of their own, which reads the
system's address and the data from PORTAL_WORLD, and fails with that process's output.
"""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from servicekit.tokens import issue_access_token
from tests.support import enrollment
from tests.support.system import ROOT

DIST = ROOT / "web" / "dist" / "index.html"


@pytest.fixture(scope="module")
def portal_world(system, databases):
    """A chess club in Krasnoyarsk with two groups (one with a co-payment), a funded period,
    and tokens of its provider and of a regional operator for the steps done through the API."""
    catalog = sa.create_engine(databases["catalog"])
    certificates = sa.create_engine(databases["certificates"])
    try:
        enrollment.period(certificates, "krasnoyarsk", nominal=1_000_000)
        organization = enrollment.organization(catalog)
        groups = [
            enrollment.group(
                catalog, organization, title="Шахматы для начинающих", capacity=40,
                price=1_200_000, normative=900_000,
            ),
            enrollment.group(catalog, organization, title="Шахматы: турнирная подготовка",
                             capacity=40),
        ]  # fmt: skip
    finally:
        catalog.dispose()
        certificates.dispose()
    with sa.create_engine(databases["catalog"]).connect() as conn:
        programs = (
            conn.execute(
                sa.text("SELECT program_id FROM study_groups WHERE id = ANY(:ids) ORDER BY id"),
                {"ids": groups},
            )
            .scalars()
            .all()
        )
    # the provider's staff member exists in accounts (confirming marks the child verified by them)
    accounts = sa.create_engine(databases["accounts"])
    try:
        staff = enrollment.provider(accounts, organization)
    finally:
        accounts.dispose()
    provider = {"sub": str(staff["user_id"]), "role": "provider"}
    return {
        "base_url": system.base_url,
        "groups": groups,
        "programs": list(programs),
        "provider_token": issue_access_token({**provider, "org": organization}, ttl=3600),
        "regional_token": issue_access_token(
            {"sub": "9901", "role": "regional_operator"}, ttl=3600
        ),
    }


def test_portal_journeys_in_a_browser(portal_world):
    assert DIST.is_file(), "web/dist is not built: run `make web` (make test does)"
    env = {**os.environ, "PORTAL_WORLD": json.dumps(portal_world)}
    env.pop("AMQP_URI", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:cacheprovider", "-s"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(result.stdout[-5000:])
    assert result.returncode == 0, result.stdout[-15000:] + result.stderr[-3000:]
