"""Fixtures: a fresh PostgreSQL database per service and a fresh RabbitMQ virtual host per
test run, removed afterwards. Pure-domain tests use none of them and need no server."""

import os
import uuid
from contextlib import contextmanager
from urllib.parse import quote, urlparse, urlunparse

import pytest
import requests

from servicekit import config
from tests.support import servers

RUN_ID = uuid.uuid4().hex[:8]
# the calendar's timer is off in tests (they run its jobs by hand, at a clock they set);
# a test of the timer turns it on for its own container
os.environ.setdefault("CALENDAR_SECONDS", "0")


@pytest.fixture(scope="session")
def server_urls():
    containers = []
    if not (
        servers.reachable(config.server_url(), 5432) and servers.reachable(config.amqp_uri(), 5672)
    ):
        if servers.docker_available():
            containers = servers.start_containers()
        else:
            pytest.fail(f"PostgreSQL or RabbitMQ is not reachable. {servers.HINT}", pytrace=False)
    yield {"database": config.server_url(), "amqp": config.amqp_uri()}
    for container in containers:
        container.stop()


@contextmanager
def own_vhost(server_urls, name: str, point_env: bool = True):
    """A RabbitMQ virtual host made for the block and removed after it; AMQP_URI points at it
    meanwhile (unless not `point_env`: a second running system's, beside the run's own)."""
    api = urlparse(servers.rabbit_api_uri())
    base = urlunparse(api._replace(netloc=api.hostname + (f":{api.port}" if api.port else "")))
    auth = (api.username or "guest", api.password or "guest")
    amqp = urlparse(server_urls["amqp"])
    try:
        response = requests.put(f"{base}/api/vhosts/{name}", auth=auth, timeout=10)
        response.raise_for_status()
        requests.put(
            f"{base}/api/permissions/{name}/{amqp.username or 'guest'}",
            auth=auth,
            json={"configure": ".*", "write": ".*", "read": ".*"},
            timeout=10,
        ).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(
            f"RabbitMQ management API at {base} refused to create a vhost ({exc}). {servers.HINT}",
            pytrace=False,
        )
    uri = urlunparse(amqp._replace(path="/" + quote(name, safe="")))
    previous = os.environ.get("AMQP_URI")
    if point_env:
        os.environ["AMQP_URI"] = uri
    try:
        yield uri
    finally:
        if point_env and previous is None:
            os.environ.pop("AMQP_URI", None)
        elif point_env:
            os.environ["AMQP_URI"] = previous
        requests.delete(f"{base}/api/vhosts/{name}", auth=auth, timeout=10)


@pytest.fixture(scope="session")
def vhost(server_urls):
    """A RabbitMQ virtual host of this run; AMQP_URI points at it for everything below."""
    with own_vhost(server_urls, f"navtest_{RUN_ID}") as uri:
        yield uri


@contextmanager
def own_databases(server_urls, prefix: str, point_env: bool = True):
    """One fresh, migrated database per service (and the gateway), named `<prefix>_<owner>`,
    dropped after the block; `<OWNER>_DATABASE_URL` point at them meanwhile (unless not
    `point_env`)."""
    from servicekit import migrate

    urls = {}
    try:
        for owner in config.DATABASE_OWNERS:
            url = config.with_driver(f"{server_urls['database']}/{prefix}_{owner}")
            migrate.create_database(url)
            urls[owner] = url
            migrate.upgrade(owner, url)
            if point_env:
                os.environ[f"{owner.upper()}_DATABASE_URL"] = url
        yield urls
    finally:
        for owner, url in urls.items():
            if point_env:
                os.environ.pop(f"{owner.upper()}_DATABASE_URL", None)
            migrate.drop_database(url)


@pytest.fixture(scope="session")
def databases(server_urls):
    """One fresh, migrated database per service (and the gateway) for this run."""
    with own_databases(server_urls, f"navtest_{RUN_ID}") as urls:
        yield urls


@pytest.fixture
def nameko_config(vhost):
    from nameko import config as nameko_config

    with nameko_config.patch(
        {"AMQP_URI": vhost, "serializer": "json", "WEB_SERVER_ADDRESS": "127.0.0.1:0"}
    ):
        yield


@pytest.fixture
def engine_of(databases):
    """A SQLAlchemy engine on one service's test database."""
    import sqlalchemy as sa

    engines = []

    def make(owner: str):
        engine = sa.create_engine(databases[owner])
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="session")
def probe_database(server_urls, databases):
    """The probe service's own database (tests/support/probe_service.py)."""
    import sqlalchemy as sa

    from servicekit import migrate
    from servicekit.outbox import NOTIFY_TRIGGER_DDL
    from servicekit.outbox import metadata as messaging
    from tests.support.probe_service import metadata

    url = config.with_driver(f"{server_urls['database']}/navtest_{RUN_ID}_probe")
    migrate.create_database(url)
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    messaging.create_all(engine)
    with engine.begin() as conn:  # as the services' migrations do (create_outbox_notify)
        for statement in NOTIFY_TRIGGER_DDL:
            conn.execute(sa.text(statement))
    engine.dispose()
    os.environ["PROBE_DATABASE_URL"] = url
    yield url
    os.environ.pop("PROBE_DATABASE_URL", None)
    migrate.drop_database(url)


@pytest.fixture
def probe_engine(probe_database):
    import sqlalchemy as sa

    from servicekit.outbox import metadata as messaging
    from tests.support.probe_service import metadata

    engine = sa.create_engine(probe_database)
    with engine.begin() as conn:  # every test starts from empty tables
        for table in [*metadata.sorted_tables, *messaging.sorted_tables]:
            conn.execute(table.delete())
    yield engine
    engine.dispose()
