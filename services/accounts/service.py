"""Accounts service: users, roles, login, children and their personal data.

Entrypoints are thin: they call services/accounts/operations.py on the worker's session
(committed when the entrypoint returns) and dump the answer through schemas.py. A caller
passes `principal` (the gateway's `Principal.as_rpc()`); ownership is decided here, in
domain.child_scope, because only accounts knows whose child is whose.
"""

import logging
from datetime import datetime

from eventlet import tpool
from nameko.rpc import rpc

from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER
from servicekit import clock, config
from servicekit.events import reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.accounts import operations, recovery
from services.accounts.exceptions import NavigatorError, NotFound, ServiceUnavailable
from services.accounts.models import User
from services.accounts.schemas import (
    ChildFactsSchema,
    ChildPageSchema,
    ChildSchema,
    PersonSchema,
    TokensSchema,
    UserSchema,
)

log = logging.getLogger(__name__)

# hashing runs in a real thread: 64 MiB of argon2 must not stall every other worker
passwords = operations.Passwords(offload=tpool.execute)
# shorter than the gateway's deadline on us, so a slow catalog is our 503, not a timeout
CATALOG_TIMEOUT = float(config.env("CATALOG_RPC_TIMEOUT", "3"))


class CatalogDirectory:
    """Municipalities and organizations, asked of the catalog over RPC with a deadline."""

    def __init__(self, client):
        self.client = client

    def _ask(self, method: str, *args) -> dict | None:
        try:
            return self.client.call("catalog", method, *args, timeout=CATALOG_TIMEOUT)
        except NotFound:
            return None
        except NavigatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. MethodNotFound from an older catalog
            log.warning("catalog.%s failed: %r", method, exc)
            raise ServiceUnavailable(
                "Каталог сейчас не отвечает, повторите позже", code="catalog_unavailable"
            ) from exc

    def municipality(self, code: str) -> dict | None:
        return self._ask("get_municipality", code)

    def organization(self, organization_id: int) -> dict | None:
        return self._ask("get_organization", organization_id)


class CertificateOf:
    """The child's certificate as the certificates service issued it (birth date,
    municipality, money reserved now), None when there is none; asked with a deadline, so a
    slow or stopped certificates service is a 503 and never an unchecked change."""

    def __init__(self, client):
        self.client = client

    def __call__(self, child_id: int) -> dict | None:
        try:
            return self.client.call(
                "certificates", "child_certificate", child_id, timeout=CATALOG_TIMEOUT
            )
        except NotFound:
            return None
        except NavigatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. MethodNotFound from an older service
            log.warning("certificates.child_certificate failed: %r", exc)
            raise ServiceUnavailable(
                "Сервис сертификатов сейчас не отвечает, повторите позже",
                code="certificates_unavailable",
            ) from exc


