"""Contract cost rules (contracts/cost.py) as worked examples to the kopeck.

Group of the examples: 2026-09-01..2027-05-31 = 273 days (30+31+30+31+31+28+31+30+31),
period 2026-09-01..2027-08-31. Amounts are kopecks: 2_730_000 = 27 300.00 rubles.
"""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.cost import (
    ContractTerms,
    InvalidTerms,
    contract_terms,
    months_between,
    split_by_month,
)

GROUP = dict(
    group_start=date(2026, 9, 1),
    group_end=date(2027, 5, 31),
    period_start=date(2026, 9, 1),
    period_end=date(2027, 8, 31),
)
NINE_MONTHS = ["2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
NINE_MONTHS += ["2027-04", "2027-05"]


def parts(terms: ContractTerms) -> list[tuple[str, int, int]]:
    return [(p.month, p.certificate, p.copay) for p in terms.schedule]


def test_contract_starting_mid_month_pays_for_its_days_and_the_first_month_takes_the_remainder():
    # 2026-09-15..2027-05-31 = 259 days of 273; 27 300.00 is 100.00 a day
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 9, 15),
        group_price=2_730_000,
        group_normative=3_000_000,
        available=5_000_000,
    )
    assert (terms.start_date, terms.end_date, terms.days) == (
        date(2026, 9, 15),
        date(2027, 5, 31),
        259,
    )
    assert terms.total == 2_590_000  # 259 x 100.00
    assert terms.normative_cost == 2_846_154  # ceil(259/273 x 30 000.00) = 28 461.54
    assert terms.certificate_share == 2_590_000
    assert terms.copay == 0
    # 243 days after September: floor(243/259 x 25 900.00 / 8) = 3 037.50 each, September
    # (16 days) takes 25 900.00 - 8 x 3 037.50 = 1 600.00
    assert parts(terms) == [("2026-09", 160_000, 0)] + [(m, 303_750, 0) for m in NINE_MONTHS[1:]]


def test_total_and_normative_are_rounded_up_to_the_kopeck():
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 9, 15),
        group_price=1_000_000,
        group_normative=1_000_001,
        available=0,
    )
    assert terms.total == 948_718  # 259/273 x 10 000.00 = 9 487.179...
    assert terms.normative_cost == 948_719  # 259/273 x 10 000.01 = 9 487.189...
    assert (terms.certificate_share, terms.copay) == (0, 948_718)


def test_contract_ends_early_with_the_period_not_the_group():
    # group runs to 2026-12-31 (122 days, 12 200.00 = 100.00 a day), period ends 2026-10-20
    terms = contract_terms(
        group_start=date(2026, 9, 1),
        group_end=date(2026, 12, 31),
        period_start=date(2026, 1, 1),
        period_end=date(2026, 10, 20),
        start_date=date(2026, 9, 1),
        group_price=1_220_000,
        group_normative=1_220_000,
        available=5_000_000,
    )
    assert (terms.end_date, terms.days) == (date(2026, 10, 20), 50)
    assert (terms.total, terms.normative_cost, terms.certificate_share) == (
        500_000,
        500_000,
        500_000,
    )
    # October's 20 days: floor(20/50 x 5 000.00 / 1) = 2 000.00; September 3 000.00
    assert parts(terms) == [("2026-09", 300_000, 0), ("2026-10", 200_000, 0)]


def test_price_above_normative_leaves_a_copayment():
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 9, 1),
        group_price=3_000_000,
        group_normative=2_400_000,
        available=10_000_000,
    )
    assert (terms.total, terms.normative_cost) == (3_000_000, 2_400_000)
    assert (terms.certificate_share, terms.copay) == (2_400_000, 600_000)
    # certificate: floor(243/273 x 24 000.00 / 8) = 2 670.32; September 24 000.00 - 21 362.56
    # co-payment:  floor(243/273 x  6 000.00 / 8) =   667.58; September  6 000.00 -  5 340.64
    assert parts(terms) == [("2026-09", 263_744, 65_936)] + [
        (m, 267_032, 66_758) for m in NINE_MONTHS[1:]
    ]


def test_balance_short_of_the_cost_leaves_a_copayment():
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 9, 1),
        group_price=2_730_000,
        group_normative=3_000_000,
        available=1_000_000,
    )
    assert (terms.total, terms.normative_cost) == (2_730_000, 3_000_000)
    assert (terms.certificate_share, terms.copay) == (1_000_000, 1_730_000)
    assert parts(terms) == [("2026-09", 109_896, 190_112)] + [
        (m, 111_263, 192_486) for m in NINE_MONTHS[1:]
    ]


