"""The HTTP API for web and mobile clients: the only way in from outside."""

from gateway.idempotency import IdempotencyStore
from gateway.observe import request_id_of
from gateway.routes.accounts import AccountsRoutes
from gateway.routes.catalog import CatalogRoutes
from gateway.routes.certificates import CertificateRoutes
from gateway.routes.enrollment import EnrollmentRoutes
from gateway.routes.notifications import NotificationRoutes
from gateway.routes.payments import PaymentsRoutes
from gateway.routes.system import SystemRoutes
from gateway.server import WorkerPool
from servicekit import clock, config
from servicekit.rpc import TimedClusterRpc
from servicekit.telemetry import Telemetry

# a moved business clock is refused in production before anything starts
clock.check_allowed()


class GatewayService(
    SystemRoutes,
    AccountsRoutes,
    CatalogRoutes,
    CertificateRoutes,
    EnrollmentRoutes,
    PaymentsRoutes,
    NotificationRoutes,
):
    name = "gateway"

    # Requests carry a deadline, so a lost request surfaces as 503 anyway; skipping the
    # publisher confirm per call took ~15 % more trivial round trips/s off RabbitMQ's CPU.
    rpc = TimedClusterRpc(use_confirms=False)
    idempotency = IdempotencyStore()
    workers = WorkerPool(int(config.env("GATEWAY_WORKERS", "200")))
    # request ids, log lines, and /metrics on METRICS_PORT as every service: not on the API
    # port, where anyone could read the login 401/429 rates per route
    telemetry = Telemetry(http_request_id=request_id_of)
