"""Catalog operations on a session, without Nameko: the one visibility rule gives lists and
gets the same answer as the domain's rule for a row in hand; the seats enrollment tells of
lock a group's money terms (enrollment's own seat steps: test_enrollment_seats.py)."""

import itertools
import random
from datetime import date

import pytest
from sqlalchemy.orm import Session

from contracts.principal import ANONYMOUS, Principal
from contracts.scope import EVERYTHING
from servicekit.errors import Conflict, NotFound
from services.catalog import domain, operations
from services.catalog.models import Group, Organization, Program

MUNICIPALITIES = ("krasnoyarsk", "achinsk")


def _inn() -> str:
    return domain.inn_with_check_digits(f"{random.randint(10**8, 10**9 - 1)}")


@pytest.fixture
def catalog_rows(engine_of):
    """Organizations of every status in two municipalities, each with a program of every
    status and a group of 3 seats per program."""
    engine = engine_of("catalog")
    orgs, programs, groups = {}, {}, {}
    with Session(engine) as session:
        for municipality, org_status in itertools.product(
            MUNICIPALITIES, domain.ORGANIZATION_STATUSES
        ):
            org = Organization(
                name=f"Оп {municipality} {org_status}",
                inn=_inn(),
                municipality_code=municipality,
                address="адрес",
                status=org_status,
            )
            session.add(org)
            session.flush()
            orgs[org.id] = (org_status, municipality)
            for program_status in domain.PROGRAM_STATUSES:
                program = Program(
                    organization_id=org.id, title="Плавание", description="Бассейн",
                    direction="sports", level="basic", format="in_person", adapted=False,
                    registry_code="paid", certified=False, payment_type="own_money",
                    min_age=7, max_age=12, status=program_status,
                )  # fmt: skip
                session.add(program)
                session.flush()
                programs[program.id] = (program_status, org.id, municipality)
                group = Group(
                    program_id=program.id, name="Группа", teacher="Петрова", address="адрес",
                    lat=56.0, lon=92.8, schedule=[{"weekday": 2, "start": "16:00", "end": "17:00"}],
                    start_date=date(2026, 9, 1), end_date=date(2027, 5, 31), min_age=7,
                    max_age=12, capacity=3, held=0, enrolled=0, price_kopecks=900000,
                    normative_cost_kopecks=0, monthly_price_kopecks=100000, enrollment_open=True,
                )  # fmt: skip
                session.add(group)
                session.flush()
                groups[group.id] = program.id
        session.commit()
    return engine, orgs, programs, groups


def principals(orgs):
    some_org = next(iter(orgs))
    return {
        "anonymous": ANONYMOUS,
        "parent": Principal(1, "parent"),
        "provider": Principal(2, "provider", organization_id=some_org),
        "provider without organization": Principal(3, "provider"),
        "municipal operator": Principal(4, "municipal_operator", "achinsk"),
        "municipal operator without municipality": Principal(5, "municipal_operator"),
        "regional operator": Principal(6, "regional_operator"),
    }


def _visible(session, find, *args) -> bool:
    try:
        find(session, *args)
        return True
    except NotFound:
        return False


def test_lists_and_gets_show_exactly_what_the_domain_rule_allows(catalog_rows):
    engine, orgs, programs, groups = catalog_rows
    cases = {**principals(orgs), "internal": None}
    seen_orgs = {}
    with Session(engine) as session:
        for name, principal in cases.items():
            scope = EVERYTHING if principal is None else operations.reader_scope(principal.as_rpc())
            expected_orgs = {
                org_id
                for org_id, (status, municipality) in orgs.items()
                if domain.sees_organization(scope, status, org_id, municipality)
            }
            listed = {
                org.id
                for org in operations.list_organizations(session, scope, limit=10**6)["items"]
                if org.id in orgs
            }
            got = {
                org_id
                for org_id in orgs
                if _visible(session, operations.find_organization, scope, org_id)
            }
            assert listed == got == expected_orgs, name
            seen_orgs[name] = len(got)

            expected_programs = {
                program_id
                for program_id, (status, org_id, municipality) in programs.items()
                if domain.sees_program(scope, status, org_id, municipality)
            }
            got_programs = {
                program_id
                for program_id in programs
                if _visible(session, operations.find_program, scope, program_id)
            }
            listed_programs = set()
            for org_id in expected_orgs:
                page = operations.list_organization_programs(session, scope, org_id, 100)
                listed_programs |= {program.id for program in page["items"]}
            got_groups = {
                groups_program
                for group_id, groups_program in groups.items()
                if _visible(session, operations.find_group, scope, group_id)
            }
            visible_programs_of_visible_orgs = {
                p for p in expected_programs if programs[p][1] in expected_orgs
            }
            assert got_programs == got_groups == expected_programs, name
            assert listed_programs == visible_programs_of_visible_orgs, name
    # the rule really separates callers: the public sees the approved organizations only
    assert seen_orgs["anonymous"] == seen_orgs["parent"] == 4
    assert seen_orgs["provider"] == 5 and seen_orgs["municipal operator"] == 5
    assert seen_orgs["regional operator"] == seen_orgs["internal"] == 6


