"""The `data` of the events catalog publishes (docs/asyncapi.yaml is generated from them)."""

from marshmallow import Schema, fields

from servicekit.asyncapi import MONEY, EventSpec


class OrganizationSchema(Schema):
    organization_id = fields.Integer(required=True)
    name = fields.String(required=True)
    inn = fields.String(required=True)
    municipality_code = fields.String(required=True)
    status = fields.String(required=True)


class ProgramPublishedSchema(Schema):
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    title = fields.String(required=True)
    direction = fields.String(required=True)
    registry = fields.String(required=True)
    certified = fields.Boolean(required=True)
    payment_type = fields.String(required=True)
    min_age = fields.Integer(required=True)
    max_age = fields.Integer(required=True)


class ProgramRejectedSchema(Schema):
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    reason = fields.String(required=True)


class ProgramArchivedSchema(Schema):
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)


class GroupChangedSchema(Schema):
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    capacity = fields.Integer(required=True)
    free_seats = fields.Integer(required=True)
    start_date = fields.String(required=True, metadata={"format": "date"})
    end_date = fields.String(required=True, metadata={"format": "date"})
    price = fields.String(required=True, metadata=MONEY)
    normative_cost = fields.String(required=True, metadata=MONEY)
    monthly_price = fields.String(required=True, metadata=MONEY)
    enrollment_open = fields.Boolean(required=True)


EVENTS = [
    EventSpec("catalog", "organization_registered", OrganizationSchema,
              "An organization was registered (pending the regional operator)"),
    EventSpec("catalog", "organization_status_changed", OrganizationSchema,
              "An organization was approved, suspended or reinstated"),
    EventSpec("catalog", "program_published", ProgramPublishedSchema,
              "A program was certified and is in the search"),
    EventSpec("catalog", "program_rejected", ProgramRejectedSchema,
              "A program on review was sent back to draft"),
    EventSpec("catalog", "program_archived", ProgramArchivedSchema,
              "A program was archived (its groups close for enrollment)"),
    EventSpec("catalog", "group_changed", GroupChangedSchema,
              "A group was created or changed by its provider"),
]  # fmt: skip
