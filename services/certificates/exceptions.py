"""Errors of the certificates service as callers see them: the shared servicekit errors,
which cross RPC as themselves (the gateway maps them to HTTP). The domain's refusals
(contracts.refusals) become them in one place, servicekit.errors.rpc_error, as in every
service; a `Refused` keeps its figures (`extra`), e.g. `available` with `insufficient_funds`.

Codes beyond the domain's field codes: 403 `foreign_municipality`, `role_forbidden`;
404 `certificate_not_found`, `child_not_found`, `period_not_found`, `unknown_municipality`;
409 `insufficient_funds`, `certificate_frozen`, `certificate_expired`, `active_contracts`,
`limit_below_used`, `limit_exhausted`, `not_financing`, `period_overlaps`, `period_closed`,
`period_not_over`, `free_allowance_exhausted`, `job_running`; 404 `job_not_found`;
422 `invalid_item`, `invalid_amount`, `invalid_child`;
503 `accounts_unavailable`, `catalog_unavailable`.
"""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