def test_the_internal_reader_is_named_and_sees_every_row(catalog_rows):
    engine, orgs, programs, _ = catalog_rows
    assert operations.reader_scope(None) is EVERYTHING
    with Session(engine) as session:
        for org_id in orgs:
            assert operations.find_organization(session, EVERYTHING, org_id).id == org_id


# --- issue 18: who sets the price of public money --------------------------------------------


def test_the_normative_is_the_operators_figure_per_hour_times_the_groups_hours(engine_of):
    """qbeckson's rule: normative per hour (the municipality's operator's figure) × hours.
    The provider types a price, never the normative; until the operator set one, a certified
    group cannot be made (409); a group's price is fixed while anyone holds a seat in it."""
    from servicekit.errors import Forbidden, InvalidInput
    from tests.support import enrollment as world

    engine = engine_of("catalog")
    org = world.organization(engine, "krasnoyarsk")
    # a municipality nobody sets a normative for (the end-to-end world sets achinsk's)
    unset_org = world.organization(engine, "sosnovoborsk")
    with Session(engine) as session:
        program_id = session.get(Group, world.group(engine, org)).program_id
        unset_program = session.get(Group, world.group(engine, unset_org)).program_id
    provider = Principal(2, "provider", organization_id=org)
    body = {
        "program_id": program_id, "name": "Группа 2", "teacher": "Петрова", "address": "адрес",
        "lat": 56.0, "lon": 92.8, "schedule": [{"weekday": 2, "start": "16:00", "end": "17:30"}],
        "start_date": "2026-09-01", "end_date": "2027-05-31", "capacity": 10,
        "price_kopecks": 1_800_000, "enrollment_open": True,
    }  # fmt: skip
    with Session(engine, info={"producer": "catalog"}) as session:
        with pytest.raises(Forbidden):  # another municipality's operator
            operations.set_normative(
                session, Principal(4, "municipal_operator", "achinsk"), "krasnoyarsk", 20_000
            )
        with pytest.raises(Forbidden):  # a provider never sets it
            operations.set_normative(session, provider, "krasnoyarsk", 20_000)
        for wrong in (-1, 10**9 + 1, "150.00", True):
            with pytest.raises(InvalidInput):
                operations.set_normative(
                    session, Principal(6, "regional_operator"), "krasnoyarsk", wrong
                )
        setting = operations.set_normative(
            session, Principal(4, "municipal_operator", "krasnoyarsk"), "krasnoyarsk", 20_000
        )
        assert setting == {"municipality_code": "krasnoyarsk", "per_hour_kopecks": 20_000}

        with pytest.raises(InvalidInput) as typed:  # the provider's figure is not an input
            operations.create_group(
                session, provider, {**body, "normative_cost_kopecks": 5_000_000}
            )
        assert typed.value.code == "normative_set_by_operator"
        group = operations.create_group(session, provider, body)
        # Tuesdays 1 Sep 2026 – 31 May 2027: 39 lessons of 1.5 h = 58.5 h × 200.00
        assert group.normative_cost_kopecks == 1_170_000
        with pytest.raises(Conflict) as unset:
            operations.create_group(
                session, Principal(3, "provider", organization_id=unset_org),
                {**body, "program_id": unset_program},
            )  # fmt: skip
        assert unset.value.code == "normative_not_set"

        # nobody holds a seat: the price and the hours may change, the normative follows
        operations.update_group(session, provider, group.id, {"price_kopecks": 1_500_000})
        changed = operations.update_group(
            session, provider, group.id,
            {"schedule": [{"weekday": 2, "start": "16:00", "end": "17:00"}]},
        )  # fmt: skip
        assert (changed.price_kopecks, changed.normative_cost_kopecks) == (1_500_000, 780_000)
        # enrollment holds a seat in it: its `group_seats_changed` tells the catalog
        assert operations.apply_seats(
            session, {"group_id": group.id, "held": 1, "enrolled": 0, "version": 1}
        )
        with pytest.raises(Conflict) as locked:
            operations.update_group(session, provider, group.id, {"price_kopecks": 9_000_000})
        assert locked.value.code == "money_terms_locked"
        # other changes go through; the normative stays the one the held seat was quoted on
        later = operations.update_group(
            session, provider, group.id,
            {"capacity": 12, "schedule": [{"weekday": 3, "start": "10:00", "end": "13:00"}]},
        )  # fmt: skip
        assert (later.capacity, later.price_kopecks, later.normative_cost_kopecks) == (
            12, 1_500_000, 780_000
        )  # fmt: skip
        session.rollback()
