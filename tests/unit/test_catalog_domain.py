"""Rules of the catalog service (services/catalog/domain.py), without broker or database."""

import random
from datetime import date

import pytest

from services.catalog import domain
from services.catalog.domain import (
    AGE_MAX,
    DIRECTIONS,
    FORMATS,
    LEVELS,
    PAYMENT_TYPES,
    REGISTRIES,
    CapacityBelowOccupied,
    InvalidField,
    TransitionRefused,
    age_on,
    allowed_transitions,
    check_capacity_change,
    check_group_ages,
    check_group_dates,
    check_schedule,
    format_kopecks,
    free_seats,
    haversine_km,
    inn_with_check_digits,
    is_valid_inn,
    monthly_price_kopecks,
    months_touched,
    normalize_search_text,
    parse_money,
    payable_by_certificate,
    payment_type,
    registries_for_payment_type,
    transition,
)

# --- reference lists --------------------------------------------------------------------


def test_directions_are_the_six_of_the_design():
    assert set(DIRECTIONS) == {
        "technical",
        "natural_science",
        "sports",
        "arts",
        "tourism",
        "social_humanitarian",
    }
    assert all(DIRECTIONS.values())


def test_levels_and_formats():
    assert list(LEVELS) == ["intro", "basic", "advanced"]
    assert set(FORMATS) == {"in_person", "distance", "mixed"}


@pytest.mark.parametrize("registry", ["significant", "pre_professional", "general"])
def test_budget_registries_are_free_for_the_parent(registry):
    assert payment_type(registry) == "free"


def test_certified_registry_is_paid_by_certificate():
    assert payment_type("certified") == "certificate"


def test_paid_registry_is_paid_with_own_money():
    assert payment_type("paid") == "own_money"


def test_every_registry_has_a_known_payment_type():
    assert {payment_type(r) for r in REGISTRIES} == set(PAYMENT_TYPES)


def test_unknown_registry_has_no_payment_type():
    with pytest.raises(InvalidField) as refused:
        payment_type("budget")
    assert refused.value.field == "registry"


def test_search_by_payment_type_covers_its_registries():
    assert registries_for_payment_type("free") == ("significant", "pre_professional", "general")
    assert registries_for_payment_type("certificate") == ("certified",)
    assert registries_for_payment_type("own_money") == ("paid",)
    with pytest.raises(InvalidField):
        registries_for_payment_type("cash")


def test_certified_program_is_payable_by_certificate_only_once_certified():
    assert payable_by_certificate("certified", certified=True)
    assert not payable_by_certificate("certified", certified=False)


@pytest.mark.parametrize("registry", ["paid", "general", "significant", "pre_professional"])
def test_programs_outside_the_certified_registry_are_never_payable_by_certificate(registry):
    assert not payable_by_certificate(registry, certified=True)


# --- INN --------------------------------------------------------------------------------


@pytest.mark.parametrize("inn", ["7707083893", "7736207543", "7736050003"])
def test_real_organization_inn_is_valid(inn):
    assert is_valid_inn(inn)


def test_real_entrepreneur_inn_is_valid():
    assert is_valid_inn("500100732259")


@pytest.mark.parametrize("inn", ["7707083894", "7707083890", "500100732250", "500100732269"])
def test_inn_with_wrong_check_digit_is_invalid(inn):
    assert not is_valid_inn(inn)


@pytest.mark.parametrize("inn", ["", "770708389", "77070838931", "50010073225", "5001007322590"])
def test_inn_of_wrong_length_is_invalid(inn):
    assert not is_valid_inn(inn)


@pytest.mark.parametrize(
    "inn",
    [
        " 7707083893",
        "7707083893\n",
        "77070838a3",
        "770-708-3893",
        "７７０７０８３８９３",
        None,
        7707083893,
    ],
)
def test_inn_must_be_a_string_of_ascii_digits(inn):
    assert not is_valid_inn(inn)


def test_check_digits_are_added_as_the_tax_service_computes_them():
    assert inn_with_check_digits("770708389") == "7707083893"
    assert inn_with_check_digits("5001007322") == "500100732259"
    rng = random.Random(1)
    for length in (9, 10) * 200:
        body = "".join(rng.choice("0123456789") for _ in range(length))
        assert is_valid_inn(inn_with_check_digits(body))


