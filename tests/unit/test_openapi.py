"""The OpenAPI document as clients use it: readable, stable operationIds (they become every
generated client's method names), every answer declared as it is sent, field rules in the
schema rather than in prose. Redocly's recommended lint runs in `make lint`."""

import re

import pytest

import gateway.service  # noqa: F401 - registers every route
from gateway.http import ROUTES
from gateway.openapi import build_spec

# The names generated clients already call: a route keeps its operationId (a rename breaks
# every client). New routes add theirs here.
STABLE_IDS = {
    ("post", "/api/v1/auth/register"): "registerParent",
    ("post", "/api/v1/auth/login"): "login",
    ("post", "/api/v1/auth/refresh"): "refreshTokens",
    ("get", "/api/v1/me"): "getCurrentUser",
    ("get", "/api/v1/children/{child_id}"): "getChild",
    ("get", "/api/v1/catalog/search"): "searchCatalog",
    ("get", "/api/v1/groups/{group_id}/lessons"): "listGroupLessons",
    ("post", "/api/v1/groups/{group_id}/lessons"): "recordGroupLessons",
    ("post", "/api/v1/enrollments"): "createEnrollment",
    ("post", "/api/v1/enrollments/{enrollment_id}/confirm"): "confirmEnrollment",
    ("post", "/api/v1/certificates/{number}/freeze"): "freezeCertificate",
    ("get", "/api/v1/reports/region.csv"): "getRegionReportCsv",
    ("get", "/api/v1/health"): "getHealth",
    ("get", "/api/v1/openapi.json"): "getOpenApiDocument",
}


@pytest.fixture(scope="module")
def document():
    return build_spec()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_operation_ids_are_readable_unique_and_stable(document):
    ids = {(method, path): op["operationId"] for method, path, op in operations(document)}
    assert len(ids) == len(ROUTES)
    assert len(set(ids.values())) == len(ids), "operationIds are unique"
    for key, operation_id in ids.items():
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]{1,60}", operation_id), (key, operation_id)
    assert {key: ids.get(key) for key in STABLE_IDS} == STABLE_IDS


def test_health_declares_the_body_its_503_carries(document):
    responses = document["paths"]["/api/v1/health"]["get"]["responses"]
    for status in ("200", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Health"}
    assert "application/problem+json" not in responses["503"]["content"]


def test_non_json_answers_declare_their_content_type(document):
    paths = document["paths"]
    for path in (
        "/api/v1/reports/region.csv",
        "/api/v1/municipalities/{municipality_code}/report.csv",
    ):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    for path in (
        "/api/v1/reports/region.xlsx",
        "/api/v1/municipalities/{municipality_code}/report.xlsx",
    ):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == [
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ]
    assert list(paths["/api/v1/docs"]["get"]["responses"]["200"]["content"]) == ["text/html"]
    assert list(paths["/api/v1/openapi.json"]["get"]["responses"]["200"]["content"]) == [
        "application/json"
    ]


def test_field_rules_are_in_the_schema_not_only_in_prose(document):
    schemas = document["components"]["schemas"]
    for name in ("Register", "StaffCreate"):
        password = schemas[name]["properties"]["password"]
        assert (password["minLength"], password["maxLength"]) == (10, 128)
        assert schemas[name]["properties"]["email"]["format"] == "email"
    for name in ("ChildCreate", "ChildChange"):
        pattern = schemas[name]["properties"]["snils"]["pattern"]
        for spelling in ("112-233-445 95", "11223344595", "112 233 445 95"):
            assert re.fullmatch(pattern, spelling), spelling
        for wrong in ("112-233-445", "1122334459a", "112-233-445 955"):
            assert not re.fullmatch(pattern, wrong), wrong


def test_every_operation_says_its_security_and_a_client_error(document):
    assert document["servers"] and document["info"]["license"]["name"]
    for method, path, operation in operations(document):
        assert "security" in operation, (method, path)
        public = operation["security"] == []
        assert public or operation["security"] == [{"bearerAuth": []}]
        assert any(status.startswith("4") for status in operation["responses"]), (method, path)
    public = {path for method, path, op in operations(document) if op["security"] == []}
    assert {"/healthz", "/api/v1/catalog/search", "/api/v1/auth/login"} <= public
    assert "/api/v1/me" not in public


def test_each_operation_declares_the_statuses_it_answers_not_the_same_ten(document):
    """Swagger UI shows what a route really answers (issue 21): a public read has no 401, 403,
    404 or 409; a parent's read of a child by id may be 401, 403 or 404 but never 409."""

    def statuses(method, path):
        return set(document["paths"][path][method]["responses"])

    assert statuses("get", "/api/v1/directions") == {"200", "400", "500", "503"}
    assert not statuses("get", "/api/v1/catalog/search") & {"401", "403", "404", "409"}
    child = statuses("get", "/api/v1/children/{child_id}")
    assert {"401", "403", "404"} <= child and not child & {"409", "429"}
    assert "409" in statuses("post", "/api/v1/enrollments/{enrollment_id}/confirm")
    kinds = {frozenset(op["responses"]) for _, _, op in operations(document)}
    assert len(kinds) >= 10, "every route would list the same statuses"
