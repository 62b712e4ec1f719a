"""Errors of the accounts service as callers see them: the shared servicekit errors, which
cross RPC as themselves (the gateway maps them to HTTP). The domain's refusals (domain.py,
contracts.refusals) become them in one place, servicekit.errors.rpc_error.

Codes it answers with, beyond the domain's field codes: 401 `invalid_credentials`,
`invalid_refresh_token`, `refresh_token_reused`, `refresh_token_expired|revoked`;
403 `role_forbidden`, `not_the_parent`, `staff_outside_authority`; 404 `child_not_found`,
`user_not_found`; 409 `email_taken`, `snils_taken`, `certificate_money_reserved`;
422 `consent_required`, `unknown_municipality`, `unknown_organization`;
429 `too_many_login_attempts`;
503 `catalog_unavailable`, `certificates_unavailable`.
"""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
