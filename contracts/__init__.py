"""The words every part of Navigator shares, in one place: plain Python (stdlib only), no
Nameko, no SQLAlchemy, no marshmallow, and no rule of any one service.

- ``roles``      the four roles of a user (and groups of them the routes use)
- ``principal``  ``Principal``: who is asking, as the gateway authenticated them
- ``catalog``    enumerations of the catalog the gateway and clients need: directions, levels,
                 formats, registries, payment types, statuses, the age bounds
- ``refusals``   the framework-free refusal errors a domain raises (``InvalidField``, ...);
                 ``servicekit.errors.rpc_error`` turns them into the errors that cross RPC
- ``scope``      ``Scope``: which rows of a kind a principal may see (own children, own
                 organization, own municipality, everything); ``servicekit.visibility`` turns
                 it into SQL
- ``ages``       ``age_on``: completed years of age on a day
- ``transitions`` ``StateMachine`` and ``transition``: the one check of a status move (a
                 replay is a no-op, a wrong move ``TransitionRefused``)
- ``cost``       the contract cost rules payments and enrollment must agree on to the kopeck
- ``municipalities`` the krai's municipalities (``data/municipalities.csv``), the reference
                 data every service names by code

A service never imports another service's code (tests/unit/test_boundaries.py): what two of
them must compute alike lives here, stdlib only.

The gateway imports these and never ``services.*`` (tests/unit/test_boundaries.py).
"""
