"""Rules that used to live in the catalog's entrypoints (services/catalog/domain.py) and the
data of its events (event_data.py): who sees and changes what, which program fields stay
editable, registries, groups, search input. No broker, no database."""

from datetime import date
from types import SimpleNamespace

import pytest

from contracts.principal import ANONYMOUS, Principal
from contracts.refusals import InvalidField, TransitionRefused
from contracts.scope import EVERYTHING, NOTHING, Scope
from servicekit.errors import Conflict, InvalidInput, rpc_error
from services.catalog import domain, event_data
from services.catalog.domain import (
    AlreadyInOrganization,
    CapacityBelowOccupied,
    OrganizationNotActive,
    ProgramArchived,
    ProgramNotEditable,
    ProgramNotPublished,
)

PROVIDER_12 = Principal(1, "provider", organization_id=12)
PROVIDER_NEW = Principal(2, "provider")
MUNICIPAL_KRSK = Principal(3, "municipal_operator", "krasnoyarsk")
MUNICIPAL_NONE = Principal(4, "municipal_operator")
REGIONAL = Principal(5, "regional_operator")
PARENT = Principal(6, "parent")

# --- who sees what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "scope"),
    [
        (REGIONAL, EVERYTHING),
        (MUNICIPAL_KRSK, Scope.municipality("krasnoyarsk")),
        (MUNICIPAL_NONE, NOTHING),
        (PROVIDER_12, Scope.organization(12)),
        (PROVIDER_NEW, NOTHING),
        (PARENT, NOTHING),
        (ANONYMOUS, NOTHING),
        (None, NOTHING),
        ({"role": "provider", "organization_id": 12}, Scope.organization(12)),
    ],
)
def test_managed_scope_of_each_role(principal, scope):
    assert domain.managed_scope(principal) == scope


def test_nobody_but_an_internal_caller_is_given_everything_without_being_regional():
    for principal in (PROVIDER_12, MUNICIPAL_KRSK, PARENT, ANONYMOUS, {"role": "internal"}):
        assert domain.managed_scope(principal) != EVERYTHING


@pytest.mark.parametrize("status", ["active", "suspended"])
def test_everyone_sees_an_approved_organization(status):
    assert domain.sees_organization(NOTHING, status, 12, "krasnoyarsk")


def test_a_pending_organization_is_seen_only_by_those_who_manage_it():
    seen = {
        name: domain.sees_organization(domain.managed_scope(p), "pending", 12, "krasnoyarsk")
        for name, p in {
            "own provider": PROVIDER_12,
            "other provider": Principal(9, "provider", organization_id=13),
            "own municipality": MUNICIPAL_KRSK,
            "other municipality": Principal(9, "municipal_operator", "achinsk"),
            "regional": REGIONAL,
            "parent": PARENT,
            "anonymous": ANONYMOUS,
        }.items()
    }
    assert seen == {
        "own provider": True,
        "other provider": False,
        "own municipality": True,
        "other municipality": False,
        "regional": True,
        "parent": False,
        "anonymous": False,
    }


@pytest.mark.parametrize(
    ("status", "public"),
    [("draft", False), ("on_review", False), ("published", True), ("archived", True)],
)
def test_programs_are_public_once_published(status, public):
    assert domain.sees_program(NOTHING, status, 12, "krasnoyarsk") is public
    assert domain.sees_program(Scope.organization(12), status, 12, "krasnoyarsk")
    assert domain.sees_program(EVERYTHING, status, 12, "krasnoyarsk")


# --- who changes what -------------------------------------------------------------------


def test_organization_details_are_changed_by_its_staff_and_the_regional_operator():
    assert domain.changes_organization_details(PROVIDER_12, 12)
    assert domain.changes_organization_details(REGIONAL, 12)
    assert not domain.changes_organization_details(Principal(1, "provider", organization_id=13), 12)
    assert not domain.changes_organization_details(MUNICIPAL_KRSK, 12)


def test_only_the_regional_operator_reviews():
    assert domain.reviews_programs(REGIONAL)
    assert domain.reviews_programs({"role": "regional_operator"})
    for principal in (PROVIDER_12, MUNICIPAL_KRSK, PARENT, ANONYMOUS, None):
        assert not domain.reviews_programs(principal)


def test_a_provider_already_in_an_organization_does_not_register_another():
    with pytest.raises(AlreadyInOrganization) as refused:
        domain.check_may_register_organization(PROVIDER_12)
    assert (refused.value.code, refused.value.message) == (
        "already_in_organization",
        "Вы уже работаете в организации",
    )
    domain.check_may_register_organization(PROVIDER_NEW)
    domain.check_may_register_organization(REGIONAL)


def test_programs_are_created_for_a_providers_own_organization_only():
    assert domain.creates_programs_for(PROVIDER_12) == 12
    assert domain.creates_programs_for(PROVIDER_NEW) is None
    assert domain.creates_programs_for(REGIONAL) is None
    assert (
        domain.creates_programs_for(Principal(1, "regional_operator", organization_id=12)) is None
    )