def test_changing_any_digit_of_a_valid_inn_makes_it_invalid():
    inn = "500100732259"
    for position in range(len(inn)):
        digit = str((int(inn[position]) + 1) % 10)
        assert not is_valid_inn(inn[:position] + digit + inn[position + 1 :])


# --- status machines --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target"),
    [("pending", "active"), ("active", "suspended"), ("suspended", "active")],
)
def test_organization_moves_along_its_status_machine(current, target):
    assert transition("organization", current, target) == target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("pending", "suspended"),
        ("active", "pending"),
        ("suspended", "pending"),
        ("active", "active"),
        ("unknown", "active"),
    ],
)
def test_organization_transition_out_of_order_is_refused(current, target):
    with pytest.raises(TransitionRefused) as refused:
        transition("organization", current, target)
    assert (refused.value.current, refused.value.target) == (current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "on_review"),
        ("on_review", "published"),
        ("on_review", "draft"),
        ("published", "archived"),
    ],
)
def test_program_moves_along_its_status_machine(current, target):
    assert transition("program", current, target) == target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "published"),
        ("published", "draft"),
        ("published", "on_review"),
        ("archived", "published"),
        ("archived", "draft"),
        ("draft", "archived"),
    ],
)
def test_program_transition_out_of_order_is_refused(current, target):
    with pytest.raises(TransitionRefused):
        transition("program", current, target)


def test_archived_program_is_final():
    assert allowed_transitions("program", "archived") == ()


def test_unknown_status_machine_is_a_programming_error():
    with pytest.raises(ValueError):
        transition("group", "draft", "published")


# --- seats ------------------------------------------------------------------------------


def test_free_seats_are_capacity_minus_held_and_enrolled():
    assert free_seats(capacity=10, held=3, enrolled=5) == 2


def test_free_seats_are_never_negative():
    assert free_seats(capacity=10, held=4, enrolled=8) == 0


def test_capacity_may_be_lowered_down_to_the_occupied_seats():
    check_capacity_change(new_capacity=8, held=3, enrolled=5)


def test_capacity_below_occupied_seats_is_refused():
    with pytest.raises(CapacityBelowOccupied) as refused:
        check_capacity_change(new_capacity=7, held=3, enrolled=5)
    assert (refused.value.new_capacity, refused.value.occupied) == (7, 8)


@pytest.mark.parametrize("capacity", [0, -1, True, 2.5])
def test_group_needs_a_whole_positive_capacity(capacity):
    with pytest.raises(InvalidField):
        check_capacity_change(new_capacity=capacity, held=0, enrolled=0)


# --- ages -------------------------------------------------------------------------------


def test_group_ages_inside_program_ages_are_accepted():
    check_group_ages(program_min=7, program_max=14, group_min=7, group_max=10)
    check_group_ages(program_min=7, program_max=14, group_min=7, group_max=14)


def test_group_younger_than_program_is_refused():
    with pytest.raises(InvalidField) as refused:
        check_group_ages(program_min=7, program_max=14, group_min=6, group_max=10)
    assert refused.value.field == "min_age"


def test_group_older_than_program_is_refused():
    with pytest.raises(InvalidField) as refused:
        check_group_ages(program_min=7, program_max=14, group_min=10, group_max=15)
    assert refused.value.field == "max_age"


def test_group_with_inverted_ages_is_refused():
    with pytest.raises(InvalidField) as refused:
        check_group_ages(program_min=7, program_max=14, group_min=12, group_max=9)
    assert refused.value.code == "order"


@pytest.mark.parametrize(("low", "high"), [(2, 10), (10, AGE_MAX + 1), (7.5, 10), (True, 10)])
def test_ages_outside_childhood_or_not_whole_years_are_refused(low, high):
    with pytest.raises(InvalidField):
        check_group_ages(program_min=0, program_max=99, group_min=low, group_max=high)


def test_age_is_counted_in_completed_years():
    born = date(2015, 9, 10)
    assert age_on(born, date(2026, 9, 9)) == 10
    assert age_on(born, date(2026, 9, 10)) == 11


def test_child_born_on_29_february_turns_a_year_older_on_28_february_of_a_common_year():
    born = date(2016, 2, 29)
    assert age_on(born, date(2027, 2, 27)) == 10
    assert age_on(born, date(2027, 2, 28)) == 11
    assert age_on(born, date(2028, 2, 29)) == 12


