"""Idempotency-Key for mutating requests: a repeat with the same key returns the first result.

Keys are scoped to the caller, kept 24 h, and claimed before the request is executed, so two
concurrent requests with one key run the work once (the second gets 409 until the first ends).

The store holds no personal data in clear: the key is kept as its SHA-256, and the answer
(a child's SNILS, say) is encrypted with AES-GCM under a key derived from the caller's
Idempotency-Key, which only the caller has. A copy of the table replays nothing and reads
nothing; the caller who repeats the request with its key gets the answer back.
"""

import hashlib
import uuid
from dataclasses import dataclass

from nameko.extensions import DependencyProvider
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gateway.models import IdempotencyKey
from servicekit.db import make_engine
from servicekit.errors import Conflict, InvalidInput
from servicekit.sealing import seal, unseal

table = IdempotencyKey.__table__
ABANDONED_AFTER_SECONDS = 60
KEEP_HOURS = 24


@dataclass
class StoredResponse:
    status: int
    body: object


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def key_id(key: str) -> str:
    """What the table keeps instead of the Idempotency-Key."""
    return hashlib.sha256(b"idempotency-key\0" + key.encode()).hexdigest()


# the namespace of operation ids (uuid5): one operation per caller and Idempotency-Key
OPERATIONS = uuid.UUID("0f6d8a52-2a4e-5b8e-9a53-7d1c4e0b6a21")


def operation_id(scope: str, key: str) -> str:
    """The identity of the operation a caller's Idempotency-Key names, the same on every
    attempt and on every gateway process (a service keys the operation by it: enrollment
    makes it the application's id). Derived from the key's hash, as the table keeps it."""
    return str(uuid.uuid5(OPERATIONS, f"{scope}\0{key_id(key)}"))


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1 to 200 printable characters",
            code="invalid_idempotency_key",
            fields={"Idempotency-Key": ["1 to 200 printable characters"]},
        )
    return key


class IdempotencyStore(DependencyProvider):
    def setup(self):
        self.engine = make_engine("gateway", pool_size=5, max_overflow=10)

    def stop(self):
        self.engine.dispose()

    kill = stop  # nameko kills (not stops) containers in tests and on a second Ctrl-C

    def get_dependency(self, worker_ctx):
        return self

    def claim(
        self,
        principal: str,
        key: str,
        method: str,
        path: str,
        fingerprint: str,
        take_over: bool = False,
    ) -> StoredResponse | None:
        """None if this request may run now; the stored response if it already ran.
        `take_over`: a claim still in progress (a request running, or one whose gateway
        crashed or whose outcome was unknown) is taken over at once, not refused as
        `request_in_progress`: for an operation the service keys by the request's key
        (`operation_id`), which runs it once however many attempts reach it."""
        raw_key, key = key, key_id(key)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                pg_insert(table)
                .values(
                    principal=principal, key=key, method=method, path=path, request_hash=fingerprint
                )
                .on_conflict_do_nothing()
                .returning(table.c.key)
            ).first()
            if claimed:
                return None
            row = conn.execute(
                select(table)
                .where(table.c.principal == principal, table.c.key == key)
                .with_for_update()
            ).first()
            if row is None:  # expired and removed between the two statements
                conn.execute(
                    insert(table).values(
                        principal=principal,
                        key=key,
                        method=method,
                        path=path,
                        request_hash=fingerprint,
                    )
                )
                return None
            if row.request_hash != fingerprint:
                raise InvalidInput(
                    "Idempotency-Key was already used for a different request",
                    code="idempotency_key_reused",
                )
            if row.status_code is not None:
                return StoredResponse(
                    row.status_code, unseal(raw_key, principal, row.response_body)
                )
            # a request that claimed the key and died: let this one take over
            abandoned = table.c.created_at < text(
                f"now() - interval '{ABANDONED_AFTER_SECONDS} seconds'"
            )
            taken = conn.execute(
                update(table)
                .where(
                    table.c.principal == principal,
                    table.c.key == key,
                    *(() if take_over else (abandoned,)),
                )
                .values(created_at=text("now()"))
                .returning(table.c.key)
            ).first()
            if taken:
                return None
            raise Conflict(
                "A request with this Idempotency-Key is still in progress",
                code="request_in_progress",
            )

    def complete(self, principal: str, key: str, status: int, body) -> None:
        """Remember the answer, sealed with the key: a repeat with this key gets it back."""
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.principal == principal, table.c.key == key_id(key))
                .values(status_code=status, response_body=seal(key, principal, body))
            )

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed, so that a retry with the key runs again."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(table).where(table.c.principal == principal, table.c.key == key_id(key))
            )

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                delete(table).where(
                    table.c.created_at < text(f"now() - interval '{KEEP_HOURS} hours'")
                )
            ).rowcount
