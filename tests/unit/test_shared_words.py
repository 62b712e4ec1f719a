"""The words every service shares (contracts/) and the one mapping of a refusal to the error
that crosses RPC (servicekit.errors.rpc_error), without broker or database."""

from datetime import date, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql

from contracts import roles
from contracts.ages import age_on
from contracts.catalog import ORGANIZATION_STATUSES, PROGRAM_STATUSES
from contracts.principal import ANONYMOUS, Principal
from contracts.refusals import (
    Conflicting,
    FieldCollector,
    InvalidField,
    InvalidFields,
    Refusal,
    TransitionRefused,
)
from contracts.scope import EVERYTHING, NOTHING, Reach, Scope
from contracts.transitions import StateMachine, transition
from servicekit.errors import Conflict, InvalidInput, refusals_as_rpc_errors, rpc_error
from servicekit.visibility import where_visible
from services.accounts import domain as accounts
from services.catalog import domain as catalog

# --- age --------------------------------------------------------------------------------


def test_both_services_count_age_with_the_one_age_on():
    assert accounts.age_on is age_on
    assert catalog.age_on is age_on


def test_age_is_completed_years_and_the_birthday_counts():
    assert age_on(date(2016, 9, 10), date(2016, 9, 10)) == 0
    assert age_on(date(2016, 9, 10), date(2026, 9, 9)) == 9
    assert age_on(date(2016, 9, 10), date(2026, 9, 10)) == 10


def test_a_leap_day_child_has_a_birthday_on_28_february_in_a_common_year():
    assert age_on(date(2016, 2, 29), date(2027, 2, 27)) == 10
    assert age_on(date(2016, 2, 29), date(2027, 2, 28)) == 11
    assert age_on(date(2016, 2, 29), date(2028, 2, 28)) == 11
    assert age_on(date(2016, 2, 29), date(2028, 2, 29)) == 12


@pytest.mark.parametrize("on", [date(2020, 1, 9), date(2019, 12, 31), date(1900, 1, 1)])
def test_a_day_before_birth_has_no_age(on):
    """Not -1: a negative "age" could pass a range check; the caller asks only for days
    the child has lived (accounts refuses a future birth date first)."""
    with pytest.raises(ValueError):
        age_on(date(2020, 1, 10), on)


def test_age_accepts_datetimes_as_their_day():
    assert age_on(datetime(2016, 9, 10, 23, 0), datetime(2026, 9, 10, 0, 1)) == 10


# --- roles and the principal ------------------------------------------------------------


def test_roles_are_the_four_of_the_design():
    assert roles.ROLES == ("parent", "provider", "municipal_operator", "regional_operator")
    assert set(roles.STAFF_ROLES) | {roles.PARENT} == set(roles.ROLES)
    assert accounts.PARENT is roles.PARENT and accounts.STAFF_ROLES == set(roles.STAFF_ROLES)


def test_principal_travels_over_rpc_and_back_unchanged():
    provider = Principal(7, roles.PROVIDER, "krasnoyarsk", organization_id=12)
    wire = provider.as_rpc()
    assert wire == {
        "user_id": 7,
        "role": "provider",
        "organization_id": 12,
        "municipality_code": "krasnoyarsk",
    }
    assert Principal.from_rpc(wire) == provider
    assert Principal.from_rpc(provider) is provider
    assert provider.key == "user:7"


def test_missing_or_roleless_principal_is_anonymous_not_someone():
    assert Principal.from_rpc(None) == ANONYMOUS
    assert Principal.from_rpc({"role": None}) == ANONYMOUS
    assert Principal.from_rpc({"role": None}).is_anonymous
    assert not Principal.from_rpc({"user_id": "3", "role": "parent"}).is_anonymous
    assert Principal.from_rpc({"user_id": "3", "role": "parent"}).user_id == 3


def test_accounts_viewer_is_the_principal():
    assert accounts.Viewer is Principal


# --- scope ------------------------------------------------------------------------------


def test_scope_covers_only_its_own_rows():
    assert Scope.children_of(5).covers(parent_id=5)
    assert not Scope.children_of(5).covers(parent_id=6)
    assert Scope.organization(12).covers(organization_id=12, municipality_code="x")
    assert not Scope.organization(12).covers(organization_id=13)
    assert Scope.municipality("achinsk").covers(municipality_code="achinsk")
    assert not Scope.municipality("achinsk").covers(municipality_code="kansk")
    assert EVERYTHING.covers()
    assert not NOTHING.covers(parent_id=1, organization_id=1, municipality_code="x")


def test_a_scope_without_its_owner_reaches_nothing():
    assert Scope.children_of(None) == NOTHING
    assert Scope.organization(None) == NOTHING
    assert Scope.municipality(None) == NOTHING
    assert Scope.municipality("") == NOTHING
    # a row without an owner is never inside an owner's scope
    assert not Scope.organization(12).covers(organization_id=None)


ROWS = Table(
    "rows",
    MetaData(),
    Column("id", Integer),
    Column("parent_id", Integer),
    Column("organization_id", Integer),
    Column("municipality_code", String),
)


def sql(scope: Scope, **columns) -> str:
    query = select(ROWS.c.id).where(where_visible(scope, **columns))
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled).split("WHERE", 1)[1].strip()


