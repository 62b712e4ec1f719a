"""Configuration from environment variables with local development defaults."""

import os

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"

SERVICES = ("accounts", "catalog", "certificates", "payments", "notifications", "enrollment")
# Everything that owns a database; the gateway keeps idempotency keys in its own.
DATABASE_OWNERS = SERVICES + ("gateway",)
# Every Nameko service (own RPC queue, own event exchange and own database). Enrollment owns
# applications and the seats they hold (docs/enrollment.md); the catalog owns the groups.
RUNNING_SERVICES = SERVICES


def env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def is_production() -> bool:
    return env("NAVIGATOR_ENV", "development") == "production"


PLACEHOLDER = "CHANGE-ME"


class Placeholder(RuntimeError):
    """A setting still holds the deployment files' placeholder."""


def refuse_placeholders(environ=None) -> None:
    """At start, not at the first login: a CHANGE-ME left from deploy/k8s/secrets.example.yaml
    stops the process, naming the variables (never their values)."""
    environ = os.environ if environ is None else environ
    left = sorted(name for name, value in environ.items() if PLACEHOLDER in value)
    if left:
        raise Placeholder(f"placeholder {PLACEHOLDER} in {', '.join(left)}: set the real values")


def server_url() -> str:
    """The PostgreSQL server (no database name) that holds every service's database."""
    return env("DATABASE_URL", DEFAULT_DATABASE_URL).rstrip("/")


def database_name(service: str) -> str:
    return env(f"{service.upper()}_DATABASE_NAME", f"navigator_{service}")


def with_driver(url: str) -> str:
    # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3; we run psycopg2 (psycogreen)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def database_url(service: str) -> str:
    """`<SERVICE>_DATABASE_URL` if set, else `<DATABASE_URL>/<SERVICE>_DATABASE_NAME`."""
    explicit = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return with_driver(explicit)
    return with_driver(f"{server_url()}/{database_name(service)}")


def amqp_uri() -> str:
    return env("AMQP_URI", DEFAULT_AMQP_URI)


def rpc_timeout() -> float:
    return float(env("RPC_TIMEOUT", "5"))


# Where each service's Nameko class lives, for the tools that inspect all of them.
SERVICE_CLASSES = {
    "accounts": "services.accounts.service:AccountsService",
    "catalog": "services.catalog.service:CatalogService",
    "certificates": "services.certificates.service:CertificatesService",
    "payments": "services.payments.service:PaymentsService",
    "enrollment": "services.enrollment.service:EnrollmentService",
    "notifications": "services.notifications.service:NotificationsService",
}