def test_only_an_active_organization_submits_programs():
    domain.check_organization_can_submit("active")
    for status in ("pending", "suspended"):
        with pytest.raises(OrganizationNotActive):
            domain.check_organization_can_submit(status)


# --- programs ---------------------------------------------------------------------------


def test_a_draft_changes_freely():
    domain.check_program_change("draft", {"min_age", "registry", "title"})


def test_a_published_program_changes_only_its_presentation():
    domain.check_program_change("published", {"title", "description", "format", "adapted"})
    for field in ("min_age", "max_age", "registry", "direction", "level"):
        with pytest.raises(ProgramNotEditable):
            domain.check_program_change("published", {"title", field})


@pytest.mark.parametrize("status", ["on_review", "archived"])
def test_a_program_on_review_or_archived_does_not_change(status):
    with pytest.raises(ProgramNotEditable) as refused:
        domain.check_program_change(status, {"title"})
    error = rpc_error(refused.value)
    assert isinstance(error, Conflict)
    assert (error.code, error.message) == (
        "program_not_editable",
        "В этом статусе программу так изменить нельзя",
    )


def test_narrowing_ages_is_noticed_and_widening_is_not():
    assert domain.narrows_ages(7, 12, {"min_age": 8})
    assert domain.narrows_ages(7, 12, {"max_age": 11})
    assert not domain.narrows_ages(7, 12, {"min_age": 6, "max_age": 14})
    assert not domain.narrows_ages(7, 12, {"title": "x"})


@pytest.mark.parametrize("direction", ["arts", "sports"])
def test_pre_professional_programs_are_arts_or_sports(direction):
    domain.check_program_fields(
        {"min_age": 7, "max_age": 12, "registry": "pre_professional", "direction": direction}
    )


def test_a_pre_professional_technical_program_is_refused_with_the_registry_field():
    with pytest.raises(InvalidField) as refused:
        domain.check_program_fields(
            {"min_age": 7, "max_age": 12, "registry": "pre_professional", "direction": "technical"}
        )
    error = rpc_error(refused.value)
    assert isinstance(error, InvalidInput)
    assert error.code == "registry_direction"
    assert (
        error.message == "Предпрофессиональные программы бывают только художественные и спортивные"
    )
    assert error.fields == {"registry": ["только для художественной и спортивной направленности"]}


def test_program_fields_check_ages_before_the_registry():
    with pytest.raises(InvalidField) as refused:
        domain.check_program_fields(
            {"min_age": 12, "max_age": 7, "registry": "nonsense", "direction": "arts"}
        )
    assert refused.value.field == "max_age"
    with pytest.raises(InvalidField) as unknown:
        domain.check_program_fields(
            {"min_age": 7, "max_age": 12, "registry": "nonsense", "direction": "arts"}
        )
    assert (unknown.value.field, unknown.value.code) == ("registry", "choice")


def test_only_the_certified_registry_is_certified_on_publication():
    assert domain.certified_on_publication("certified")
    for registry in ("significant", "pre_professional", "general", "paid"):
        assert not domain.certified_on_publication(registry)


def test_an_organizations_inn_needs_right_check_digits():
    domain.check_inn(domain.inn_with_check_digits("246600001"))
    with pytest.raises(InvalidField) as refused:
        domain.check_inn("2466000011")
    error = rpc_error(refused.value)
    assert (error.code, error.fields) == (
        "invalid_inn",
        {"inn": ["ИНН с неверными контрольными цифрами"]},
    )


def test_statuses_move_only_along_their_machines():
    assert domain.transition("organization", "pending", domain.ORGANIZATION_ACTIONS["approve"])
    with pytest.raises(TransitionRefused):
        domain.transition("organization", "pending", domain.ORGANIZATION_ACTIONS["suspend"])


# --- groups -----------------------------------------------------------------------------

GROUP = {
    "schedule": [{"weekday": 3, "start": "16:00", "end": "17:00"}],
    "start_date": "2026-09-01",
    "end_date": "2027-05-31",
    "min_age": 7,
    "max_age": 12,
    "capacity": 10,
    "price_kopecks": 900000,
}


def test_a_groups_fields_are_checked_and_priced_per_month():
    checked = domain.check_group(7, 14, GROUP)
    assert checked == {
        "schedule": GROUP["schedule"],
        "start_date": date(2026, 9, 1),
        "end_date": date(2027, 5, 31),
        "monthly_price_kopecks": 100000,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_age": 6}, "min_age"),
        ({"end_date": "2026-08-31"}, "end_date"),
        ({"capacity": 0}, "capacity"),
        ({"schedule": []}, "schedule"),
    ],
)
def test_a_group_that_breaks_a_rule_names_the_field(change, field):
    with pytest.raises(InvalidField) as refused:
        domain.check_group(7, 14, {**GROUP, **change})
    assert refused.value.field == field


