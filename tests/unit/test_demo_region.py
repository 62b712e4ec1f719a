"""The demo region generator (deploy/demo_region.py): plain dicts, no database."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from deploy import demo_region
from services.catalog.domain import (
    DIRECTIONS,
    FORMATS,
    LEVELS,
    ORGANIZATION_STATUSES,
    PROGRAM_STATUSES,
    REGISTRIES,
    check_age_range,
    check_group_ages,
    check_group_dates,
    check_schedule,
    haversine_km,
    is_valid_inn,
    monthly_price_kopecks,
    payment_type,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PERIOD = (date(2026, 9, 1), date(2027, 8, 31))
SMALL = {"seed": 7, "organizations": 90, "programs": 400, "groups": 1200}

ORGANIZATION_FIELDS = [
    "id", "name", "inn", "municipality_code", "address", "phone", "email", "website",
    "status", "lat", "lon",
]  # fmt: skip
PROGRAM_FIELDS = [
    "id", "organization_id", "title", "description", "direction", "level", "min_age",
    "max_age", "format", "adapted", "registry", "certified", "status",
]  # fmt: skip
GROUP_FIELDS = [
    "id", "program_id", "name", "teacher", "address", "lat", "lon", "schedule",
    "start_date", "end_date", "min_age", "max_age", "capacity", "price_kopecks",
    "normative_cost_kopecks", "enrollment_open",
]  # fmt: skip


def dump(region: demo_region.DemoRegion) -> bytes:
    rows = [region.municipalities, region.organizations, region.programs, region.groups]
    return json.dumps(rows, ensure_ascii=False, default=str).encode()


@pytest.fixture(scope="module")
def timed_region():
    started = time.perf_counter()
    region = demo_region.generate()
    return region, time.perf_counter() - started


@pytest.fixture(scope="module")
def region(timed_region):
    return timed_region[0]


@pytest.fixture(scope="module")
def programs_by_id(region):
    return {p["id"]: p for p in region.programs}


@pytest.fixture(scope="module")
def organizations_by_id(region):
    return {o["id"]: o for o in region.organizations}


def share(items, predicate) -> float:
    items = list(items)
    return sum(1 for item in items if predicate(item)) / len(items)


# --- municipalities ---------------------------------------------------------------------


def test_municipalities_come_from_the_shipped_list():
    municipalities = demo_region.municipalities()
    assert len(municipalities) == 60
    assert municipalities[0] == {
        "code": "krasnoyarsk",
        "name": "Красноярск",
        "kind": "city_okrug",
        "centre": "Красноярск",
        "lat": 56.0106,
        "lon": 92.8526,
    }
    assert len({m["code"] for m in municipalities}) == 60
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m["code"]) for m in municipalities)
    assert {m["kind"] for m in municipalities} == {"city_okrug", "district"}


def test_municipalities_lie_in_krasnoyarsk_krai():
    for m in demo_region.municipalities():
        assert 51 < m["lat"] < 78 and 84 < m["lon"] < 114, m["name"]


def test_municipalities_are_fresh_copies():
    demo_region.municipalities()[0]["name"] = "changed"
    assert demo_region.municipalities()[0]["name"] == "Красноярск"


# --- shape of the region ----------------------------------------------------------------


def test_full_region_has_the_requested_counts(region):
    assert len(region.organizations) == 1500
    assert len(region.programs) == 8000
    assert len(region.groups) == 25000


def test_full_region_generates_well_under_ten_seconds(timed_region):
    assert timed_region[1] < 10


def test_rows_have_exactly_the_documented_fields(region):
    assert all(list(o) == ORGANIZATION_FIELDS for o in region.organizations)
    assert all(list(p) == PROGRAM_FIELDS for p in region.programs)
    assert all(list(g) == GROUP_FIELDS for g in region.groups)


def test_ids_are_one_to_n_in_list_order(region):
    for rows in (region.organizations, region.programs, region.groups):
        assert [row["id"] for row in rows] == list(range(1, len(rows) + 1))


def test_foreign_keys_point_to_existing_rows(region, organizations_by_id, programs_by_id):
    codes = {m["code"] for m in region.municipalities}
    assert {o["municipality_code"] for o in region.organizations} <= codes
    assert {p["organization_id"] for p in region.programs} == set(organizations_by_id)
    assert {g["program_id"] for g in region.groups} == set(programs_by_id)


def test_every_municipality_has_organizations_and_krasnoyarsk_the_most(region):
    per_municipality = Counter(o["municipality_code"] for o in region.organizations)
    assert set(per_municipality) == {m["code"] for m in region.municipalities}
    (most, count), (_, runner_up) = per_municipality.most_common(2)
    assert most == "krasnoyarsk"
    assert count > 3 * runner_up


def test_too_small_numbers_are_refused():
    with pytest.raises(ValueError):
        demo_region.generate(organizations=59, programs=100, groups=100)
    with pytest.raises(ValueError):
        demo_region.generate(organizations=100, programs=99, groups=1000)
    with pytest.raises(ValueError):
        demo_region.generate(organizations=100, programs=200, groups=199)
    with pytest.raises(ValueError):
        demo_region.generate(period_start=date(2027, 9, 1), period_end=date(2027, 8, 31))


# --- determinism ------------------------------------------------------------------------


def test_full_region_is_deterministic(region):
    assert dump(demo_region.generate()) == dump(region)


def test_different_seeds_give_different_regions():
    other = dict(SMALL, seed=SMALL["seed"] + 1)
    assert dump(demo_region.generate(**SMALL)) != dump(demo_region.generate(**other))


def test_region_does_not_depend_on_the_hash_seed_of_the_process():
    code = (
        "import hashlib, json, sys\n"
        "from deploy import demo_region\n"
        f"r = demo_region.generate(**{SMALL!r})\n"
        "rows = [r.municipalities, r.organizations, r.programs, r.groups]\n"
        "blob = json.dumps(rows, ensure_ascii=False, default=str).encode()\n"
        "print(hashlib.sha256(blob).hexdigest())\n"
    )
    expected = hashlib.sha256(dump(demo_region.generate(**SMALL))).hexdigest()
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO_ROOT))
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == expected


# --- organizations ----------------------------------------------------------------------


def test_every_inn_is_valid_and_unique(region):
    inns = [o["inn"] for o in region.organizations]
    assert all(is_valid_inn(inn) for inn in inns)
    assert len(set(inns)) == len(inns)


def test_entrepreneurs_have_twelve_digit_inns(region):
    for o in region.organizations:
        assert len(o["inn"]) == (12 if o["name"].startswith("ИП ") else 10), o["name"]
    assert any(len(o["inn"]) == 12 for o in region.organizations)


def test_organization_names_are_unique_within_a_municipality(region):
    names = [(o["municipality_code"], o["name"]) for o in region.organizations]
    assert len(set(names)) == len(names)


def test_organizations_lie_near_their_municipality_centre(region):
    centres = {m["code"]: m for m in region.municipalities}
    for o in region.organizations:
        centre = centres[o["municipality_code"]]
        assert abs(o["lat"] - centre["lat"]) <= 0.1
        assert abs(o["lon"] - centre["lon"]) <= 0.1


def test_organization_address_names_its_settlement(region):
    centres = {m["code"]: m["centre"] for m in region.municipalities}
    for o in region.organizations:
        assert o["address"].startswith("Красноярский край, ")
        assert f" {centres[o['municipality_code']]}, " in o["address"]


def test_contacts_are_ascii_unique_and_safe(region):
    emails = [o["email"] for o in region.organizations]
    assert len(set(emails)) == len(emails)
    for o in region.organizations:
        assert re.fullmatch(r"[a-z0-9.-]+@[a-z0-9.-]+\.example", o["email"]), o["email"]
        assert o["website"] is None or re.fullmatch(r"https://[a-z0-9.-]+\.example", o["website"])
        assert re.fullmatch(r"\+7 \(\d{3}\) \d{3}-\d{2}-\d{2}", o["phone"]), o["phone"]


def test_most_organizations_are_active(region):
    assert {o["status"] for o in region.organizations} <= set(ORGANIZATION_STATUSES)
    assert share(region.organizations, lambda o: o["status"] == "active") > 0.9


# --- programs ---------------------------------------------------------------------------


def test_program_fields_use_the_domain_vocabulary(region):
    for p in region.programs:
        assert p["direction"] in DIRECTIONS
        assert p["level"] in LEVELS
        assert p["format"] in FORMATS
        assert p["registry"] in REGISTRIES
        assert p["status"] in PROGRAM_STATUSES
        assert type(p["adapted"]) is bool and type(p["certified"]) is bool


def test_every_direction_has_programs(region):
    assert set(Counter(p["direction"] for p in region.programs)) == set(DIRECTIONS)


def test_program_ages_are_plausible(region):
    for p in region.programs:
        check_age_range(p["min_age"], p["max_age"])
        assert p["min_age"] >= 5


def test_titles_vary_within_every_direction(region):
    for direction in DIRECTIONS:
        titles = [p["title"] for p in region.programs if p["direction"] == direction]
        assert len(set(titles)) >= 40, direction
    most_common_count = Counter(p["title"] for p in region.programs).most_common(1)[0][1]
    assert most_common_count < 0.01 * len(region.programs)


def test_descriptions_have_two_to_four_sentences(region):
    for p in region.programs:
        sentences = re.findall(r"[.!?](?:\s|$)", p["description"])
        assert 2 <= len(sentences) <= 4, p["description"]


def test_registry_mix_is_half_certified_and_a_quarter_each_budget_and_paid(region):
    programs = region.programs
    assert 0.4 < share(programs, lambda p: p["registry"] == "certified") < 0.6
    assert 0.15 < share(programs, lambda p: payment_type(p["registry"]) == "free") < 0.35
    assert 0.15 < share(programs, lambda p: p["registry"] == "paid") < 0.35


def test_pre_professional_programs_are_in_arts_or_sports(region):
    for p in region.programs:
        if p["registry"] == "pre_professional":
            assert p["direction"] in ("arts", "sports")


def test_only_certified_registry_programs_are_certified(region):
    certified_registry = [p for p in region.programs if p["registry"] == "certified"]
    assert share(certified_registry, lambda p: p["certified"]) > 0.75
    assert not any(p["certified"] for p in region.programs if p["registry"] != "certified")


def test_about_one_program_in_ten_is_adapted(region):
    assert 0.07 < share(region.programs, lambda p: p["adapted"]) < 0.13


def test_most_programs_are_in_person_and_published(region):
    assert share(region.programs, lambda p: p["format"] == "in_person") > 0.7
    assert share(region.programs, lambda p: p["status"] == "published") > 0.75
    assert {p["status"] for p in region.programs} == set(PROGRAM_STATUSES)


def test_organizations_awaiting_approval_have_nothing_published(region, organizations_by_id):
    for p in region.programs:
        if organizations_by_id[p["organization_id"]]["status"] == "pending":
            assert p["status"] in ("draft", "on_review")


# --- groups -----------------------------------------------------------------------------


def test_group_ages_are_inside_program_ages(region, programs_by_id):
    for g in region.groups:
        p = programs_by_id[g["program_id"]]
        check_group_ages(p["min_age"], p["max_age"], g["min_age"], g["max_age"])


def test_group_dates_are_inside_the_period(region):
    for g in region.groups:
        check_group_dates(g["start_date"], g["end_date"], *PERIOD)
        assert type(g["start_date"]) is date and type(g["end_date"]) is date


def test_most_groups_run_through_the_school_year(region):
    school_year = (date(2026, 9, 1), date(2027, 5, 31))
    assert share(region.groups, lambda g: (g["start_date"], g["end_date"]) == school_year) > 0.4


def test_groups_follow_a_custom_period():
    period = (date(2027, 1, 1), date(2027, 3, 31))
    small = demo_region.generate(**SMALL, period_start=period[0], period_end=period[1])
    for g in small.groups:
        check_group_dates(g["start_date"], g["end_date"], *period)


def test_schedules_are_valid_with_one_to_three_lessons_of_40_to_90_minutes(region):
    for g in region.groups:
        assert check_schedule(g["schedule"]) == g["schedule"]
        assert 1 <= len(g["schedule"]) <= 3
        for lesson in g["schedule"]:
            start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (lesson["start"], lesson["end"]))
            assert 40 <= end - start <= 90


def test_groups_meet_near_their_organization(region, programs_by_id, organizations_by_id):
    for g in region.groups:
        o = organizations_by_id[programs_by_id[g["program_id"]]["organization_id"]]
        assert haversine_km(g["lat"], g["lon"], o["lat"], o["lon"]) < 3
    assert share(region.groups, lambda g: g["address"].startswith("Красноярский край, ")) == 1


def test_capacity_is_between_8_and_30(region):
    assert all(8 <= g["capacity"] <= 30 for g in region.groups)


def test_prices_are_whole_kopecks(region):
    for g in region.groups:
        assert type(g["price_kopecks"]) is int and g["price_kopecks"] >= 0
        assert type(g["normative_cost_kopecks"]) is int and g["normative_cost_kopecks"] >= 0


def test_budget_funded_groups_are_free(region, programs_by_id):
    for g in region.groups:
        if payment_type(programs_by_id[g["program_id"]]["registry"]) == "free":
            assert g["price_kopecks"] == 0 and g["normative_cost_kopecks"] == 0


def test_certified_groups_cost_1500_to_4000_rubles_a_month(region, programs_by_id):
    for g in region.groups:
        if programs_by_id[g["program_id"]]["registry"] == "certified":
            monthly = monthly_price_kopecks(g["price_kopecks"], g["start_date"], g["end_date"])
            assert 1500_00 <= monthly <= 4000_00


def test_paid_groups_cost_more_and_have_no_normative_cost(region, programs_by_id):
    monthly = {"certified": [], "paid": []}
    for g in region.groups:
        registry = programs_by_id[g["program_id"]]["registry"]
        if registry in monthly:
            price = monthly_price_kopecks(g["price_kopecks"], g["start_date"], g["end_date"])
            monthly[registry].append(price)
        if registry == "paid":
            assert g["normative_cost_kopecks"] == 0 and g["price_kopecks"] > 0
    average = {registry: sum(prices) / len(prices) for registry, prices in monthly.items()}
    assert average["paid"] > average["certified"]


def test_some_certified_groups_leave_a_co_payment(region, programs_by_id):
    certified = [
        g for g in region.groups if programs_by_id[g["program_id"]]["registry"] == "certified"
    ]
    assert all(0 < g["normative_cost_kopecks"] <= g["price_kopecks"] for g in certified)
    assert 0.1 < share(certified, lambda g: g["normative_cost_kopecks"] < g["price_kopecks"]) < 0.5


def test_enrollment_is_open_only_in_published_programs_of_active_organizations(
    region, programs_by_id, organizations_by_id
):
    for g in region.groups:
        p = programs_by_id[g["program_id"]]
        if g["enrollment_open"]:
            assert p["status"] == "published"
            assert organizations_by_id[p["organization_id"]]["status"] == "active"
    assert share(region.groups, lambda g: g["enrollment_open"]) > 0.6


def test_teachers_have_three_part_russian_names(region):
    for g in region.groups:
        assert re.fullmatch(r"[А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+", g["teacher"]), g[
            "teacher"
        ]