def test_age_before_birth_is_refused():
    with pytest.raises(ValueError):
        age_on(date(2020, 1, 1), date(2019, 12, 31))


# --- dates and schedule -----------------------------------------------------------------


def test_group_ending_before_it_starts_is_refused():
    with pytest.raises(InvalidField) as refused:
        check_group_dates(date(2026, 9, 1), date(2026, 8, 31))
    assert refused.value.field == "end_date"


def test_one_day_group_is_allowed():
    check_group_dates(date(2026, 9, 1), date(2026, 9, 1))


def test_group_outside_the_period_is_refused():
    period = {"period_start": date(2026, 9, 1), "period_end": date(2027, 8, 31)}
    check_group_dates(date(2026, 9, 1), date(2027, 8, 31), **period)
    with pytest.raises(InvalidField):
        check_group_dates(date(2026, 8, 31), date(2027, 5, 31), **period)
    with pytest.raises(InvalidField):
        check_group_dates(date(2026, 9, 1), date(2027, 9, 1), **period)


def test_valid_schedule_comes_back_sorted():
    lessons = [
        {"weekday": 4, "start": "16:00", "end": "17:30"},
        {"weekday": 1, "start": "15:00", "end": "15:45"},
        {"weekday": 1, "start": "15:45", "end": "16:30"},
    ]
    assert check_schedule(lessons) == [lessons[1], lessons[2], lessons[0]]


@pytest.mark.parametrize(
    "lesson",
    [
        {"weekday": 0, "start": "15:00", "end": "16:00"},
        {"weekday": 8, "start": "15:00", "end": "16:00"},
        {"weekday": True, "start": "15:00", "end": "16:00"},
        {"weekday": "1", "start": "15:00", "end": "16:00"},
        {"weekday": 1, "start": "9:00", "end": "10:00"},
        {"weekday": 1, "start": "23:00", "end": "24:00"},
        {"weekday": 1, "start": "15:60", "end": "16:00"},
        {"weekday": 1, "start": "16:00", "end": "16:00"},
        {"weekday": 1, "start": "17:00", "end": "16:00"},
        {"weekday": 1, "start": "15:00"},
    ],
)
def test_malformed_lesson_is_refused(lesson):
    with pytest.raises(InvalidField) as refused:
        check_schedule([lesson])
    assert refused.value.field == "schedule"


def test_overlapping_lessons_on_the_same_day_are_refused():
    with pytest.raises(InvalidField) as refused:
        check_schedule(
            [
                {"weekday": 2, "start": "15:00", "end": "16:00"},
                {"weekday": 2, "start": "15:30", "end": "16:30"},
            ]
        )
    assert refused.value.code == "overlap"


def test_group_without_lessons_is_refused():
    with pytest.raises(InvalidField):
        check_schedule([])


# --- price per month --------------------------------------------------------------------


def test_school_year_group_price_is_spread_over_nine_months():
    assert monthly_price_kopecks(2_700_000, date(2026, 9, 1), date(2027, 5, 31)) == 300_000


def test_partly_covered_months_count_as_whole_months():
    assert months_touched(date(2026, 9, 15), date(2026, 12, 27)) == 4
    assert months_touched(date(2026, 12, 31), date(2027, 1, 1)) == 2
    assert months_touched(date(2026, 9, 1), date(2026, 9, 30)) == 1


def test_monthly_price_is_rounded_up_to_the_kopeck():
    assert monthly_price_kopecks(100, date(2026, 9, 1), date(2026, 11, 30)) == 34


def test_free_group_costs_nothing_per_month():
    assert monthly_price_kopecks(0, date(2026, 9, 1), date(2027, 5, 31)) == 0


def test_monthly_price_refuses_nonsense():
    with pytest.raises(ValueError):
        monthly_price_kopecks(-1, date(2026, 9, 1), date(2027, 5, 31))
    with pytest.raises(ValueError):
        monthly_price_kopecks(100, date(2027, 5, 31), date(2026, 9, 1))
    with pytest.raises(TypeError):
        monthly_price_kopecks(100.0, date(2026, 9, 1), date(2027, 5, 31))


