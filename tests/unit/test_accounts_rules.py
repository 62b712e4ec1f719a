"""Accounts rules added with the service: who sees a child and how much, what clears a
verification, a child's whole record, staff attachment, names and phones."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.accounts.domain import (
    FULL,
    MASKED,
    MUNICIPAL_OPERATOR,
    PARENT,
    PROVIDER,
    REGIONAL_OPERATOR,
    InvalidField,
    InvalidFields,
    Viewer,
    change_stamp,
    check_staff_attachment,
    child_access,
    may_change_child,
    may_verify_child,
    normalize_child,
    normalize_full_name,
    normalize_phone,
    present_child,
    verification_survives,
)

TODAY = date(2026, 11, 28)
PARENT_ID = 7
HOME = "krasnoyarsk"
ORG, OTHER_ORG = 11, 12


def record(**overrides) -> dict:
    data = {
        "last_name": "Иванов",
        "first_name": "Пётр",
        "middle_name": "Сергеевич",
        "sex": "male",
        "birth_date": date(2016, 5, 20),
        "snils": "112-233-445 95",
        "birth_certificate_series": "IV-БА",
        "birth_certificate_number": "123456",
        "municipality_code": HOME,
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "viewer, expected",
    [
        (Viewer(PARENT_ID, PARENT), FULL),
        (Viewer(PARENT_ID + 1, PARENT), None),
        (Viewer(1, REGIONAL_OPERATOR), FULL),
        (Viewer(2, MUNICIPAL_OPERATOR, HOME), MASKED),
        (Viewer(2, MUNICIPAL_OPERATOR, "achinsk"), None),
        (Viewer(2, MUNICIPAL_OPERATOR, None), None),
        # the child applied to ORG (and to OTHER_ORG): its staff see it, wherever they are
        (Viewer(3, PROVIDER, HOME, organization_id=ORG), MASKED),
        (Viewer(3, PROVIDER, "achinsk", organization_id=OTHER_ORG), MASKED),
        (Viewer(3, PROVIDER, HOME, organization_id=ORG + 100), None),
        (Viewer(3, PROVIDER, HOME), None),
        (Viewer(4, "stranger", HOME), None),
    ],
)
def test_who_sees_a_child_and_how_much(viewer, expected):
    assert child_access(viewer, PARENT_ID, HOME, applied_to=(ORG, OTHER_ORG)) == expected


def test_a_provider_sees_only_children_who_applied_to_its_organization():
    provider = Viewer(3, PROVIDER, HOME, organization_id=ORG)
    assert child_access(provider, PARENT_ID, HOME, applied_to=[ORG]) == MASKED
    # a child of the same municipality who applied nowhere, or only elsewhere: not there
    assert child_access(provider, PARENT_ID, HOME) is None
    assert child_access(provider, PARENT_ID, HOME, applied_to=[OTHER_ORG]) is None
    # the municipality's operator still sees every child of the municipality
    assert child_access(Viewer(2, MUNICIPAL_OPERATOR, HOME), PARENT_ID, HOME) == MASKED


def test_only_the_own_parent_changes_a_child():
    assert may_change_child(Viewer(PARENT_ID, PARENT), PARENT_ID)
    assert not may_change_child(Viewer(PARENT_ID + 1, PARENT), PARENT_ID)
    assert not may_change_child(Viewer(1, REGIONAL_OPERATOR), PARENT_ID)


def test_only_a_provider_the_child_applied_to_verifies():
    provider = Viewer(3, PROVIDER, HOME, organization_id=ORG)
    assert may_verify_child(provider, PARENT_ID, HOME, [ORG])
    assert not may_verify_child(provider, PARENT_ID, HOME, [OTHER_ORG])
    assert not may_verify_child(provider, PARENT_ID, HOME)
    assert not may_verify_child(Viewer(2, MUNICIPAL_OPERATOR, HOME), PARENT_ID, HOME, [ORG])
    assert not may_verify_child(Viewer(PARENT_ID, PARENT), PARENT_ID, HOME, [ORG])


def test_masked_child_hides_snils_and_certificate_number():
    shown = present_child(normalize_child(record(), TODAY), MASKED)
    assert shown["snils"] == "***-***-445 95"
    assert shown["birth_certificate_number"] == "****56"
    assert shown["masked"] is True
    full = present_child(normalize_child(record(), TODAY), FULL)
    assert full["snils"] == "112-233-445 95" and full["birth_certificate_number"] == "123456"
    assert full["masked"] is False


def test_child_record_is_normalized():
    normalized = normalize_child(
        record(snils="11223344595", birth_certificate_series="iv ба", birth_date="2016-05-20"),
        TODAY,
    )
    assert normalized["snils"] == "11223344595"
    assert normalized["birth_certificate_series"] == "IV-БА"
    assert normalized["birth_date"] == date(2016, 5, 20)


def test_child_record_lists_every_problem_at_once():
    with pytest.raises(InvalidFields) as refused:
        normalize_child(
            record(
                snils="112-233-445 96",
                birth_date=date(2027, 1, 1),
                first_name="Peter",
                municipality_code="",
            ),
            TODAY,
        )
    assert set(refused.value.errors) == {"snils", "birth_date", "first_name", "municipality_code"}


@pytest.mark.parametrize(
    "change",
    [
        {"last_name": "Петров"},
        {"first_name": "Павел"},
        {"middle_name": None},
        {"sex": "female"},
        {"birth_date": date(2016, 5, 21)},
        {"snils": "00000000101"},
        {"birth_certificate_series": "V-БА"},
        {"birth_certificate_number": "123457"},
    ],
)
def test_changing_verified_data_clears_the_mark(change):
    before = normalize_child(record(), TODAY)
    assert not verification_survives(before, {**before, **change})


def test_a_change_is_stamped_after_the_childs_previous_change_whatever_the_clock_says():
    last = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    later = last + timedelta(seconds=5)
    assert change_stamp(later, last) == later
    assert change_stamp(last, None) == last
    # the clock frozen (tests) or behind (another instance, a transaction that began earlier)
    assert change_stamp(last, last) == last + timedelta(microseconds=1)
    assert change_stamp(last - timedelta(hours=1), last) == last + timedelta(microseconds=1)


def test_moving_to_another_municipality_keeps_the_mark():
    before = normalize_child(record(), TODAY)
    assert verification_survives(before, {**before, "municipality_code": "achinsk"})


@pytest.mark.parametrize(
    "role, organization_id, municipality_code, fields",
    [
        (PROVIDER, None, None, {"organization_id"}),
        (PROVIDER, 5, "krasnoyarsk", {"municipality_code"}),
        (MUNICIPAL_OPERATOR, None, None, {"municipality_code"}),
        (MUNICIPAL_OPERATOR, 5, HOME, {"organization_id"}),
        (REGIONAL_OPERATOR, 5, HOME, {"organization_id", "municipality_code"}),
        (PARENT, None, None, {"role"}),
    ],
)
def test_staff_attachment_is_refused_field_by_field(
    role, organization_id, municipality_code, fields
):
    with pytest.raises(InvalidFields) as refused:
        check_staff_attachment(role, organization_id, municipality_code)
    assert set(refused.value.errors) == fields


@pytest.mark.parametrize(
    "role, organization_id, municipality_code",
    [(PROVIDER, 5, None), (MUNICIPAL_OPERATOR, None, HOME), (REGIONAL_OPERATOR, None, None)],
)
def test_staff_attachment_accepted(role, organization_id, municipality_code):
    check_staff_attachment(role, organization_id, municipality_code)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8 (913) 123-45-67", "+79131234567"),
        ("+7 913 123 45 67", "+79131234567"),
        ("9131234567", "+79131234567"),
        ("", None),
        (None, None),
    ],
)
def test_phone_is_normalized(text, expected):
    assert normalize_phone(text) == expected


@pytest.mark.parametrize("text", ["12", "+1 202 555 0100", "телефон", 79131234567])
def test_bad_phone_is_refused(text):
    with pytest.raises(InvalidField):
        normalize_phone(text)


def test_full_name_is_collapsed_and_bounded():
    assert normalize_full_name("  Иванова   Мария ") == "Иванова Мария"
    for bad in ("", "   ", "1234", "Я" * 201, None):
        with pytest.raises(InvalidField):
            normalize_full_name(bad)


# --- the scope of a viewer (one rule for lists and single children) ---------------------

from contracts.scope import EVERYTHING, NOTHING, Scope  # noqa: E402
from services.accounts.domain import access_within_scope, child_scope  # noqa: E402


def test_child_scope_of_each_role():
    assert child_scope(Viewer(PARENT_ID, PARENT)) == Scope.children_of(PARENT_ID)
    assert child_scope(Viewer(1, REGIONAL_OPERATOR)) == EVERYTHING
    assert child_scope(Viewer(2, MUNICIPAL_OPERATOR, HOME)) == Scope.municipality(HOME)
    provider = Viewer(3, PROVIDER, HOME, organization_id=ORG)
    assert child_scope(provider) == Scope.organization(ORG)
    assert child_scope(Viewer(3, PROVIDER, HOME)) == NOTHING  # no organization: nothing
    assert child_scope(Viewer(4, "stranger", HOME)) == NOTHING


def test_staff_see_children_of_their_scope_masked_and_others_in_full():
    assert access_within_scope(Viewer(PARENT_ID, PARENT)) == FULL
    assert access_within_scope(Viewer(1, REGIONAL_OPERATOR)) == FULL
    assert access_within_scope(Viewer(2, MUNICIPAL_OPERATOR, HOME)) == MASKED
    assert access_within_scope(Viewer(3, PROVIDER, HOME)) == MASKED
