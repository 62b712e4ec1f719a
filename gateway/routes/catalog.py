"""Catalog routes: reference data, organizations, programs, groups and the search.

Public reads pass the caller (or an anonymous viewer) so the catalog service decides what
the caller may see; writes pass the principal and the service checks ownership."""

from contracts.principal import ANONYMOUS
from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER, REGIONAL_OPERATOR
from gateway.catalog_schemas import (
    DirectionListSchema,
    GroupCreateSchema,
    GroupPatchSchema,
    GroupSchema,
    MunicipalityListSchema,
    NormativeSchema,
    NormativeSettingSchema,
    OrganizationCreateSchema,
    OrganizationListQuery,
    OrganizationPatchSchema,
    OrganizationSchema,
    ProgramCreateSchema,
    ProgramListQuery,
    ProgramPatchSchema,
    ProgramSchema,
    RejectSchema,
    SearchPageSchema,
    SearchQuery,
    dump_search_page,
)
from gateway.http import API, PageQuery, page_of, route

ID = "<int(min=1,max=2147483647):{}>"
ORG = f"{API}/organizations/{ID.format('organization_id')}"
PROGRAM = f"{API}/programs/{ID.format('program_id')}"
GROUP = f"{API}/groups/{ID.format('group_id')}"
PROVIDERS = (PROVIDER,)
REGIONAL = (REGIONAL_OPERATOR,)
OPERATORS = (MUNICIPAL_OPERATOR, REGIONAL_OPERATOR)
NORMATIVE = f"{API}/municipalities/<municipality_code>/normative"


def viewer(call) -> dict:
    """Who is looking; an anonymous visitor is a viewer without a role (not an internal call)."""
    return (call.principal or ANONYMOUS).as_rpc()


