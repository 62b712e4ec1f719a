"""Errors of the catalog service as callers see them: the shared servicekit errors, which
cross RPC as themselves. The domain's refusals (domain.py, contracts.refusals) become them in
one place, servicekit.errors.rpc_error; `domain_errors` is that mapping as a context manager."""

from servicekit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    refusals_as_rpc_errors,
)

domain_errors = refusals_as_rpc_errors

__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "domain_errors"]