# --- search text ------------------------------------------------------------------------


def test_search_text_is_lower_case_with_e_for_yo():
    assert normalize_search_text("Ёлочка ЁЖИК") == "елочка ежик"


def test_search_text_drops_punctuation_and_collapses_spaces():
    assert normalize_search_text("  Робототехника,  для   детей!!! (Ачинск)\t") == (
        "робототехника для детей ачинск"
    )


def test_search_text_keeps_hyphens_only_inside_words():
    assert normalize_search_text("3D‑моделирование -футбол — шахматы --") == (
        "3d-моделирование футбол шахматы"
    )


def test_search_text_composes_letters_typed_with_combining_marks():
    assert normalize_search_text("Е\u0308лка и\u0306") == "елка й"


def test_search_text_is_cut_to_max_len():
    assert len(normalize_search_text("а" * 500)) == 200
    assert normalize_search_text("хор танцы", max_len=5) == "хор т"


def test_cut_search_text_does_not_end_in_a_space():
    assert normalize_search_text("а" * 199 + " бокс") == "а" * 199
    assert normalize_search_text("хор танцы", max_len=4) == "хор"


def test_search_text_of_only_symbols_is_empty():
    assert normalize_search_text("  %%% !!! ") == ""


def test_search_text_keeps_words_out_of_markup():
    assert normalize_search_text("<script>alert(1)</script>") == "script alert 1 script"


# --- distance ---------------------------------------------------------------------------


def test_distance_to_the_same_point_is_zero():
    assert haversine_km(56.0106, 92.8526, 56.0106, 92.8526) == 0


def test_one_degree_along_a_meridian_is_about_111_km():
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.19, abs=0.01)


def test_krasnoyarsk_to_achinsk_is_about_149_km_as_the_crow_flies():
    distance = haversine_km(56.0106, 92.8526, 56.2694, 90.4993)
    assert distance == pytest.approx(148.6, abs=0.5)
    assert haversine_km(56.2694, 90.4993, 56.0106, 92.8526) == pytest.approx(distance)


# --- money ------------------------------------------------------------------------------


def test_kopecks_are_shown_as_a_decimal_string_with_two_places():
    assert format_kopecks(12345) == "123.45"
    assert format_kopecks(5) == "0.05"
    assert format_kopecks(190000) == "1900.00"


def test_money_string_is_read_as_kopecks():
    assert parse_money("123.45") == 12345
    assert parse_money("123.4") == 12340
    assert parse_money("1900") == 190000


@pytest.mark.parametrize(
    "text", ["-1.00", "1.234", "1e3", "nan", "1,50", "", " 1.00", ".5", "5.", "+1", 1.5]
)
def test_money_that_is_not_a_plain_decimal_string_is_refused(text):
    with pytest.raises(ValueError):
        parse_money(text)


# --- search input, permissions, result summary -------------------------------------------

from services.catalog.domain import (  # noqa: E402
    bounding_box,
    edits_organization,
    manages_organization,
    program_payment_type,
    search_words,
    summarize_groups,
    tsquery_text,
)


def test_program_of_certified_registry_is_paid_by_parent_until_certified():
    assert program_payment_type("certified", False) == "own_money"
    assert program_payment_type("certified", True) == "certificate"
    assert program_payment_type("general", False) == "free"
    assert program_payment_type("paid", True) == "own_money"


def test_search_words_normalize_case_yo_punctuation_and_hyphens():
    assert search_words("  Ёлочка, ФУТБОЛ! 3D-моделирование ") == [
        "елочка",
        "футбол",
        "3d",
        "моделирование",
    ]
    assert search_words("'; DROP TABLE programs; -- %_") == ["drop", "table", "programs"]
    assert search_words("%%% ''' ___") == []
    assert len(search_words("слово " * 5000)) == 8


def test_tsquery_matches_every_word_and_prefixes_of_longer_ones():
    assert tsquery_text(["футбол", "3d", "для"]) == "футбол:* & 3d & для:*"
    with pytest.raises(ValueError):
        tsquery_text(["a|b"])


