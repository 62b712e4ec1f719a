from contextlib import contextmanager
from pathlib import Path

import pytest

from servicekit import topology
from tests.conftest import RUN_ID, own_databases, own_vhost
from tests.support.mail import MailServer
from tests.support.system import RunningSystem

SNILS_CHECK_LIMIT = (
    300  # a parent's SNILS checks an hour in the test system (shared parents add ~100)
)


@pytest.fixture(scope="package")
def databases(server_urls):
    """The end-to-end system's own databases: what its scenarios leave (certificates of every
    shape, closed periods, billed months) never enters the integration tests' region-wide
    checks, which audit every certificate of their databases."""
    with own_databases(server_urls, f"navtest_{RUN_ID}_e2e") as urls:
        yield urls


@pytest.fixture(scope="package")
def vhost(server_urls):
    """The end-to-end system's own virtual host: its processes and the messages left in its
    queues never meet the integration tests' in-process services (they answered those tests'
    RPC on the real clock, and its unconsumed events went to their handlers)."""
    with own_vhost(server_urls, f"navtest_{RUN_ID}_e2e") as uri:
        yield uri


@pytest.fixture(scope="package")
def mail_server(tmp_path_factory):
    """The system's SMTP server (aiosmtpd, as the Procfile's `mail`), a Maildir to read."""
    server = MailServer(tmp_path_factory.mktemp("mail") / "Maildir").start()
    yield server
    server.stop()


def system_env(mail_server) -> dict:
    """The settings of an e2e system, beside the databases, vhost and ports it runs on."""
    return {
        "HEALTH_RPC_TIMEOUT": "2",
        "RPC_TIMEOUT": "5",
        # tests act as clients at many addresses via X-Forwarded-For (login throttling)
        "TRUSTED_PROXIES": "127.0.0.1",
        # search answers are shared for a second, so writes show in the search quickly
        "SEARCH_CACHE_SECONDS": "1",
        # enrollment's recovery runs every second on what is 3 s old (crash tests)
        "ENROLLMENT_SWEEP_SECONDS": "1",
        "ENROLLMENT_SETTLE_GRACE_SECONDS": "3",
        # short deadlines, so that the slow-client tests see them quickly
        "HTTP_HEADER_TIMEOUT": "3",
        "HTTP_BODY_TIMEOUT": "2",
        # two refreshes of one token within 2 s are two tabs; later, a stolen copy
        "REFRESH_REUSE_GRACE_SECONDS": "2",
        # letters go to the test's aiosmtpd and are looked for at once
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail_server.port),
        "NOTIFICATIONS_POLL_SECONDS": "0.3",
        "PORTAL_URL": "http://portal.test",
        # every SNILS checked counts (issue 24): the shared parents add many children
        "SNILS_CHECK_LIMIT": str(SNILS_CHECK_LIMIT),
    }


@contextmanager
def running_system(vhost: str, log_dir: Path, env: dict):
    """All services and the gateway as real processes on `vhost`, stopped after the block."""
    topology.declare(topology.all_handlers(), vhost)
    running = RunningSystem(vhost, log_dir, env)
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def system(databases, vhost, tmp_path_factory, mail_server):
    """All services and the gateway as real processes, as `make run` starts them. Stopped
    after the last end-to-end test (package scope): left running, its processes answered RPC
    in the run's virtual host on the real clock while the integration tests' in-process
    services ran on a frozen one."""
    with running_system(vhost, tmp_path_factory.mktemp("logs"), system_env(mail_server)) as up:
        yield up


@pytest.fixture(scope="package")
def api(system):
    return f"{system.base_url}/api/v1"


@pytest.fixture(scope="package")
def accounts_world(api, databases):
    """Logged-in users of every role, at home (Krasnoyarsk) and elsewhere, and a child of
    each of two parents (tests/support/accounts.py)."""
    from tests.support.accounts import build_world

    return build_world(api, databases)


@pytest.fixture(scope="package")
def home_applicant(accounts_world, databases):
    """The first parent's child (Krasnoyarsk) has applied to the home organization, so that
    organization's staff see it (a provider sees only the children who applied to it)."""
    from tests.support.accounts import HOME_ORG, apply_to_organization

    child = accounts_world.children["parent"]
    apply_to_organization(databases, accounts_world.client("parent"), child, HOME_ORG)
    return child