class AccountsService(ServiceBase):
    name = "accounts"

    catalog_rpc = TimedClusterRpc()

    @property
    def directory(self) -> CatalogDirectory:
        return CatalogDirectory(self.catalog_rpc)

    @property
    def certificate_of(self) -> CertificateOf:
        return CertificateOf(self.catalog_rpc)

    # --- users and login ---------------------------------------------------------------

    @rpc
    def register(self, data: dict, address: str | None = None) -> dict:
        user = operations.register_parent(
            self.db, passwords, data, operations.utcnow(), address, self._count_attempt
        )
        return UserSchema().dump(user)

    @rpc
    def register_provider(self, data: dict, address: str | None = None) -> dict:
        """A new provider and their organization (pending the regional operator's approval)."""
        user = operations.register_provider(
            self.db, passwords, data, operations.utcnow(), self._create_organization, address,
            self._count_attempt,
        )  # fmt: skip
        return UserSchema().dump(user)

    def _create_organization(self, principal: dict, organization: dict) -> dict:
        try:
            return self.catalog_rpc.call(
                "catalog", "create_organization", principal, organization,
                timeout=CATALOG_TIMEOUT,
            )  # fmt: skip
        except NavigatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a catalog that does not answer in time
            log.warning("catalog.create_organization failed: %r", exc)
            raise ServiceUnavailable(
                "Каталог сейчас не отвечает, повторите позже", code="catalog_unavailable"
            ) from exc

    @rpc
    def login(self, email: str, password: str, address: str | None = None) -> dict:
        tokens = operations.login(
            self.db, passwords, email, password, address, operations.utcnow(), self._count_attempt
        )
        return TokensSchema().dump(tokens)

    @rpc
    def refresh(self, refresh_token: str) -> dict:
        tokens = operations.refresh(
            self.db, refresh_token, operations.utcnow(), self._revoke_family
        )
        return TokensSchema().dump(tokens)

    @rpc
    def logout(self, refresh_token: str) -> None:
        operations.logout(self.db, refresh_token, operations.utcnow())

    @rpc
    def me(self, principal: dict) -> dict:
        return UserSchema().dump(operations.me(self.db, int(principal["user_id"])))

    @rpc
    def create_staff(self, principal: dict, data: dict) -> dict:
        creator = operations.viewer_of(self.db, principal)
        user = operations.create_staff(self.db, passwords, creator, data, self.directory)
        return UserSchema().dump(user)

    # --- e-mail confirmation and password reset (recovery.py) --------------------------

    @rpc
    def verify_email(self, token: str, address: str | None = None) -> dict:
        return recovery.verify_email(
            self.db, token, operations.utcnow(), address, self._count_attempt
        )

    @rpc
    def resend_email_confirmation(self, principal: dict) -> None:
        recovery.resend_confirmation(
            self.db, int(principal["user_id"]), operations.utcnow(), self._count_attempt
        )

    @rpc
    def request_password_reset(self, email: str, address: str | None = None) -> None:
        recovery.request_password_reset(
            self.db, email, operations.utcnow(), address, self._count_attempt
        )

    @rpc
    def confirm_password_reset(self, token: str, password: str, address: str | None = None):
        recovery.confirm_password_reset(
            self.db, passwords, token, password, operations.utcnow(), address, self._count_attempt
        )

    # --- for the notifications service: who to write to ---------------------------------

    @rpc
    def mail_token(self, request_id: str) -> dict | None:
        return recovery.mail_token(self.db, request_id, operations.utcnow())

    @rpc
    def contact(self, user_id: int) -> dict:
        user = self.db.get(User, user_id)
        if user is None or not user.is_active:
            raise NotFound("Пользователь не найден", code="user_not_found")
        return recovery.contact_view(user)

    @rpc
    def child_contact(self, child_id: int) -> dict:
        """A child's name and parent, for a letter to that parent (no documents), with the
        parent's `contact` (None when the account is closed): a letter about a child needed
        both, two RPCs per application on opening day (issue 20)."""
        found = operations.child_contact(self.db, child_id)
        if found is None:
            raise NotFound("Ребёнок не найден", code="child_not_found")
        child, parent = found
        return {**PersonSchema().dump(child), "parent": parent}

    @rpc
    def organization_staff(self, organization_id: int) -> list[dict]:
        return recovery.staff_contacts(self.db, role=PROVIDER, organization_id=organization_id)

    @rpc
    def municipal_operators(self, municipality_code: str) -> list[dict]:
        return recovery.staff_contacts(
            self.db, role=MUNICIPAL_OPERATOR, municipality_code=municipality_code
        )

    # --- children ----------------------------------------------------------------------

    @rpc
    def add_child(self, principal: dict, data: dict) -> dict:
        viewer = operations.viewer_of(self.db, principal)
        child = operations.add_child(
            self.db, viewer, data, clock.today(), self.directory, self._count_attempt
        )
        return ChildSchema().dump(child)

    def _acting(self, principal: dict):
        """Who asks, refused if a provider whose organization is not active."""
        viewer = operations.viewer_of(self.db, principal)
        operations.require_active_organization(
            viewer, principal.get("organization_id"), self.directory
        )
        return viewer

    @rpc
    def list_children(self, principal: dict, limit: int = 20, offset: int = 0) -> dict:
        viewer = self._acting(principal)
        return ChildPageSchema().dump(operations.list_children(self.db, viewer, limit, offset))

    @rpc
    def show_child(self, principal: dict, child_id: int) -> dict:
        viewer = self._acting(principal)
        return ChildSchema().dump(operations.show_child(self.db, viewer, child_id))

    @rpc
    def change_child(self, principal: dict, child_id: int, changes: dict) -> dict:
        viewer = operations.viewer_of(self.db, principal)
        child = operations.change_child(
            self.db, viewer, child_id, changes, clock.today(), self.directory,
            self._count_attempt, self.certificate_of,
        )  # fmt: skip
        return ChildSchema().dump(child)

    @rpc
    def verify_child(self, principal: dict, child_id: int) -> dict:
        viewer = self._acting(principal)
        child = operations.verify_child(
            self.db, viewer, principal.get("organization_id"), child_id, operations.utcnow()
        )
        return ChildSchema().dump(child)

    @rpc
    def mark_child_verified(self, child_id: int, verified_by: int, organization_id: int) -> dict:
        """For enrollment: the provider who enrolls a child has seen the documents."""
        child = operations.mark_child_verified(
            self.db, child_id, verified_by, organization_id, operations.utcnow()
        )
        return ChildFactsSchema().dump(child)

    @rpc
    def get_child(self, child_id: int) -> dict:
        """A child's facts for other services (catalog, certificates, payments): birth date,
        municipality, parent; every child, no documents. People use `show_child`."""
        return ChildFactsSchema().dump(operations.child_facts(self.db, child_id))

    # --- who applied where, from enrollment's events -----------------------------------
    # A provider's staff see only the children who applied to their organization. Every
    # application enrollment keeps is announced by one of these three (requested or
    # waitlisted once its money step is done; cancelled when that step failed), and each
    # carries child_id and organization_id; recording is idempotent by its effect (one row
    # per child and organization), so any order and any repeat will do, and no processed-
    # event row is written (one insert less per application on opening day, issue 20).

    @reliable_handler("enrollment", "enrollment_requested")
    def on_enrollment_requested(self, envelope):
        operations.record_application(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_waitlisted")
    def on_enrollment_waitlisted(self, envelope):
        operations.record_application(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_cancelled")
    def on_enrollment_cancelled(self, envelope):
        operations.record_application(self.db, envelope["data"])

    @rpc
    def count_children(self, municipality_code: str | None = None) -> int:
        """For payments' reports: children registered in a municipality, or the region."""
        return operations.count_children(self.db, municipality_code)

    # --- writes that outlive a refused request -----------------------------------------

    def _count_attempt(self, keys: list, now: datetime) -> list[int]:
        # its own transaction, committed before the work: a failed login raises, which rolls
        # the worker's session back, and a concurrent attempt must see this one counted
        with self.db.get_bind().begin() as conn:
            return operations.count_attempt(conn, keys, now)

    def _revoke_family(self, family_id: str, now: datetime) -> None:
        self.db.rollback()  # release our lock on the reused token before revoking its family
        with self.db.get_bind().begin() as conn:
            operations.revoke_family(conn, family_id, now)
