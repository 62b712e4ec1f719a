"""The certificate rules in plain Python: numbers, validity, nominals by age band, limits,
freezing, who sees what, and the ledger's arithmetic."""

import random
from datetime import date

import pytest

from contracts.principal import Principal
from services.certificates import domain
from services.certificates.domain import AgeBand, Balance, InvalidField, Refused


def test_certificate_numbers_are_ten_random_digits_with_no_sequence():
    numbers = [domain.new_certificate_number() for _ in range(2000)]
    assert all(len(n) == 10 and n.isdigit() for n in numbers)
    assert len(set(numbers)) == len(numbers)
    ordered = sorted(numbers)
    assert ordered != numbers  # not issued in order
    gaps = {int(b) - int(a) for a, b in zip(numbers, numbers[1:], strict=False)}
    assert len(gaps) > 1900  # no fixed step between neighbours


def test_certificate_is_valid_until_the_eighteenth_birthday():
    assert domain.valid_until(date(2016, 5, 20)) == date(2034, 5, 20)
    assert domain.valid_until(date(2012, 2, 29)) == date(2030, 2, 28)
    assert domain.is_valid_on(date(2034, 5, 20), "active", date(2034, 5, 19))
    assert not domain.is_valid_on(date(2034, 5, 20), "active", date(2034, 5, 20))
    assert not domain.is_valid_on(date(2034, 5, 20), "expired", date(2026, 1, 1))


def test_frozen_or_expired_certificate_cannot_be_used():
    today = date(2026, 11, 29)
    domain.check_can_use("active", date(2030, 1, 1), today)
    with pytest.raises(Refused) as frozen:
        domain.check_can_use("frozen", date(2030, 1, 1), today)
    assert frozen.value.code == "certificate_frozen"
    with pytest.raises(Refused) as aged:
        domain.check_can_use("active", today, today)
    assert aged.value.code == "certificate_expired"


def test_freezing_and_lowering_a_nominal_are_refused_with_active_contracts():
    domain.check_can_freeze("active", 0)
    with pytest.raises(Refused) as refused:
        domain.check_can_freeze("active", 1)
    assert refused.value.code == "active_contracts"
    with pytest.raises(Refused):
        domain.check_can_lower_nominal(100)


@pytest.mark.parametrize("amount", [-1, "abc", 1.5, True, 100_000_01])
def test_a_nominal_below_zero_above_100000_rubles_or_not_kopecks_is_refused(amount):
    with pytest.raises(InvalidField) as invalid:
        domain.check_bands([AgeBand(0, 17, amount)])
    assert invalid.value.field == "bands.0.amount"
    assert invalid.value.fields == {"bands.0.amount": [invalid.value.message]}


def test_nominal_is_chosen_by_age_on_the_first_day_of_the_period():
    bands = domain.check_bands(
        [AgeBand(age_from=14, age_to=17, amount=30_000_00), AgeBand(5, 13, 20_000_00)]
    )
    start = date(2026, 9, 1)
    assert domain.nominal_for(bands, date(2012, 9, 1), start) == 30_000_00  # 14 that day
    assert domain.nominal_for(bands, date(2012, 9, 2), start) == 20_000_00  # still 13
    assert domain.nominal_for(bands, date(2023, 1, 1), start) is None  # 3: no band


def test_overlapping_or_inverted_age_bands_are_refused():
    with pytest.raises(InvalidField, match="пересекаются"):
        domain.check_bands([AgeBand(5, 10, 1), AgeBand(10, 17, 1)])
    with pytest.raises(InvalidField):
        domain.check_bands([AgeBand(12, 5, 1)])
    with pytest.raises(InvalidField):
        domain.check_bands([])


def test_limit_cannot_go_below_what_is_handed_out():
    assert domain.check_limit(500, 400) == 500
    with pytest.raises(Refused) as refused:
        domain.check_limit(300, 400)
    assert refused.value.code == "limit_below_used"
    with pytest.raises(InvalidField):
        domain.check_limit(-5, 0)


def test_period_must_end_after_it_starts_and_last_at_most_a_year():
    domain.check_period("2026/27", date(2026, 9, 1), date(2027, 8, 31))
    with pytest.raises(InvalidField):
        domain.check_period("x", date(2026, 9, 1), date(2026, 9, 1))
    with pytest.raises(InvalidField):
        domain.check_period("x", date(2026, 9, 1), date(2027, 12, 31))
    with pytest.raises(InvalidField):
        domain.check_period(" ", date(2026, 9, 1), date(2027, 8, 31))


def test_reserving_more_than_is_available_is_refused_with_the_amount_available():
    balance = domain.apply(Balance(), domain.CREDIT, 1000)
    with pytest.raises(Refused) as refused:
        domain.apply(balance, domain.RESERVE, 1001)
    assert refused.value.extra == {"available": 1000}


def test_every_sequence_of_entries_keeps_the_balance_whole_and_nonnegative():
    rng = random.Random(8)
    for _ in range(300):
        balance = Balance()
        for _ in range(40):
            kind = rng.choice(domain.KINDS)
            amount = rng.randint(1, 500) * (-1 if kind == domain.ADJUST else 1)
            try:
                balance = domain.apply(balance, kind, amount)
            except Refused:
                continue
            assert balance.is_consistent()


