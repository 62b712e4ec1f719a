"""docs/asyncapi.yaml is what the event schemas say, and says it usably."""

import yaml

from servicekit import asyncapi


def test_asyncapi_document_is_not_stale():
    current = asyncapi.TARGET.read_text()
    assert current == asyncapi.render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_every_enrollment_event_of_the_issue_is_in_the_document():
    document = yaml.safe_load(asyncapi.render())
    for event in ("requested", "waitlisted", "confirmed", "rejected", "cancelled", "expired",
                  "terminated", "promoted"):  # fmt: skip
        channel = document["channels"][f"enrollment.events/enrollment_{event}"]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "enrollment.events"
        ref = channel["subscribe"]["message"]["$ref"].rsplit("/", 1)[-1]
        message = document["components"]["messages"][ref]
        assert message["name"] == f"enrollment_{event}"
        data_ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert "enrollment_id" in document["components"]["schemas"][data_ref]["properties"]


def test_nullable_fields_are_json_schema_nulls():
    schema = asyncapi.data_schema(
        __import__("services.enrollment.event_schemas", fromlist=["x"]).ClosedSchema
    )
    assert schema["properties"]["reason"]["type"] == ["string", "null"]
    assert "additionalProperties" not in schema  # additive changes stay valid