def test_where_visible_is_the_sql_of_the_scope():
    owners = {
        "parent_id": ROWS.c.parent_id,
        "organization_id": ROWS.c.organization_id,
        "municipality_code": ROWS.c.municipality_code,
    }
    assert sql(Scope.children_of(5), **owners) == "rows.parent_id = 5"
    assert sql(Scope.organization(12), **owners) == "rows.organization_id = 12"
    assert sql(Scope.municipality("achinsk"), **owners) == "rows.municipality_code = 'achinsk'"
    assert sql(EVERYTHING, **owners) == "true"
    assert sql(NOTHING, **owners) == "false"


def test_where_visible_refuses_a_scope_it_has_no_column_for():
    with pytest.raises(ValueError, match="own_children"):
        where_visible(Scope.children_of(5), municipality_code=ROWS.c.municipality_code)
    assert Reach.OWN_CHILDREN.value == "own_children"


# --- refusals and the one mapping -------------------------------------------------------


def test_accounts_and_catalog_raise_the_same_invalid_field():
    assert accounts.InvalidField is InvalidField is catalog.InvalidField
    assert accounts.InvalidFields is InvalidFields
    assert catalog.TransitionRefused is TransitionRefused


def test_an_invalid_field_crosses_rpc_as_invalid_input_with_its_field_message():
    error = rpc_error(InvalidField("snils", "неверное контрольное число СНИЛС", "checksum"))
    assert isinstance(error, InvalidInput)
    assert (error.message, error.code) == ("неверное контрольное число СНИЛС", "checksum")
    assert error.fields == {"snils": ["неверное контрольное число СНИЛС"]}


def test_a_titled_invalid_field_keeps_its_headline():
    error = rpc_error(InvalidField("lat", "укажите lat и lon", "invalid_input", title="Точка"))
    assert (error.message, error.fields) == ("Точка", {"lat": ["укажите lat и lon"]})


def test_several_invalid_fields_cross_as_one_answer():
    collector = FieldCollector()
    collector.add("email", "неверный адрес")
    collector.check(accounts.normalize_sex, "robot")
    with pytest.raises(InvalidFields) as refused:
        collector.raise_if_any()
    error = rpc_error(refused.value)
    assert isinstance(error, InvalidInput)
    assert (error.message, error.code) == ("Проверьте введённые данные", "invalid_input")
    assert error.fields == {"email": ["неверный адрес"], "sex": ["укажите пол: male или female"]}


def test_a_refusing_state_crosses_rpc_as_conflict():
    error = rpc_error(TransitionRefused("archived", "published"))
    assert isinstance(error, Conflict)
    assert error.code == "transition_refused"
    assert error.message == "переход из статуса 'archived' в 'published' не разрешён"
    assert isinstance(rpc_error(catalog.CapacityBelowOccupied(3, 4)), Conflict)


def test_refusals_as_rpc_errors_maps_inside_a_block_and_lets_other_errors_through():
    with pytest.raises(Conflict) as conflict, refusals_as_rpc_errors():
        raise catalog.ProgramNotEditable()
    assert conflict.value.code == "program_not_editable"
    with pytest.raises(KeyError), refusals_as_rpc_errors():
        raise KeyError("not a refusal")


def test_every_refusal_is_a_refusal_and_a_generic_one_is_invalid_input():
    assert issubclass(accounts.WeakPassword, Refusal)
    assert issubclass(catalog.CapacityBelowOccupied, Conflicting)
    error = rpc_error(accounts.WeakPassword("короткий", "too_short"))
    assert (error.code, error.fields) == ("too_short", {"password": ["короткий"]})


# --- the one status-machine check ------------------------------------------------------

LAMP = StateMachine("lamp", {"off": ("on",), "on": ("off", "broken")})


def test_a_move_the_machine_allows_is_made():
    assert transition(LAMP, "off", "on") is True
    assert transition(LAMP, "on", "broken") is True


def test_a_replay_of_the_current_status_is_a_no_op():
    assert transition(LAMP, "on", "on") is False
    assert transition(LAMP, "broken", "broken") is False  # a final status too


def test_a_wrong_move_is_refused_with_both_statuses():
    for current, target in (("off", "broken"), ("broken", "on"), ("unknown", "off")):
        with pytest.raises(TransitionRefused) as refused:
            transition(LAMP, current, target)
        assert (refused.value.current, refused.value.target) == (current, target)
        assert isinstance(rpc_error(refused.value), Conflict)


def test_an_unknown_target_is_a_programming_error():
    with pytest.raises(ValueError, match="lamp"):
        transition(LAMP, "off", "dimmed")


def test_the_catalog_moves_through_the_shared_check_and_refuses_a_repeated_command():
    assert catalog.PROGRAM_MACHINE.statuses == set(PROGRAM_STATUSES)
    assert catalog.ORGANIZATION_MACHINE.statuses == set(ORGANIZATION_STATUSES)
    assert catalog.transition("program", "on_review", "published") == "published"
    with pytest.raises(TransitionRefused):
        catalog.transition("program", "published", "published")


def test_a_refusal_with_figures_crosses_rpc_as_conflict_with_them():
    from services.certificates.domain import Refused

    error = rpc_error(Refused("insufficient_funds", "Номинал уже израсходован", available=0))
    assert isinstance(error, Conflict)
    assert (error.code, error.message, error.extra) == (
        "insufficient_funds",
        "Номинал уже израсходован",
        {"available": 0},
    )
    assert rpc_error(TransitionRefused("a", "b")).extra == {}
