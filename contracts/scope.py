"""Which rows of a kind a principal may see: the answer a service's domain gives, in one
vocabulary, so that one function (``servicekit.visibility.where_visible``) writes the SQL for
both a list and a get, and ``Scope.covers`` answers the same question for a row in hand.

A scope reaches nothing, a parent's own children, one organization, one municipality, or
everything. ``EVERYTHING`` is also what an internal call (another service) is given: the
code that gives it says so by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER, REGIONAL_OPERATOR

if TYPE_CHECKING:
    from contracts.principal import Principal


class Reach(StrEnum):
    NOTHING = "nothing"
    OWN_CHILDREN = "own_children"  # rows whose parent is the principal
    OWN_ORGANIZATION = "own_organization"
    OWN_MUNICIPALITY = "own_municipality"
    EVERYTHING = "everything"


@dataclass(frozen=True)
class Scope:
    reach: Reach
    parent_id: int | None = None
    organization_id: int | None = None
    municipality_code: str | None = None

    @classmethod
    def children_of(cls, parent_id: int | None) -> Scope:
        return NOTHING if parent_id is None else cls(Reach.OWN_CHILDREN, parent_id=parent_id)

    @classmethod
    def organization(cls, organization_id: int | None) -> Scope:
        if organization_id is None:
            return NOTHING
        return cls(Reach.OWN_ORGANIZATION, organization_id=organization_id)

    @classmethod
    def municipality(cls, municipality_code: str | None) -> Scope:
        if not municipality_code:
            return NOTHING
        return cls(Reach.OWN_MUNICIPALITY, municipality_code=municipality_code)

    def covers(
        self,
        *,
        parent_id: int | None = None,
        organization_id: int | None = None,
        municipality_code: str | None = None,
    ) -> bool:
        """Whether a row with these owners is inside the scope."""
        if self.reach is Reach.EVERYTHING:
            return True
        if self.reach is Reach.OWN_CHILDREN:
            return parent_id is not None and parent_id == self.parent_id
        if self.reach is Reach.OWN_ORGANIZATION:
            return organization_id is not None and organization_id == self.organization_id
        if self.reach is Reach.OWN_MUNICIPALITY:
            return municipality_code is not None and municipality_code == self.municipality_code
        return False


NOTHING = Scope(Reach.NOTHING)
EVERYTHING = Scope(Reach.EVERYTHING)


def staff_authority(principal: Principal) -> Scope:
    """What a member of staff answers for, in every service: the regional operator the whole
    region, a municipal operator their municipality, a provider's staff their organization;
    anyone else (a parent, nobody) nothing. A service adds what else a role reaches (a parent
    their own children) before it."""
    if principal.role == REGIONAL_OPERATOR:
        return EVERYTHING
    if principal.role == MUNICIPAL_OPERATOR:
        return Scope.municipality(principal.municipality_code)
    if principal.role == PROVIDER:
        return Scope.organization(principal.organization_id)
    return NOTHING
