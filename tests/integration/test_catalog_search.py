"""Catalog search on a small hand-made region, in a database of its own: every filter alone
and combined returns exactly the expected programs, in order, with the right total."""

import json
from datetime import date

import pytest
import sqlalchemy as sa
from nameko.testing.services import entrypoint_hook
from sqlalchemy.orm import Session

from servicekit import migrate
from servicekit.errors import InvalidInput
from services.catalog import domain, search
from services.catalog.models import Group, Organization, Program
from tests.conftest import RUN_ID

KRSK = (56.0106, 92.8526)
ACHINSK = (56.2694, 90.4993)


def org(id, name, municipality, status):
    return Organization(
        id=id,
        name=name,
        inn=domain.inn_with_check_digits(f"24600000{id}"),
        municipality_code=municipality,
        address="адрес",
        status=status,
    )


def program(id, org_id, title, direction, level, fmt, registry, certified, ages, **extra):
    return Program(
        id=id,
        organization_id=org_id,
        title=title,
        description=extra.pop("description", "Описание программы для детей."),
        direction=direction,
        level=level,
        format=fmt,
        adapted=extra.pop("adapted", False),
        registry_code=registry,
        certified=certified,
        payment_type=domain.program_payment_type(registry, certified),
        min_age=ages[0],
        max_age=ages[1],
        status=extra.pop("status", "published"),
    )


def group(id, program_id, ages, monthly_rubles, start, point, capacity=10, held=0, open=True):
    end = date(2027, 5, 31)
    months = domain.months_touched(start, end)
    price = monthly_rubles * 100 * months
    return Group(
        id=id,
        program_id=program_id,
        name=f"Группа {id}",
        teacher="Иванова Анна Петровна",
        address=f"адрес группы {id}",
        lat=point[0],
        lon=point[1],
        schedule=[{"weekday": 1, "start": "15:00", "end": "16:00"}],
        start_date=start,
        end_date=end,
        min_age=ages[0],
        max_age=ages[1],
        capacity=capacity,
        held=held,
        enrolled=0,
        price_kopecks=price,
        normative_cost_kopecks=price,
        monthly_price_kopecks=domain.monthly_price_kopecks(price, start, end),
        enrollment_open=open,
    )


SEP1, SEP15, OCT1 = date(2026, 9, 1), date(2026, 9, 15), date(2026, 10, 1)
NORTH_5KM = (KRSK[0] + 5 / 111.195, KRSK[1])
EAST_6KM = (KRSK[0], KRSK[1] + 0.096)  # about 6 km at this latitude


