"""What crosses RPC to and from enrollment besides the applications' views (operations.view):
the catalog's facts of a group as enrollment loads them (`catalog.group_facts`), and a group's
seats as enrollment answers them (`set_capacity`, `seat_counts`). Event data is in
event_schemas.py."""

from marshmallow import EXCLUDE, Schema, fields


class GroupFactsSchema(Schema):
    """One group of `catalog.group_facts` (services/catalog/event_data.group_facts)."""

    class Meta:
        unknown = EXCLUDE  # a fact the catalog adds later is not enrollment's yet

    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    organization_municipality = fields.String(required=True)
    organization_status = fields.String(required=True)
    program_status = fields.String(required=True)
    direction = fields.String(required=True)
    registry = fields.String(required=True)
    certified = fields.Boolean(required=True)
    schedule = fields.List(fields.Dict(), required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    min_age = fields.Integer(required=True)
    max_age = fields.Integer(required=True)
    price_kopecks = fields.Integer(required=True)
    normative_cost_kopecks = fields.Integer(required=True)
    enrollment_open = fields.Boolean(required=True)
    capacity = fields.Integer(required=True)


class SeatsSchema(Schema):
    group_id = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    held = fields.Integer(required=True)
    enrolled = fields.Integer(required=True)
    free_seats = fields.Integer(required=True)
    version = fields.Integer(required=True)


group_facts_schema = GroupFactsSchema()
seats_schema = SeatsSchema()
