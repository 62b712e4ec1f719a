"""Rules of monthly billing (services/payments/domain.py) as worked examples to the kopeck.

The group meets on Tuesdays and Thursdays at 16:00. October 2026 starts on a Thursday:
Tuesdays 6, 13, 20, 27 and Thursdays 1, 8, 15, 22, 29 are its 9 scheduled lessons.
"""

from datetime import date
from fractions import Fraction

import pytest

from contracts.cost import InvalidTerms, contract_terms
from services.payments import domain
from services.payments.domain import MonthAttendance
from tests.unit.test_payments_cost import GROUP

TUE_THU = [
    {"weekday": 2, "start": "16:00", "end": "17:30"},
    {"weekday": 4, "start": "16:00", "end": "17:30"},
]
# the "balance short" contract of test_payments_cost: October is 1 112.63 + 1 924.86
SHORT = contract_terms(
    **GROUP,
    start_date=date(2026, 9, 1),
    group_price=2_730_000,
    group_normative=3_000_000,
    available=1_000_000,
)
OCTOBER = SHORT.month("2026-10")


def test_lessons_scheduled_in_a_month_follow_the_weekly_schedule():
    lessons = domain.scheduled_lessons(TUE_THU, date(2026, 10, 1), date(2026, 10, 31))
    assert [day.day for day, _ in lessons] == [1, 6, 8, 13, 15, 20, 22, 27, 29]
    assert {start for _, start in lessons} == {"16:00"}


def test_a_child_starting_mid_month_is_due_only_the_lessons_of_its_days():
    days = domain.contract_days_in_month(date(2026, 10, 15), date(2027, 5, 31), "2026-10")
    assert days == (date(2026, 10, 15), date(2026, 10, 31))
    assert len(domain.scheduled_lessons(TUE_THU, *days)) == 5  # 15, 20, 22, 27, 29
    assert domain.contract_days_in_month(date(2026, 10, 15), date(2027, 5, 31), "2026-09") is None


def test_two_lessons_on_one_day_count_twice():
    schedule = [*TUE_THU, {"weekday": 2, "start": "18:00", "end": "19:00"}]
    assert len(domain.scheduled_lessons(schedule, date(2026, 10, 1), date(2026, 10, 31))) == 13


def test_full_month_charges_the_month_part_and_releases_nothing():
    share = domain.completeness(MonthAttendance(scheduled=9, held=9, attended=4))
    assert share == 1
    charge = domain.month_charge(OCTOBER.certificate, OCTOBER.copay, share)
    assert (OCTOBER.certificate, OCTOBER.copay) == (111_263, 192_486)
    assert charge == domain.MonthCharge(111_263, 111_263, 0, 192_486, 192_486)


def test_month_with_cancelled_lessons_is_charged_for_the_lessons_held():
    # 3 of the 9 lessons cancelled: completeness 6/9
    share = domain.completeness(MonthAttendance(scheduled=9, held=6, attended=6))
    assert share == Fraction(2, 3)
    charge = domain.month_charge(OCTOBER.certificate, OCTOBER.copay, share)
    # 1 112.63 x 2/3 = 741.7533 -> 741.75 debited, 370.88 back to the balance;
    # co-payment 1 924.86 x 2/3 = 1 283.24
    assert charge == domain.MonthCharge(111_263, 74_175, 37_088, 192_486, 128_324)


def test_attendance_mode_charges_the_lessons_the_child_attended_of_those_held():
    figures = MonthAttendance(scheduled=9, held=6, attended=5)
    assert domain.completeness(figures, domain.DELIVERED) == Fraction(2, 3)
    share = domain.completeness(figures, domain.ATTENDED)
    assert share == Fraction(5, 6)
    charge = domain.month_charge(OCTOBER.certificate, OCTOBER.copay, share)
    # 1 112.63 x 5/6 = 927.1917 -> 927.19; 1 924.86 x 5/6 = 1 604.05
    assert charge == domain.MonthCharge(111_263, 92_719, 18_544, 192_486, 160_405)


def test_month_with_no_lesson_held_charges_nothing_and_releases_the_month():
    share = domain.completeness(MonthAttendance(scheduled=9, held=0, attended=0))
    assert share == 0
    assert domain.completeness(MonthAttendance(9, 0, 0), domain.ATTENDED) == 0
    charge = domain.month_charge(111_263, 192_486, share)
    assert (charge.certificate_charged, charge.certificate_released, charge.copay_charged) == (
        0,
        111_263,
        0,
    )


def test_extra_lessons_never_charge_more_than_the_month_part():
    share = domain.completeness(MonthAttendance(scheduled=9, held=11, attended=11))
    assert share == 1


def test_days_without_scheduled_lessons_owe_nothing_and_miss_nothing():
    assert domain.completeness(MonthAttendance(scheduled=0, held=0, attended=0)) == 1