def region():
    return [
        org(1, "Спортивная школа «Олимп»", "krasnoyarsk", "active"),
        org(2, "Дом творчества", "achinsk", "active"),
        org(3, "Новая школа", "krasnoyarsk", "pending"),
        org(4, "Клуб «Старт»", "kansk", "suspended"),
        # P1..P4 are the searchable ones
        program(1, 1, "Футбольная секция", "sports", "basic", "in_person", "certified", True,
                (7, 12)),
        program(2, 1, "Робототехника и программирование", "technical", "advanced", "distance",
                "paid", False, (10, 16), adapted=True),
        program(3, 2, "Художественная студия «Ёлочка»", "arts", "intro", "in_person",
                "general", False, (5, 8)),
        program(4, 2, "Шахматы", "social_humanitarian", "intro", "mixed", "certified", False,
                (7, 14), description="Шахматы развивают память; на переменах можно и футбол."),
        # never in the results: a draft, a pending and a suspended organization's programs
        program(5, 1, "Футбол для малышей", "sports", "intro", "in_person", "paid", False,
                (5, 7), status="draft"),
        program(6, 3, "Футбол во дворе", "sports", "intro", "in_person", "paid", False, (7, 12)),
        program(7, 4, "Футбольный клуб", "sports", "basic", "in_person", "paid", False, (7, 12)),
        group(1, 1, (7, 9), 2000, SEP1, KRSK),
        group(2, 1, (10, 12), 3000, SEP15, NORTH_5KM, capacity=5, held=5),
        group(3, 2, (10, 16), 5000, OCT1, EAST_6KM, capacity=12, held=12),
        group(4, 3, (5, 8), 0, SEP1, ACHINSK, capacity=15),
        group(5, 4, (7, 14), 1500, SEP1, (ACHINSK[0], ACHINSK[1] + 0.02), capacity=3, open=False),
        group(6, 5, (5, 7), 1000, SEP1, KRSK),
        group(7, 6, (7, 12), 1000, SEP1, KRSK),
        group(8, 7, (7, 12), 1000, SEP1, KRSK),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def search_database(server_urls):
    from servicekit import config

    url = config.with_driver(f"{server_urls['database']}/navtest_{RUN_ID}_catalog_search")
    migrate.create_database(url)
    migrate.upgrade("catalog", url)
    engine = sa.create_engine(url)
    with Session(engine) as session:
        for row in region():
            session.add(row)
            session.flush()
        search.refresh_all(session)
        session.commit()
    yield url, engine
    engine.dispose()
    migrate.drop_database(url)


@pytest.fixture
def find(search_database):
    _, engine = search_database

    def run(**filters):
        with Session(engine) as session:
            return search.search(
                session, {"limit": 20, "offset": 0, "sort": "relevance", **filters}
            )

    return run


def ids(result):
    return [item["id"] for item in result["items"]]


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, [1, 2, 3, 4]),
        ({"direction": "sports"}, [1]),
        ({"age": 5}, [3]),
        ({"age": 11}, [1, 2, 4]),
        ({"municipality": "achinsk"}, [3, 4]),
        ({"municipality": "kansk"}, []),
        ({"payment_type": "free"}, [3]),
        ({"payment_type": "certificate"}, [1]),
        ({"payment_type": "own_money"}, [2, 4]),
        ({"max_monthly_price": 200000}, [1, 3, 4]),
        ({"max_monthly_price": 0}, [3]),
        ({"level": "intro"}, [3, 4]),
        ({"format": "distance"}, [2]),
        ({"adapted": True}, [2]),
        ({"with_free_seats": True}, [1, 3, 4]),
        ({"open_only": True}, [1, 2, 3]),
        ({"lat": KRSK[0], "lon": KRSK[1], "radius_km": 3}, [1]),
        ({"lat": KRSK[0], "lon": KRSK[1], "radius_km": 10}, [1, 2]),
    ],
)
def test_each_filter_alone_returns_exactly_the_matching_programs(find, filters, expected):
    result = find(**filters)
    assert ids(result) == expected
    assert result["total"] == len(expected)


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"municipality": "krasnoyarsk", "age": 11, "with_free_seats": True}, []),
        ({"municipality": "krasnoyarsk", "age": 8, "with_free_seats": True}, [1]),
        ({"q": "футбол", "age": 8, "max_monthly_price": 200000}, [1, 4]),
        ({"q": "футбол", "age": 8, "max_monthly_price": 200000, "open_only": True}, [1]),
        ({"direction": "sports", "municipality": "achinsk"}, []),
        ({"level": "intro", "open_only": True, "payment_type": "free"}, [3]),
        ({"age": 10, "open_only": True, "sort": "price"}, [1, 2]),
    ],
)
def test_filters_combine(find, filters, expected):
    result = find(**filters)
    assert ids(result) == expected
    assert result["total"] == len(expected)


@pytest.mark.parametrize(
    "sort, point, expected",
    [
        ("relevance", None, [1, 2, 3, 4]),
        ("price", None, [3, 4, 1, 2]),
        ("start_date", None, [1, 3, 4, 2]),
        ("distance", ACHINSK, [3, 4, 1, 2]),
        ("distance", EAST_6KM, [2, 1, 4, 3]),  # group 5 lies east of Achinsk
    ],
)
def test_sort_orders(find, sort, point, expected):
    filters = {"sort": sort}
    if point:
        filters.update(lat=point[0], lon=point[1])
    assert ids(find(**filters)) == expected


