"""Errors of the notifications service as callers see them: the shared servicekit errors,
which cross RPC as themselves (the gateway maps them to HTTP).

Codes: 404 `notification_not_found` (also for someone else's); 422 on preferences naming an
unknown kind or a legally required one (`invalid_input`, with a message per kind)."""

from servicekit.errors import *  # noqa: F403 - the same errors in every service
