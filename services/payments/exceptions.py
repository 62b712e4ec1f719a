"""Errors of the payments service as the gateway sees them: a broken domain rule becomes one
of the shared NavigatorError types, which cross RPC as themselves."""

from collections.abc import Iterator
from contextlib import contextmanager

from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.payments.cost import InvalidTerms
from services.payments.domain import Refused

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "domain_errors"]


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a broken rule into a 422 (with the field) or a 409 with a stable code."""
    try:
        yield
    except InvalidTerms as error:
        raise InvalidInput(
            error.message, code=error.code, fields={error.field: [error.message]}
        ) from error
    except Refused as error:
        raise Conflict(error.message, code=error.code) from error
