"""The HTTP API for web and mobile clients: the only way in from outside."""

from gateway.idempotency import IdempotencyStore
from gateway.routes.accounts import AccountsRoutes
from gateway.routes.catalog import CatalogRoutes
from gateway.routes.enrollment import EnrollmentRoutes
from gateway.routes.system import SystemRoutes
from servicekit.rpc import TimedClusterRpc


class GatewayService(SystemRoutes, AccountsRoutes, CatalogRoutes, EnrollmentRoutes):
    name = "gateway"

    # Requests carry a deadline, so a lost request surfaces as 503 anyway; skipping the
    # publisher confirm per call took ~15 % more trivial round trips/s off RabbitMQ's CPU.
    rpc = TimedClusterRpc(use_confirms=False)
    idempotency = IdempotencyStore()
