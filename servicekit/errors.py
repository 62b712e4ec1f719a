"""Base errors raised in services, carried over RPC as themselves, mapped to HTTP by the gateway.

Each carries a stable machine `code`, a human message and, for invalid input, field messages.
They are registered with nameko so that an RPC caller gets the same type back, not RemoteError.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nameko.exceptions import deserialize_to_instance

from contracts.refusals import Conflicting, InvalidField, InvalidFields, Refusal

# what every service's exceptions.py gives its callers (`from servicekit.errors import *`):
# the errors that cross RPC as themselves and the one mapping of refusals to them
__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NavigatorError",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "refusals_as_rpc_errors",
    "rpc_error",
]


class NavigatorError(Exception):
    status = 500
    default_code = "internal_error"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        fields: dict | None = None,
        extra: dict | None = None,
    ):
        # args are what crosses the wire: keep them plain JSON
        super().__init__(message, code or self.default_code, fields or {}, extra or {})

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def code(self) -> str:
        return self.args[1]

    @property
    def fields(self) -> dict[str, Any]:
        return self.args[2]

    @property
    def extra(self) -> dict[str, Any]:
        return self.args[3]

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class BadRequest(NavigatorError):
    """A request the API cannot read at all (e.g. a query parameter it does not know)."""

    status = 400
    default_code = "bad_request"


@deserialize_to_instance
class InvalidInput(NavigatorError):
    status = 422
    default_code = "invalid_input"


@deserialize_to_instance
class Unauthorized(NavigatorError):
    status = 401
    default_code = "unauthorized"


@deserialize_to_instance
class Forbidden(NavigatorError):
    status = 403
    default_code = "forbidden"


@deserialize_to_instance
class NotFound(NavigatorError):
    status = 404
    default_code = "not_found"


@deserialize_to_instance
class Conflict(NavigatorError):
    status = 409
    default_code = "conflict"


@deserialize_to_instance
class TooManyRequests(NavigatorError):
    status = 429
    default_code = "too_many_requests"


@deserialize_to_instance
class ServiceUnavailable(NavigatorError):
    status = 503
    default_code = "service_unavailable"


def invalid_from_marshmallow(
    err, message: str = "Проверьте введённые данные", also: dict | None = None
) -> InvalidInput:
    """A marshmallow ValidationError as InvalidInput with its field messages, in Russian
    (servicekit/messages.py); `also`: faults found before the schema, answered with them."""
    from servicekit.messages import translate

    messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
    fields = translate(messages)
    for name, problems in (also or {}).items():
        fields[name] = [*problems, *fields.get(name, [])]
    return InvalidInput(message, fields=fields)


def rpc_error(refusal: Refusal) -> NavigatorError:
    """The one mapping of a domain's refusal (contracts.refusals) to the error that crosses
    RPC, for every service: bad input is InvalidInput with field messages, a refusing state
    is Conflict with its code and figures (`extra`). A service applies it with
    `refusals_as_rpc_errors()` around its rules (tests/unit/test_boundaries.py refuses a
    mapping by hand)."""
    if isinstance(refusal, InvalidFields | InvalidField):
        return InvalidInput(
            refusal.title or refusal.message, code=refusal.code, fields=refusal.fields
        )
    if isinstance(refusal, Conflicting):
        return Conflict(refusal.message, code=refusal.code, extra=refusal.extra)
    return InvalidInput(refusal.message, code=refusal.code, fields=refusal.fields)


@contextmanager
def refusals_as_rpc_errors() -> Iterator[None]:
    """Run domain rules; a refusal leaves as its RPC error (see rpc_error)."""
    try:
        yield
    except Refusal as refusal:
        raise rpc_error(refusal) from refusal
