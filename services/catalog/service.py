"""Catalog service: municipalities, organizations, programs, groups, search.

A group's seats are enrollment's (services/enrollment): the catalog keeps the free seats it
is told of by `group_seats_changed` (a projection for search, so a search never waits on
enrollment), answers enrollment the facts of its groups (`group_facts`), and asks it before
changing a capacity (`enrollment.set_capacity`, which refuses one below the seats taken).

Thin entrypoints: each calls operations.py on the worker's session, committed
when the entrypoint returns, and dumps the answer through schemas.py. Rules live in
domain.py, the search SQL in search.py.

`principal` is the caller of a write as the gateway authenticated it (`Principal.as_rpc()`).
`viewer` is the caller of a read: the gateway always passes one (an anonymous visitor is a
viewer without a role); another service passes none and sees everything
(operations.reader_scope).
"""

from typing import Any

from nameko.rpc import rpc

from contracts.principal import Principal
from servicekit.events import reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.catalog import operations
from services.catalog.schemas import (
    group_page_schema,
    group_schema,
    municipality_schema,
    organization_page_schema,
    organization_schema,
    program_page_schema,
    program_schema,
)


class CatalogService(ServiceBase):
    name = "catalog"

    peers = TimedClusterRpc()  # enrollment, for a capacity change

    # --- reference data -----------------------------------------------------------------

    @rpc
    def list_municipalities(self) -> list[dict]:
        return municipality_schema.dump(operations.list_municipalities(self.db), many=True)

    @rpc
    def get_municipality(self, code: str) -> dict:
        return municipality_schema.dump(operations.get_municipality(self.db, code))

    @rpc
    def set_normative(self, principal: dict, code: str, per_hour_kopecks: int) -> dict:
        """The operator's normative cost of an hour in a municipality (kopecks)."""
        who = Principal.from_rpc(principal)
        return operations.set_normative(self.db, who, code, per_hour_kopecks)

    @rpc
    def get_normative(self, code: str) -> dict:
        return operations.get_normative(self.db, code)

    @rpc
    def list_directions(self) -> list[dict]:
        return operations.list_directions()

    # --- organizations ------------------------------------------------------------------

    @rpc
    def get_organization(self, organization_id: int, viewer: dict | None = None) -> dict:
        scope = operations.reader_scope(viewer)
        return organization_schema.dump(
            operations.find_organization(self.db, scope, organization_id)
        )

    @rpc
    def organization_names(self, organization_ids: list[int]) -> dict[str, str]:
        """Names of organizations by id, for the reports payments writes."""
        return operations.organization_names(self.db, organization_ids)

    @rpc
    def list_organizations(
        self,
        viewer: dict | None = None,
        municipality_code: str | None = None,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict:
        scope = operations.reader_scope(viewer)
        found = operations.list_organizations(
            self.db, scope, municipality_code, status, limit, offset
        )
        return organization_page_schema.dump(found)

    @rpc
    def create_organization(self, principal: dict, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        return organization_schema.dump(operations.create_organization(self.db, who, data))

    @rpc
    def update_organization(self, principal: dict, organization_id: int, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        org = operations.update_organization(self.db, who, organization_id, data)
        return organization_schema.dump(org)

    @rpc
    def change_organization_status(
        self, principal: dict, organization_id: int, action: str
    ) -> dict:
        who = Principal.from_rpc(principal)
        org = operations.change_organization_status(self.db, who, organization_id, action)
        return organization_schema.dump(org)

    @rpc
    def list_organization_programs(
        self, organization_id: int, viewer: dict | None = None, limit: int = 20, offset: int = 0
    ) -> dict:
        scope = operations.reader_scope(viewer)
        found = operations.list_organization_programs(
            self.db, scope, organization_id, limit, offset
        )
        return program_page_schema.dump(found)

    # --- programs -----------------------------------------------------------------------

    @rpc
    def list_programs(
        self, viewer: dict | None = None, status: str | None = None, limit: int = 20,
        offset: int = 0,
    ) -> dict:  # fmt: skip
        scope = operations.reader_scope(viewer)
        return program_page_schema.dump(
            operations.list_programs(self.db, scope, status, limit, offset)
        )

    @rpc
    def get_program(self, program_id: int, viewer: dict | None = None) -> dict:
        scope = operations.reader_scope(viewer)
        program, _ = operations.find_program(self.db, scope, program_id)
        return program_schema.dump(program)

    @rpc
    def create_program(self, principal: dict, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        return program_schema.dump(operations.create_program(self.db, who, data))

    @rpc
    def update_program(self, principal: dict, program_id: int, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        return program_schema.dump(operations.update_program(self.db, who, program_id, data))

    @rpc
    def submit_program(self, principal: dict, program_id: int) -> dict:
        who = Principal.from_rpc(principal)
        return program_schema.dump(operations.submit_program(self.db, who, program_id))

    @rpc
    def certify_program(self, principal: dict, program_id: int) -> dict:
        who = Principal.from_rpc(principal)
        return program_schema.dump(operations.certify_program(self.db, who, program_id))

    @rpc
    def reject_program(self, principal: dict, program_id: int, reason: str) -> dict:
        who = Principal.from_rpc(principal)
        program = operations.reject_program(self.db, who, program_id, reason)
        return program_schema.dump(program)

    @rpc
    def archive_program(self, principal: dict, program_id: int) -> dict:
        who = Principal.from_rpc(principal)
        return program_schema.dump(operations.archive_program(self.db, who, program_id))

    @rpc
    def list_program_groups(
        self, program_id: int, viewer: dict | None = None, limit: int = 20, offset: int = 0
    ) -> dict:
        scope = operations.reader_scope(viewer)
        found = operations.list_program_groups(self.db, scope, program_id, limit, offset)
        return group_page_schema.dump(found)

    # --- groups -------------------------------------------------------------------------

    @rpc
    def get_group(self, group_id: int, viewer: dict | None = None) -> dict:
        group, _, _ = operations.find_group(self.db, operations.reader_scope(viewer), group_id)
        return group_schema.dump(group)

    @rpc
    def create_group(self, principal: dict, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        return group_schema.dump(operations.create_group(self.db, who, data))

    @rpc
    def update_group(self, principal: dict, group_id: int, data: dict) -> dict:
        who = Principal.from_rpc(principal)
        group = operations.update_group(
            self.db, who, group_id, data,
            set_capacity=lambda gid, capacity: self.peers.call(
                "enrollment", "set_capacity", gid, capacity
            ),
        )  # fmt: skip
        return group_schema.dump(group)

    # --- what enrollment needs and tells ------------------------------------------------

    @rpc
    def group_facts(
        self,
        group_ids: list[int] | None = None,
        program_id: int | None = None,
        organization_id: int | None = None,
    ) -> list[dict]:
        """For enrollment: the facts of groups (by ids, of a program or of an organization)."""
        return operations.group_facts(self.db, group_ids, program_id, organization_id)

    @reliable_handler("enrollment", "group_seats_changed")
    def on_group_seats_changed(self, envelope):
        """The free seats of the search: enrollment's counts, the newest of them (a repeat or
        an older event changes nothing by its `version`, so no processed-event row)."""
        operations.apply_seats(self.db, envelope["data"])

    # --- search -------------------------------------------------------------------------

    @rpc
    def search(self, filters: dict[str, Any]) -> dict:
        return operations.search_programs(self.db, filters)