def test_paid_registry_is_paid_by_the_parent_alone():
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 10, 1),
        group_price=2_730_000,
        group_normative=3_000_000,
        available=5_000_000,
        paid_registry=True,
    )
    # 2026-10-01..2027-05-31 = 243 days
    assert (terms.total, terms.normative_cost) == (2_430_000, 2_670_330)
    assert (terms.certificate_share, terms.copay) == (0, 2_430_000)
    # 212 days after October: floor(212/243 x 24 300.00 / 7) = 3 028.57; October the rest
    assert parts(terms) == [("2026-10", 0, 310_001)] + [(m, 0, 302_857) for m in NINE_MONTHS[2:]]


def test_contract_within_one_month_is_one_part():
    terms = contract_terms(
        group_start=date(2026, 9, 1),
        group_end=date(2026, 9, 30),
        period_start=date(2026, 9, 1),
        period_end=date(2027, 8, 31),
        start_date=date(2026, 9, 11),
        group_price=300_000,
        group_normative=300_000,
        available=150_000,
    )
    assert (terms.total, terms.certificate_share, terms.copay) == (200_000, 150_000, 50_000)
    assert parts(terms) == [("2026-09", 150_000, 50_000)]


@pytest.mark.parametrize(
    "start, code",
    [
        (date(2026, 8, 31), "outside_group_dates"),
        (date(2027, 6, 1), "outside_group_dates"),
    ],
)
def test_start_date_outside_the_group_is_refused_with_a_field_message(start, code):
    with pytest.raises(InvalidTerms) as refused:
        contract_terms(**GROUP, start_date=start, group_price=1, group_normative=1, available=1)
    assert (refused.value.field, refused.value.code) == ("start_date", code)
    assert "2026-09-01..2027-05-31" in refused.value.message


def test_start_date_outside_the_period_is_refused():
    with pytest.raises(InvalidTerms) as refused:
        contract_terms(
            group_start=date(2026, 8, 1),
            group_end=date(2027, 5, 31),
            period_start=date(2026, 9, 1),
            period_end=date(2027, 8, 31),
            start_date=date(2026, 8, 15),
            group_price=1,
            group_normative=1,
            available=1,
        )
    assert (refused.value.field, refused.value.code) == ("start_date", "outside_period")


@pytest.mark.parametrize("name", ["group_price", "group_normative", "available"])
def test_negative_or_fractional_amounts_are_refused(name):
    amounts = dict(group_price=100, group_normative=100, available=100)
    for wrong in (-1, 1.5, "100"):
        with pytest.raises(InvalidTerms) as refused:
            contract_terms(**GROUP, start_date=date(2026, 9, 1), **{**amounts, name: wrong})
        assert refused.value.field == name


def test_months_between_crosses_the_new_year():
    assert months_between(date(2026, 11, 30), date(2027, 2, 1)) == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]


def test_split_of_zero_is_zero_everywhere():
    assert split_by_month(0, date(2026, 9, 1), date(2026, 11, 30)) == [
        ("2026-09", 0),
        ("2026-10", 0),
        ("2026-11", 0),
    ]


# --- the parts always add up ------------------------------------------------------------


@st.composite
def contracts(draw):
    group_start = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 900)))
    group_end = group_start + timedelta(days=draw(st.integers(0, 500)))
    period_start = group_start - timedelta(days=draw(st.integers(0, 400)))
    period_end = group_start + timedelta(days=draw(st.integers(0, 700)))
    start_date = group_start + timedelta(
        days=draw(st.integers(0, (min(group_end, period_end) - group_start).days))
    )
    return dict(
        group_start=group_start,
        group_end=group_end,
        period_start=period_start,
        period_end=period_end,
        start_date=start_date,
        group_price=draw(st.integers(0, 50_000_000)),
        group_normative=draw(st.integers(0, 50_000_000)),
        available=draw(st.integers(0, 50_000_000)),
        paid_registry=draw(st.booleans()),
    )


@settings(max_examples=500, deadline=None)
@given(contracts())
def test_parts_always_add_up_to_the_totals(kwargs):
    terms = contract_terms(**kwargs)
    assert terms.start_date == kwargs["start_date"]
    assert terms.end_date == min(kwargs["group_end"], kwargs["period_end"])
    assert terms.certificate_share + terms.copay == terms.total
    assert sum(p.certificate for p in terms.schedule) == terms.certificate_share
    assert sum(p.copay for p in terms.schedule) == terms.copay
    assert [p.month for p in terms.schedule] == months_between(terms.start_date, terms.end_date)
    assert all(p.certificate >= 0 and p.copay >= 0 for p in terms.schedule)
    assert (
        0 <= terms.certificate_share <= min(terms.total, terms.normative_cost, kwargs["available"])
    )
    if kwargs["paid_registry"]:
        assert terms.certificate_share == 0
    else:
        assert terms.certificate_share == min(
            terms.total, terms.normative_cost, kwargs["available"]
        )
    # the total never undercharges the exact share of the price, and overcharges < 1 kopeck
    group_days = (kwargs["group_end"] - kwargs["group_start"]).days + 1
    exact = terms.days * kwargs["group_price"]
    assert exact <= terms.total * group_days < exact + group_days