def test_pages_keep_the_total(find):
    first, second = find(limit=2), find(limit=2, offset=2)
    beyond = find(limit=2, offset=10)
    assert (ids(first), first["total"]) == ([1, 2], 4)
    assert (ids(second), second["total"]) == ([3, 4], 4)
    assert (ids(beyond), beyond["total"]) == ([], 4)


def test_summary_describes_only_the_groups_that_matched(find):
    [item] = find(q="футбол", max_monthly_price=200000)["items"][:1]
    assert item["groups"] == {
        "found": 1,
        "free_seats": 10,
        "cheapest": {"group_id": 1, "monthly_price_kopecks": 200000},
        "nearest": None,
        "earliest_start": "2026-09-01",
    }
    [near] = find(lat=KRSK[0], lon=KRSK[1], radius_km=10, direction="sports")["items"]
    assert near["groups"]["found"] == 2
    assert near["groups"]["free_seats"] == 10  # group 2 is full
    assert near["groups"]["nearest"]["group_id"] == 1
    assert near["groups"]["nearest"]["distance_km"] == 0.0
    assert near["payment_type"] == "certificate"
    assert near["organization"] == {"id": 1, "name": "Спортивная школа «Олимп»"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("футбол", [1, 4]),  # morphology: "Футбольная"; the title ranks above the description
        ("ФУТБОЛ", [1, 4]),
        ("ФутБольная СЕКЦИЯ", [1]),
        ("футбольной секции", [1]),
        ("программирования", [2]),
        ("робот", [2]),  # a prefix, as a parent types
        ("елочка", [3]),
        ("ёлочка", [3]),
        ("ЁЛОЧКА", [3]),
        ("шахматы футбол", [4]),
    ],
)
def test_text_morphology_case_and_yo(find, text, expected):
    result = find(q=text)
    assert ids(result) == expected
    assert result["corrected_query"] is None


@pytest.mark.parametrize(
    "typo, corrected, expected",
    [
        ("робототехнка", "робототехника", [2]),  # a letter missing
        ("робототехникка", "робототехника", [2]),  # a letter doubled
        ("шахмоты", "шахматы", [4]),  # a letter wrong
        ("художественая студия", None, [3]),  # the stem is the same: no correction needed
        ("програмирование", "программирование", [2]),
    ],
)
def test_one_letter_typo_in_a_long_word_is_corrected(find, typo, corrected, expected):
    result = find(q=typo)
    assert ids(result) == expected
    assert result["corrected_query"] == corrected


def test_text_that_matches_nothing_finds_nothing(find):
    result = find(q="парашютный спорт")
    assert (ids(result), result["total"], result["corrected_query"]) == ([], 0, None)


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE programs; --",
        "%",
        "_",
        "%%__",
        "' OR 1=1 --",
        '"футбол"',
        "футбол & | ! <-> :* ()",
        "\\",
        "a:*",
        "-",
        "!!!",
        "ё" * 10_000,
        "футбол " * 2000,
        "3D-моделирование",
        "e\u0301",
        "²³",
    ],
)
def test_hostile_text_is_just_text(find, text, search_database):
    result = find(q=text)
    assert result["total"] >= 0
    _, engine = search_database
    with engine.connect() as conn:  # the tables are still there
        assert conn.execute(sa.text("SELECT count(*) FROM programs")).scalar() == 7


def test_search_through_the_service_entrypoint(
    search_database, nameko_config, container_factory, monkeypatch
):
    from services.catalog.service import CatalogService

    monkeypatch.setenv("CATALOG_DATABASE_URL", search_database[0])
    container = container_factory(CatalogService)
    container.start()
    # straight into this container: another catalog may consume the same RPC queue
    with entrypoint_hook(container, "search") as search_rpc:
        result = search_rpc({"q": "Футбол", "municipality": "krasnoyarsk"})
        assert ids(result) == [1]
        json.dumps(result)  # plain data only
        with pytest.raises(InvalidInput):
            search_rpc({"sort": "distance"})
