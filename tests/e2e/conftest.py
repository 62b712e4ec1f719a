import pytest

from servicekit import topology
from tests.support.system import RunningSystem


@pytest.fixture(scope="session")
def system(databases, vhost, tmp_path_factory):
    """All services and the gateway as real processes, as `make run` starts them."""
    topology.declare(topology.all_handlers(), vhost)
    running = RunningSystem(
        vhost, tmp_path_factory.mktemp("logs"), {"HEALTH_RPC_TIMEOUT": "2", "RPC_TIMEOUT": "5"}
    )
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def api(system):
    return f"{system.base_url}/api/v1"
