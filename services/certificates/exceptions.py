"""Errors of the certificates service as callers see them: the shared servicekit errors,
which cross RPC as themselves (the gateway maps them to HTTP). The domain's refusals
(contracts.refusals) become them through servicekit.errors.rpc_error; a `Refused` keeps its
figures (`extra`), e.g. `available` with `insufficient_funds`.

Codes beyond the domain's field codes: 403 `foreign_municipality`, `role_forbidden`;
404 `certificate_not_found`, `child_not_found`, `period_not_found`, `unknown_municipality`;
409 `insufficient_funds`, `certificate_frozen`, `certificate_expired`, `active_contracts`,
`limit_below_used`, `limit_exhausted`, `not_financing`, `period_overlaps`, `period_closed`,
`period_not_over`, `free_allowance_exhausted`, `job_running`; 404 `job_not_found`;
503 `accounts_unavailable`, `catalog_unavailable`.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from contracts.refusals import Refusal
from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound, rpc_error
from services.certificates.domain import Refused

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "domain_errors"]


@contextmanager
def domain_errors() -> Iterator[None]:
    """A broken rule as 422 with a field message; a refused state change as 409 with its
    code and figures."""
    try:
        yield
    except Refused as refusal:
        raise Conflict(refusal.message, code=refusal.code, extra=refusal.extra) from refusal
    except Refusal as refusal:
        raise rpc_error(refusal) from refusal