def test_a_month_of_billing_never_takes_more_than_is_reserved():
    assert domain.split_release(1000, 300, 200) == (300, 200)
    assert domain.split_release(400, 300, 200) == (300, 100)
    assert domain.split_release(100, 300, 200) == (100, 0)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-01", None, "abcd-ef"])
def test_a_month_is_yyyy_mm(month):
    with pytest.raises(InvalidField):
        domain.month_key(month)


@pytest.mark.parametrize(
    ("role", "user", "own", "parent", "municipality", "sees", "manages"),
    [
        ("parent", 5, None, 5, "krasnoyarsk", True, False),
        ("parent", 6, None, 5, "krasnoyarsk", False, False),
        ("municipal_operator", 1, "krasnoyarsk", 5, "krasnoyarsk", True, True),
        ("municipal_operator", 1, "achinsk", 5, "krasnoyarsk", False, False),
        ("municipal_operator", 1, None, 5, "krasnoyarsk", False, False),
        ("regional_operator", 1, None, 5, "krasnoyarsk", True, True),
        ("provider", 1, "krasnoyarsk", 5, "krasnoyarsk", False, False),
        (None, None, None, 5, "krasnoyarsk", False, False),
    ],
)
def test_who_sees_and_manages_a_certificate(role, user, own, parent, municipality, sees, manages):
    principal = Principal(user, role, municipality_code=own)
    assert domain.can_see(principal, parent, municipality) is sees
    assert domain.can_manage_municipality(principal, municipality) is manages


def test_a_reports_month_is_its_first_and_last_day_and_a_wrong_one_is_refused():
    assert domain.month_bounds("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert domain.month_bounds("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    for wrong in ("2026-13", "2026-1", "26-10", "2026-10-01", None):
        with pytest.raises(InvalidField):
            domain.month_bounds(wrong)


# --- issue 18: a period closes at its end; nominals within a year; free places ------------


def test_a_period_is_over_only_after_its_last_day():
    with pytest.raises(domain.Refused) as early:
        domain.check_period_over(date(2027, 8, 31), date(2027, 8, 31))
    assert early.value.code == "period_not_over"
    with pytest.raises(domain.Refused):
        domain.check_period_over(date(2027, 8, 31), date(2026, 12, 3))
    domain.check_period_over(date(2027, 8, 31), date(2027, 9, 1))


@pytest.mark.parametrize(
    ("mode", "on", "expected"),
    [
        ("full", date(2027, 3, 10), 24_000_00),
        ("prorated", date(2026, 8, 20), 24_000_00),  # before the period: the whole one
        ("prorated", date(2026, 9, 1), 24_000_00),
        ("prorated", date(2026, 9, 30), 24_000_00),  # September counts
        ("prorated", date(2027, 3, 10), 12_000_00),  # March..August: 6 of 12
        ("prorated", date(2027, 8, 31), 2_000_00),
        ("prorated", date(2027, 9, 1), 0),
    ],
)
def test_a_nominal_financed_mid_period_is_full_or_the_months_left(mode, on, expected):
    start, end = date(2026, 9, 1), date(2027, 8, 31)
    assert domain.nominal_on(24_000_00, mode, start, end, on) == expected


def test_a_prorated_nominal_rounds_down_to_the_kopeck():
    assert domain.nominal_on(10_000_01, "prorated", date(2026, 9, 1), date(2027, 8, 31),
                             date(2026, 12, 1)) == 10_000_01 * 9 // 12  # fmt: skip


def test_an_operators_reason_is_required_and_plain():
    for bad in (None, "", "   ", 5, "x" * 501):
        with pytest.raises(domain.InvalidField):
            domain.check_reason(bad)
    assert domain.check_reason("  Решение комиссии ") == "Решение комиссии"


def test_a_nominal_change_applies_from_today_or_later():
    with pytest.raises(domain.InvalidField):
        domain.check_effective_from(date(2026, 12, 2), date(2026, 12, 3))
    assert domain.check_effective_from(date(2026, 12, 3), date(2026, 12, 3))


def test_the_free_place_allowance_counts_places_held_at_a_time():
    domain.check_free_allowance(1, 2)
    with pytest.raises(domain.Refused) as full:
        domain.check_free_allowance(2, 2)
    assert full.value.code == "free_allowance_exhausted"
    with pytest.raises(domain.Refused):
        domain.check_free_allowance(0, 0)
    for bad in (-1, 21, True, "2"):
        with pytest.raises(domain.InvalidField):
            domain.check_free_allowance_setting(bad)
    with pytest.raises(domain.InvalidField):
        domain.check_nominal_mode("half")


def test_a_certificate_expires_soon_within_thirty_days_of_its_validitys_end():
    until = date(2027, 1, 1)  # the 18th birthday: valid before it
    assert domain.EXPIRY_NOTICE_DAYS == 30
    assert not domain.expires_soon(until, domain.ACTIVE, date(2026, 12, 1))  # 31 days
    assert domain.expires_soon(until, domain.ACTIVE, date(2026, 12, 2))  # 30 days
    assert domain.expires_soon(until, domain.FROZEN, date(2026, 12, 31))  # its last day
    assert not domain.expires_soon(until, domain.ACTIVE, until)  # no longer valid
    assert not domain.expires_soon(until, domain.EXPIRED, date(2026, 12, 20))
    assert domain.expires_soon(until, domain.ACTIVE, date(2026, 11, 1), horizon=61)
