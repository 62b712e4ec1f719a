"""The `data` of the events accounts publishes (docs/asyncapi.yaml is generated from them)."""

from marshmallow import Schema, fields

from servicekit.asyncapi import EventSpec


class ChildRegisteredSchema(Schema):
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    birth_date = fields.String(required=True, metadata={"format": "date"})
    municipality_code = fields.String(required=True)


class ChildVerifiedSchema(Schema):
    child_id = fields.Integer(required=True)
    verified_by = fields.Integer(required=True, metadata={"description": "user id"})
    organization_id = fields.Integer(required=True, allow_none=True)
    verified_at = fields.String(required=True, metadata={"format": "date-time"})


EVENTS = [
    EventSpec("accounts", "child_registered", ChildRegisteredSchema, "A parent added a child"),
    EventSpec("accounts", "child_verified", ChildVerifiedSchema,
              "A provider confirmed the child's data against the documents (once)"),
]  # fmt: skip