def test_staff_regional_and_own_municipal_operator_manage_an_organization():
    org = (12, "krasnoyarsk")
    assert manages_organization({"role": "provider", "organization_id": 12}, *org)
    assert not manages_organization({"role": "provider", "organization_id": 13}, *org)
    assert manages_organization({"role": "regional_operator"}, *org)
    assert manages_organization(
        {"role": "municipal_operator", "municipality_code": "krasnoyarsk"}, *org
    )
    assert not manages_organization(
        {"role": "municipal_operator", "municipality_code": "achinsk"}, *org
    )
    assert not manages_organization({"role": "parent"}, *org)
    assert not manages_organization(None, *org)


def test_only_own_staff_edit_an_organizations_programs():
    assert edits_organization({"role": "provider", "organization_id": 12}, 12)
    assert not edits_organization({"role": "provider", "organization_id": 13}, 12)
    assert not edits_organization({"role": "regional_operator"}, 12)


def test_summary_of_matching_groups_picks_cheapest_nearest_and_earliest():
    groups = [
        {"group_id": 3, "monthly_price_kopecks": 100, "free_seats": 2, "start_date": "2026-09-15",
         "distance_km": 1.234, "address": "A"},
        {"group_id": 1, "monthly_price_kopecks": 100, "free_seats": 0, "start_date": "2026-09-01",
         "distance_km": 5.0, "address": "B"},
        {"group_id": 2, "monthly_price_kopecks": 300, "free_seats": 5, "start_date": "2026-10-01",
         "distance_km": 0.5, "address": "C"},
    ]  # fmt: skip
    assert summarize_groups(groups) == {
        "found": 3,
        "free_seats": 7,
        "cheapest": {"group_id": 1, "monthly_price_kopecks": 100},
        "nearest": {"group_id": 2, "distance_km": 0.5, "address": "C"},
        "earliest_start": "2026-09-01",
    }
    without_point = [{**g, "distance_km": None} for g in groups]
    assert summarize_groups(without_point)["nearest"] is None


def test_bounding_box_contains_every_point_within_the_radius():
    rng = random.Random(5)
    for _ in range(300):
        lat, lon = rng.uniform(50, 75), rng.uniform(80, 110)
        radius = rng.uniform(0.5, 200)
        min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
        for _ in range(50):  # random points around the box, twice its size
            p_lat = lat + (max_lat - lat) * rng.uniform(-2, 2)
            p_lon = lon + (max_lon - lon) * rng.uniform(-2, 2)
            if haversine_km(lat, lon, p_lat, p_lon) <= radius:
                assert min_lat <= p_lat <= max_lat and min_lon <= p_lon <= max_lon
        # the box is tight in latitude: its northern edge is at the radius
        assert haversine_km(lat, lon, max_lat, lon) == pytest.approx(radius, rel=1e-3)


def test_a_groups_hours_are_its_weekly_lessons_over_its_dates():
    tuesday_and_friday = [
        {"weekday": 2, "start": "16:00", "end": "17:30"},
        {"weekday": 5, "start": "10:00", "end": "11:00"},
    ]
    # 1 Sep 2026 is a Tuesday: 1 Sep (90 min) and 4 Sep (60 min) fall in the first week
    assert domain.group_minutes(tuesday_and_friday, date(2026, 9, 1), date(2026, 9, 7)) == 150
    assert domain.group_minutes(tuesday_and_friday, date(2026, 9, 2), date(2026, 9, 3)) == 0
    tuesdays = tuesday_and_friday[:1]
    assert domain.group_minutes(tuesdays, date(2026, 9, 1), date(2027, 5, 31)) == 39 * 90


def test_the_normative_is_the_hour_figure_times_the_hours_rounded_up():
    assert domain.normative_cost_kopecks(20_000, 39 * 90) == 1_170_000
    assert domain.normative_cost_kopecks(10_001, 30) == 5_001  # 5000.5 kopecks, up
    assert domain.needs_normative("certified", True)
    assert not domain.needs_normative("paid", False)
    assert not domain.needs_normative("significant", False)


def test_a_groups_money_terms_are_fixed_while_a_seat_is_held():
    domain.check_money_terms_change(True, 0, 0)
    domain.check_money_terms_change(False, 3, 2)
    with pytest.raises(domain.MoneyTermsLocked):
        domain.check_money_terms_change(True, 1, 0)
    with pytest.raises(domain.MoneyTermsLocked):
        domain.check_money_terms_change(True, 0, 5)