class CatalogRoutes:
    # --- reference ----------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/municipalities",
        summary="Municipalities of the region",
        tags=["catalog"],
        response=MunicipalityListSchema,
    )
    def list_municipalities(self, call):
        return {"items": self.rpc.call("catalog", "list_municipalities")}

    @route(
        "GET",
        NORMATIVE,
        summary="The normative cost of an hour in a municipality",
        tags=["catalog"],
        response=NormativeSettingSchema,
    )
    def get_normative(self, call, municipality_code):
        return self.rpc.call("catalog", "get_normative", municipality_code)

    @route(
        "PUT",
        NORMATIVE,
        summary="Set the normative cost of an hour (the municipality's or the regional operator)",
        tags=["catalog"],
        roles=OPERATORS,
        body=NormativeSchema,
        response=NormativeSettingSchema,
        description="A certified group's normative cost is this figure × the group's hours (its "
        "weekly lessons over its dates), never a number the provider types. It applies to "
        "groups created or changed afterwards; contracts keep the normative they were made on.",
    )
    def set_normative(self, call, municipality_code):
        return self.rpc.call(
            "catalog",
            "set_normative",
            call.principal.as_rpc(),
            municipality_code,
            call.body["per_hour_kopecks"],
        )

    @route(
        "GET",
        f"{API}/directions",
        summary="The six directions of programs",
        tags=["catalog"],
        response=DirectionListSchema,
    )
    def list_directions(self, call):
        return {"items": self.rpc.call("catalog", "list_directions")}

    # --- search -------------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/catalog/search",
        summary="Search programs with their matching groups",
        tags=["catalog"],
        query=SearchQuery,
        response=SearchPageSchema,
        description="Filters combine with AND. Results are programs; `groups` summarizes the "
        "program's groups that match (count, free seats, cheapest, nearest, earliest start). "
        "The same search within a few seconds gets the same answer (free seats may be that old).",
        shared=True,
        dump=dump_search_page,
        operation_id="searchCatalog",
    )
    def search(self, call):
        return self.rpc.call("catalog", "search", call.query)

    # --- organizations ------------------------------------------------------------------

    @route(
        "GET",
        f"{API}/organizations",
        summary="Organizations (pending ones only to those who manage them)",
        tags=["organizations"],
        query=OrganizationListQuery,
        response=page_of(OrganizationSchema),
    )
    def list_organizations(self, call):
        return self.rpc.call("catalog", "list_organizations", viewer(call), **call.query)

    @route(
        "POST",
        f"{API}/organizations",
        summary="Register an organization (it waits for the regional operator's approval)",
        tags=["organizations"],
        roles=(PROVIDER, REGIONAL_OPERATOR),
        body=OrganizationCreateSchema,
        response=OrganizationSchema,
        status=201,
    )
    def create_organization(self, call):
        return self.rpc.call("catalog", "create_organization", call.principal.as_rpc(), call.body)

    @route(
        "GET",
        ORG,
        summary="An organization",
        tags=["organizations"],
        response=OrganizationSchema,
    )
    def get_organization(self, call, organization_id):
        return self.rpc.call("catalog", "get_organization", organization_id, viewer(call))

    @route(
        "PATCH",
        ORG,
        summary="Change an organization's details (its staff or the regional operator)",
        tags=["organizations"],
        roles=(PROVIDER, REGIONAL_OPERATOR),
        body=OrganizationPatchSchema,
        response=OrganizationSchema,
        description="INN and municipality decide who oversees the organization: when its own "
        "staff change them, an approved organization goes back to approval (`pending`); the "
        "regional operator changes them as they are. A suspended organization's staff change "
        "nothing (403 `organization_suspended`), nor its programs and groups.",
    )
    def update_organization(self, call, organization_id):
        return self.rpc.call(
            "catalog", "update_organization", call.principal.as_rpc(), organization_id, call.body
        )

    def _organization_action(self, call, organization_id, action):
        return self.rpc.call(
            "catalog",
            "change_organization_status",
            call.principal.as_rpc(),
            organization_id,
            action,
        )

    @route(
        "POST",
        f"{ORG}/approve",
        summary="Approve a pending organization",
        tags=["organizations"],
        roles=REGIONAL,
        response=OrganizationSchema,
    )
    def approve_organization(self, call, organization_id):
        return self._organization_action(call, organization_id, "approve")

    @route(
        "POST",
        f"{ORG}/suspend",
        summary="Suspend an active organization (its programs leave the search)",
        tags=["organizations"],
        roles=REGIONAL,
        response=OrganizationSchema,
    )
    def suspend_organization(self, call, organization_id):
        return self._organization_action(call, organization_id, "suspend")

    @route(
        "POST",
        f"{ORG}/reinstate",
        summary="Reinstate a suspended organization",
        tags=["organizations"],
        roles=REGIONAL,
        response=OrganizationSchema,
    )
    def reinstate_organization(self, call, organization_id):
        return self._organization_action(call, organization_id, "reinstate")

    @route(
        "GET",
        f"{ORG}/programs",
        summary="An organization's programs (drafts only to those who manage it)",
        tags=["organizations"],
        query=PageQuery,
        response=page_of(ProgramSchema),
    )
    def list_organization_programs(self, call, organization_id):
        return self.rpc.call(
            "catalog", "list_organization_programs", organization_id, viewer(call), **call.query
        )

    # --- programs -----------------------------------------------------------------------

    @route(
        "POST",
        f"{API}/programs",
        summary="Create a program of your organization (a draft)",
        tags=["programs"],
        roles=PROVIDERS,
        body=ProgramCreateSchema,
        response=ProgramSchema,
        status=201,
    )
    def create_program(self, call):
        return self.rpc.call("catalog", "create_program", call.principal.as_rpc(), call.body)

    @route(
        "GET",
        f"{API}/programs",
        summary="Programs of every organization, by status (the regional operator's review)",
        tags=["programs"],
        roles=REGIONAL,
        query=ProgramListQuery,
        response=page_of(ProgramSchema),
        description="`status=on_review`: the programs waiting for certification, oldest first.",
        operation_id="listPrograms",
    )
    def list_programs(self, call):
        return self.rpc.call("catalog", "list_programs", viewer(call), **call.query)

    @route("GET", PROGRAM, summary="A program", tags=["programs"], response=ProgramSchema)
    def get_program(self, call, program_id):
        return self.rpc.call("catalog", "get_program", program_id, viewer(call))

    @route(
        "PATCH",
        PROGRAM,
        summary="Change a program (a draft fully; a published one: title, description, "
        "format, adapted)",
        tags=["programs"],
        roles=PROVIDERS,
        body=ProgramPatchSchema,
        response=ProgramSchema,
    )
    def update_program(self, call, program_id):
        return self.rpc.call(
            "catalog", "update_program", call.principal.as_rpc(), program_id, call.body
        )

    @route(
        "POST",
        f"{PROGRAM}/submit",
        summary="Send a draft to the regional operator's review",
        tags=["programs"],
        roles=PROVIDERS,
        response=ProgramSchema,
    )
    def submit_program(self, call, program_id):
        return self.rpc.call("catalog", "submit_program", call.principal.as_rpc(), program_id)

    @route(
        "POST",
        f"{PROGRAM}/certify",
        summary="Approve a program on review: it is published (and payable by certificate "
        "when in the certified registry)",
        tags=["programs"],
        roles=REGIONAL,
        response=ProgramSchema,
    )
    def certify_program(self, call, program_id):
        return self.rpc.call("catalog", "certify_program", call.principal.as_rpc(), program_id)

    @route(
        "POST",
        f"{PROGRAM}/reject",
        summary="Send a program on review back to draft, with the reason",
        tags=["programs"],
        roles=REGIONAL,
        body=RejectSchema,
        response=ProgramSchema,
    )
    def reject_program(self, call, program_id):
        return self.rpc.call(
            "catalog",
            "reject_program",
            call.principal.as_rpc(),
            program_id,
            call.body["reason"],
        )

    @route(
        "POST",
        f"{PROGRAM}/archive",
        summary="Archive a published program (its groups close)",
        tags=["programs"],
        roles=PROVIDERS,
        response=ProgramSchema,
    )
    def archive_program(self, call, program_id):
        return self.rpc.call("catalog", "archive_program", call.principal.as_rpc(), program_id)

    @route(
        "GET",
        f"{PROGRAM}/groups",
        summary="A program's groups",
        tags=["programs"],
        query=PageQuery,
        response=page_of(GroupSchema),
    )
    def list_program_groups(self, call, program_id):
        return self.rpc.call(
            "catalog", "list_program_groups", program_id, viewer(call), **call.query
        )

    # --- groups -------------------------------------------------------------------------

    @route(
        "POST",
        f"{API}/groups",
        summary="Create a group of your program",
        tags=["groups"],
        roles=PROVIDERS,
        body=GroupCreateSchema,
        response=GroupSchema,
        status=201,
    )
    def create_group(self, call):
        return self.rpc.call("catalog", "create_group", call.principal.as_rpc(), call.body)

    @route("GET", GROUP, summary="A group", tags=["groups"], response=GroupSchema)
    def get_group(self, call, group_id):
        return self.rpc.call("catalog", "get_group", group_id, viewer(call))

    @route(
        "PATCH",
        GROUP,
        summary="Change a group (capacity never below its held and enrolled children; its price "
        "fixed while a seat is held or a child enrolled: 409 money_terms_locked)",
        tags=["groups"],
        roles=PROVIDERS,
        body=GroupPatchSchema,
        response=GroupSchema,
    )
    def update_group(self, call, group_id):
        return self.rpc.call(
            "catalog", "update_group", call.principal.as_rpc(), group_id, call.body
        )
