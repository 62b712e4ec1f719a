"""The gateway's hand-written search page dump answers exactly what the documented schema
(SearchPageSchema, in the OpenAPI document) would."""

import json
import random

import pytest

import gateway.routes.catalog  # noqa: F401 - registers the routes
from gateway.catalog_schemas import SearchPageSchema, dump_search_page
from gateway.http import ROUTES


def _item(rng: random.Random, program_id: int, with_point: bool) -> dict:
    group_id = rng.randint(1, 10**6)
    return {
        "id": program_id,
        "title": rng.choice(['Футбол "Старт"', "Робототехника", "Ёлочка — вышивка", 'a"b\\c']),
        "organization": {"id": rng.randint(1, 500), "name": rng.choice(["ДЮСШ №1", "ЦДТ"])},
        "municipality_code": rng.choice(["krasnoyarsk", "zato-zheleznogorsk"]),
        "direction": rng.choice(["sports", "technical"]),
        "level": "basic",
        "format": "in_person",
        "adapted": rng.random() < 0.5,
        "registry": rng.choice(["certified", "paid"]),
        "payment_type": rng.choice(["certificate", "free", "own_money"]),
        "min_age": rng.randint(5, 10),
        "max_age": rng.randint(11, 18),
        "relevance": rng.choice([0.0, 0.0608, 0.1, 1.0]),
        "groups": {
            "found": rng.randint(1, 9),
            "free_seats": rng.randint(0, 60),
            "cheapest": {
                "group_id": group_id,
                "monthly_price_kopecks": rng.choice([0, 1, 99, 100, 190000, 123456789]),
            },
            "nearest": {
                "group_id": group_id,
                "distance_km": rng.choice([0.0, 0.25, 3.14, 12.0]),
                "address": "ул. Ленина, 1",
            }
            if with_point
            else None,
            "earliest_start": "2026-09-01",
        },
    }


@pytest.mark.parametrize("seed", range(20))
def test_written_out_dump_equals_the_schema(seed):
    rng = random.Random(seed)
    page = {
        "items": [_item(rng, n, with_point=seed % 2 == 0) for n in range(rng.randint(0, 20))],
        "total": rng.randint(0, 5000),
        "limit": 20,
        "offset": rng.choice([0, 20, 40]),
        "corrected_query": rng.choice([None, "робототехника"]),
    }
    expected = SearchPageSchema().dump(page)
    assert dump_search_page(page) == expected
    # the same bytes on the wire, key order included
    assert json.dumps(dump_search_page(page), ensure_ascii=False) == json.dumps(
        expected, ensure_ascii=False
    )


def test_the_search_route_uses_it_and_documents_the_schema():
    [spec] = [r for r in ROUTES if r.path.endswith("/catalog/search")]
    assert spec.dump is dump_search_page
    assert spec.response is SearchPageSchema
