"""Who is asking: the one type for the caller, from the gateway's token to a service's rules.

The gateway builds a ``Principal`` from the verified access token and sends ``as_rpc()``;
a service turns the dict back with ``Principal.from_rpc`` and hands the object to its domain.
An anonymous visitor is ``ANONYMOUS`` (no user, no role). Another service calling without a
principal is not a principal at all: a service that lets internal callers see everything
says so with ``contracts.scope.EVERYTHING``, never with a missing principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Principal:
    """The user id and role; for staff, where they work. ``municipality_code`` is a municipal
    operator's municipality (from the token) or, once accounts has looked it up, a provider's
    organization's municipality. ``organization_id`` is a provider's organization."""

    user_id: int | None
    role: str | None
    municipality_code: str | None = None
    organization_id: int | None = None
    # a parent who has not confirmed the address yet (the token's `unv` claim) may not apply
    email_verified: bool = True

    @property
    def key(self) -> str:
        """What per-user state (idempotency keys) is stored under."""
        return f"user:{self.user_id}"

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    def as_rpc(self) -> dict[str, Any]:
        """What services receive to decide ownership themselves."""
        return {
            "user_id": self.user_id,
            "role": self.role,
            "organization_id": self.organization_id,
            "municipality_code": self.municipality_code,
        }

    @classmethod
    def from_rpc(cls, data: Mapping[str, Any] | Principal | None) -> Principal:
        """The principal of an RPC argument (``as_rpc()``'s dict); ``None`` or a dict without a
        role is an anonymous visitor."""
        if isinstance(data, Principal):
            return data
        if not data:
            return ANONYMOUS
        user_id = data.get("user_id")
        return cls(
            user_id=int(user_id) if user_id is not None else None,
            role=data.get("role"),
            municipality_code=data.get("municipality_code"),
            organization_id=data.get("organization_id"),
        )


ANONYMOUS = Principal(None, None)