def test_rounding_is_half_up_to_the_kopeck():
    assert domain.round_half_up(Fraction(5, 2)) == 3
    assert domain.round_half_up(Fraction(7, 2)) == 4
    assert domain.round_half_up(Fraction(249, 100)) == 2
    charge = domain.month_charge(3, 1, Fraction(1, 2))  # 1.5 -> 2 kopecks, 0.5 -> 1
    assert (charge.certificate_charged, charge.certificate_released, charge.copay_charged) == (
        2,
        1,
        1,
    )


def test_early_termination_ends_at_the_months_end_and_releases_the_later_months():
    terms = contract_terms(
        **GROUP,
        start_date=date(2026, 9, 15),
        group_price=2_730_000,
        group_normative=3_000_000,
        available=5_000_000,
    )
    end = domain.termination_end(date(2026, 11, 10), terms.start_date, terms.end_date)
    assert end == date(2026, 11, 30)
    schedule = {p.month: p.certificate for p in terms.schedule}
    released = domain.months_released_on_termination(schedule, end, billed=["2026-09"])
    assert sorted(released) == ["2026-12", "2027-01", "2027-02", "2027-03", "2027-04", "2027-05"]
    assert sum(released.values()) == 6 * 303_750 == 1_822_500
    # a month already billed (a late event) is not released again
    late = domain.months_released_on_termination(schedule, end, billed=["2026-12"])
    assert "2026-12" not in late and sum(late.values()) == 5 * 303_750


def test_termination_never_moves_the_end_past_the_contract_or_before_its_start():
    assert domain.termination_end(date(2027, 5, 20), date(2026, 9, 1), date(2027, 5, 15)) == date(
        2027, 5, 15
    )
    assert domain.termination_end(date(2026, 8, 1), date(2026, 9, 15), date(2027, 5, 31)) == date(
        2026, 9, 15
    )


def test_invoice_advance_is_80_percent_and_final_is_actual_minus_advance():
    assert domain.advance_amount(1_000_001) == 800_001  # 8 000.008 -> 8 000.01
    assert domain.final_amount(950_000, 800_001) == 149_999
    assert domain.final_amount(700_000, 800_000) == -100_000  # completeness below 80 %


def test_month_parsing():
    assert domain.parse_month("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert domain.next_month("2026-12") == "2027-01"
    for wrong in ("2026-13", "2026-1", "26-10", "", "2026-10-01", "0000-01"):
        with pytest.raises(InvalidTerms):
            domain.parse_month(wrong)


def test_csv_opens_in_a_russian_spreadsheet():
    data = domain.csv_for_spreadsheet(["раздел", "сумма"], [["спорт", "1900,00"]])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == "раздел;сумма\r\nспорт;1900,00\r\n"


def test_share_percent():
    assert domain.share_percent(1, 3) == "33.33"
    assert domain.share_percent(2, 3) == "66.67"
    assert domain.share_percent(5, 0) == "0.00"


def test_the_submission_deadline_is_the_third_working_day_of_the_next_month():
    # November 2026 starts on a Sunday: Mon 2, Tue 3, Wed 4
    assert domain.submission_deadline("2026-10") == date(2026, 11, 4)
    # December 2026 starts on a Tuesday: Tue 1, Wed 2, Thu 3
    assert domain.submission_deadline("2026-11") == date(2026, 12, 3)
    # January 2027 starts on a Friday: Fri 1, Mon 4, Tue 5 (holidays are not modelled)
    assert domain.submission_deadline("2026-12") == date(2027, 1, 5)
    assert domain.submission_deadline("2026-12", workday=1) == date(2027, 1, 1)
    assert domain.submission_deadline("2026-10", workday=10) == date(2026, 11, 13)
    with pytest.raises(ValueError):
        domain.submission_deadline("2026-10", workday=0)


def test_a_month_is_final_only_after_it_ended_and_its_deadline_passed():
    assert not domain.month_is_final("2026-12", date(2026, 12, 3))  # the month is running
    assert not domain.month_is_final("2026-11", date(2026, 12, 3))  # the deadline is today
    assert domain.month_is_final("2026-11", date(2026, 12, 4))
    assert domain.month_is_final("2026-10", date(2026, 12, 3))


def test_a_month_with_no_lesson_recorded_is_billed_as_the_municipality_says():
    nothing = MonthAttendance(scheduled=9, held=0, attended=0, recorded=0)
    # default: as delivered by schedule, which the provider lowers by recording lessons
    assert domain.completeness(nothing) == 1
    assert domain.completeness(nothing, domain.ATTENDED) == 1
    assert domain.completeness(nothing, unrecorded=Fraction(0)) == 0
    assert domain.completeness(nothing, unrecorded=Fraction(1, 2)) == Fraction(1, 2)
    # one cancelled lesson recorded: the month is recorded, nothing held, nothing owed
    cancelled = MonthAttendance(scheduled=9, held=0, attended=0, recorded=1)
    assert domain.completeness(cancelled) == 0
    with pytest.raises(ValueError):
        domain.completeness(nothing, unrecorded=Fraction(3, 2))
