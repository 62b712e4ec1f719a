"""Errors of the catalog service as callers see them: the shared servicekit errors, which
cross RPC as themselves (the gateway maps them to HTTP). The domain's refusals (domain.py,
contracts.refusals) become them in one place, servicekit.errors.rpc_error;
`refusals_as_rpc_errors` is that mapping around a block.

Codes it answers with, beyond the domain's field codes: 403 `role_forbidden`, `not_owner`,
`no_organization`; 404 `municipality_not_found`, `organization_not_found`,
`program_not_found`, `group_not_found`, `seat_not_held`; 409 `inn_taken`, `group_full`,
`groups_outside_ages` and the domain's conflicts (`transition_refused`,
`capacity_below_occupied`, `program_not_editable`, `organization_not_active`,
`program_archived`, `program_not_published`, `already_in_organization`); 422
`unknown_municipality`, `invalid_inn`, `registry_direction`.
"""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
