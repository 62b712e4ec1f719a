"""The one place a visibility scope (contracts.scope) becomes SQL.

A service's domain decides the scope of a principal; its operations pass the columns that
say who owns a row, and use the same clause for a list and for a get, so the two can never
disagree about what a caller sees.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from contracts.scope import Reach, Scope


def where_visible(
    scope: Scope,
    *,
    parent_id: ColumnElement | None = None,
    organization_id: ColumnElement | None = None,
    municipality_code: ColumnElement | None = None,
) -> ColumnElement[bool]:
    """A WHERE clause that keeps the rows inside ``scope``. A reach whose column the caller
    does not pass is a programming error, not an empty answer."""
    column = {
        Reach.OWN_CHILDREN: (parent_id, scope.parent_id),
        Reach.OWN_ORGANIZATION: (organization_id, scope.organization_id),
        Reach.OWN_MUNICIPALITY: (municipality_code, scope.municipality_code),
    }
    if scope.reach is Reach.EVERYTHING:
        return true()
    if scope.reach is Reach.NOTHING:
        return false()
    owner, value = column[scope.reach]
    if owner is None:
        raise ValueError(f"no column for a scope reaching {scope.reach.value}")
    return owner == value
