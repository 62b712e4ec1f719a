"""Errors of the certificates service as the gateway and the other services see them: the
domain's refusals become the shared NavigatorError types, which cross RPC as themselves."""

from collections.abc import Iterator
from contextlib import contextmanager

from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.certificates.domain import InvalidField, Refused

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "domain_errors"]


@contextmanager
def domain_errors() -> Iterator[None]:
    """A broken rule as 422 with a field message; a refused state change as 409 with its
    code and figures (e.g. `insufficient_funds` with `available`)."""
    try:
        yield
    except InvalidField as error:
        raise InvalidInput(
            error.message, code=error.code, fields={error.field: [error.message]}
        ) from error
    except Refused as error:
        raise Conflict(error.message, code=error.code, extra=error.extra) from error
