"""One text rule for every field, path parameters included (issue 24, items 7 and 9): NUL in
a municipality's code in the path made the certificates service fail (503 and a traceback),
and C1 controls, U+202E, U+2028 and zero-width characters were accepted in group and period
names. Each is a 422 naming the field, before any service is asked."""

import pytest

from tests.e2e.test_catalog_access import World, group_body

BAD_TEXT = ["\x9b", "\u202e", "\u2028", "\u200b", "\u00ad"]


@pytest.fixture(scope="module")
def world(api):
    return World(api)


@pytest.mark.parametrize(
    "method, tail, body",
    [
        ("GET", "funding", None),
        ("GET", "queue", None),
        ("PUT", "limit", {"limit": "1000.00"}),
        ("PUT", "nominals", {"bands": [{"age_from": 5, "age_to": 17, "amount": "100.00"}]}),
    ],
)
def test_nul_in_a_path_parameter_is_a_422_naming_it(world, method, tail, body):
    operator = world.client("regional")
    response = operator.request(method, f"/municipalities/%00/periods/1/{tail}", body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_characters"
    assert list(response.json()["fields"]) == ["code"]


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_invisible_and_control_characters_are_refused_in_a_period_name(world, bad):
    response = world.client("regional").request(
        "POST",
        "/periods",
        {"name": f"2090/2091{bad}", "start_date": "2090-09-01", "end_date": "2091-08-31"},
    )
    assert response.status_code == 422, response.text
    assert "name" in response.json()["fields"]


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_invisible_and_control_characters_are_refused_in_a_group_name(world, bad):
    program_id = world.draft()
    body = {**group_body(program_id), "name": f"Группа{bad}1"}
    response = world.provider.request("POST", "/groups", body)
    assert response.status_code == 422, response.text
    assert "name" in response.json()["fields"]