def test_groups_of_an_archived_program_are_refused_and_unpublished_ones_start_closed():
    with pytest.raises(ProgramArchived):
        domain.check_group_can_be_added("archived")
    domain.check_group_can_be_added("draft")
    assert domain.opens_on_creation("published")
    assert not domain.opens_on_creation("draft")
    with pytest.raises(ProgramNotPublished):
        domain.check_enrollment_opening("on_review")
    domain.check_enrollment_opening("published")


def test_capacity_never_drops_below_the_occupied_seats():
    with pytest.raises(CapacityBelowOccupied) as refused:
        domain.check_capacity_change(3, held=2, enrolled=2)
    assert rpc_error(refused.value).code == "capacity_below_occupied"
    domain.check_capacity_change(4, held=2, enrolled=2)


# --- search input -----------------------------------------------------------------------


def test_search_filters_get_defaults():
    assert domain.check_search_filters({"q": "футбол"}) == {
        "limit": 20,
        "offset": 0,
        "sort": "relevance",
        "q": "футбол",
    }


@pytest.mark.parametrize(
    ("filters", "field", "title"),
    [
        ({"sort": "popularity"}, "sort", "Неизвестный порядок"),
        ({"lat": 56.0}, "lat", "Точка задаётся широтой и долготой"),
        ({"lon": 92.8}, "lat", "Точка задаётся широтой и долготой"),
        ({"sort": "distance"}, "lat", "Для расстояния нужна точка"),
        ({"radius_km": 5}, "lat", "Для расстояния нужна точка"),
    ],
)
def test_a_search_that_cannot_work_is_refused(filters, field, title):
    with pytest.raises(InvalidField) as refused:
        domain.check_search_filters(filters)
    error = rpc_error(refused.value)
    assert (error.message, error.code, list(error.fields)) == (title, "invalid_input", [field])


def test_a_search_by_distance_with_a_point_is_fine():
    clean = domain.check_search_filters({"sort": "distance", "lat": 56.0, "lon": 92.8})
    assert clean["sort"] == "distance"


# --- event data -------------------------------------------------------------------------

ORG = SimpleNamespace(
    id=12, name="Секция", inn="2466000010", municipality_code="krasnoyarsk", status="active"
)


def test_group_changed_says_money_as_decimal_strings_and_dates_as_iso():
    group = SimpleNamespace(
        id=3, program_id=2, capacity=10, held=2, enrolled=3, price_kopecks=900000,
        normative_cost_kopecks=850050, monthly_price_kopecks=100000, enrollment_open=True,
        start_date=date(2026, 9, 1), end_date=date(2027, 5, 31),
    )  # fmt: skip
    assert event_data.group_changed(group, ORG) == {
        "group_id": 3,
        "program_id": 2,
        "organization_id": 12,
        "municipality_code": "krasnoyarsk",
        "capacity": 10,
        "free_seats": 5,
        "start_date": "2026-09-01",
        "end_date": "2027-05-31",
        "price": "9000.00",
        "normative_cost": "8500.50",
        "monthly_price": "1000.00",
        "enrollment_open": True,
    }


def test_program_events_name_program_and_organization():
    program = SimpleNamespace(
        id=2, title="Плавание", direction="sports", registry_code="certified", certified=True,
        payment_type="certificate", min_age=7, max_age=12,
    )  # fmt: skip
    published = event_data.program_published(program, ORG)
    assert published["registry"] == "certified" and published["municipality_code"] == "krasnoyarsk"
    assert event_data.program_rejected(program, ORG, "нет описания") == {
        "program_id": 2,
        "organization_id": 12,
        "reason": "нет описания",
    }
    assert event_data.program_archived(program, ORG) == {"program_id": 2, "organization_id": 12}
    assert event_data.organization(ORG)["inn"] == "2466000010"


# --- what a provider may change (issue 13) ----------------------------------------------

BEFORE = {"inn": "2460000001", "municipality_code": "krasnoyarsk"}


@pytest.mark.parametrize("change", [{"inn": "2460000002"}, {"municipality_code": "achinsk"}])
def test_staff_changing_inn_or_municipality_send_an_approved_organization_back_to_approval(
    change,
):
    after = domain.status_after_details_change(PROVIDER_12, "active", BEFORE, change)
    assert after == "pending"


def test_the_regional_operator_changes_inn_and_municipality_as_they_are():
    change = {"inn": "2460000002", "municipality_code": "achinsk"}
    assert domain.status_after_details_change(REGIONAL, "active", BEFORE, change) == "active"


def test_other_details_or_the_same_values_keep_the_organization_approved():
    for change in ({"address": "ул. Мира, 1"}, dict(BEFORE)):
        assert domain.status_after_details_change(PROVIDER_12, "active", BEFORE, change) == (
            "active"
        )


def test_a_suspended_organizations_staff_may_not_act():
    assert not domain.staff_may_act("suspended")
    assert domain.staff_may_act("active") and domain.staff_may_act("pending")
