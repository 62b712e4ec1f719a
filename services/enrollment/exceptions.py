"""Errors of the enrollment service as callers see them: the shared servicekit errors, which
cross RPC as themselves (the gateway maps them to HTTP). The domain's refusals (domain.py,
contracts.refusals) become them in one place, servicekit.errors.rpc_error.

Codes it answers with: 403 `not_allowed`, `organization_not_active`; 404 `child_not_found`,
`group_not_found`, `enrollment_not_found`, `seat_not_held`, `calendar_job_not_found`; 409
`already_applied`, `application_in_progress`, `funds_changing`, `capacity_below_occupied`,
`transition_refused`; 422 `start_in_past`, `age_mismatch`, `enrollment_closed`,
`copay_not_accepted`, `no_period` and the money terms' field codes.
"""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
