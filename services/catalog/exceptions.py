"""Errors of the catalog service as the gateway sees them: domain exceptions become the
shared NavigatorError types, which cross RPC as themselves."""

from collections.abc import Iterator
from contextlib import contextmanager

from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.catalog.domain import CapacityBelowOccupied, InvalidField, TransitionRefused

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "domain_errors"]


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a broken domain rule into a 422 / 409 with a stable code."""
    try:
        yield
    except InvalidField as error:
        raise InvalidInput(
            error.message, code=error.code, fields={error.field: [error.message]}
        ) from error
    except TransitionRefused as error:
        raise Conflict(str(error), code=error.code) from error
    except CapacityBelowOccupied as error:
        raise Conflict(str(error), code=error.code) from error
