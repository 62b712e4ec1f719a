"""Errors of the payments service as callers see them: the shared servicekit errors, which
cross RPC as themselves (the gateway maps them to HTTP). The rules' refusals
(contracts/cost.py, domain.py: contracts.refusals) become them in one place,
servicekit.errors.rpc_error.

Codes it answers with, beyond the rules' field codes (`outside_group_dates`,
`outside_period`, `month_format`, ...): 403 `not_owner`, `role_forbidden`;
404 `group_not_found`, `run_not_found`, `invoice_not_found`, `contract_not_found`;
409 `month_billed`, `month_not_over`, `submission_closed`, `invoice_paid`; 422
`invalid_lessons`, `lesson_in_future`, `terms_mismatch`, `unknown_job`.
"""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
