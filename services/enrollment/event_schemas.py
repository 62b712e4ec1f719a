"""What enrollment publishes: the `data` of each event (money as decimal strings, dates as
ISO strings). docs/asyncapi.yaml is generated from these schemas (servicekit/asyncapi.py), and
operations.py and store.py dump every event's data through them."""

from marshmallow import Schema, fields

from servicekit.asyncapi import EventSpec

MONEY = {"pattern": r"^\d+\.\d{2}$", "example": "1900.00"}


def money(**kwargs) -> fields.String:
    return fields.String(required=True, metadata=MONEY, **kwargs)


def day(**kwargs) -> fields.String:
    return fields.String(metadata={"format": "date"}, **kwargs)


class EnrollmentRefSchema(Schema):
    enrollment_id = fields.String(required=True, metadata={"format": "uuid"})
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    status = fields.String(required=True)


class RequestedSchema(EnrollmentRefSchema):
    decide_by = fields.String(required=True, metadata={"format": "date-time"})
    start_date = day(required=True)
    end_date = day(required=True)
    total = money()
    certificate_share = money()
    copay = money()


class ExpiringSchema(EnrollmentRefSchema):
    decide_by = fields.String(required=True, metadata={"format": "date-time"})
    due_on = day(required=True)  # the region's date of `decide_by`


class DueApplicationSchema(Schema):
    enrollment_id = fields.String(required=True, metadata={"format": "uuid"})
    child_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    decide_by = fields.String(required=True, metadata={"format": "date-time"})


class DecisionsDueSchema(Schema):
    organization_id = fields.Integer(required=True)
    due_on = day(required=True)  # tomorrow, in the region's calendar
    applications = fields.List(fields.Nested(DueApplicationSchema), required=True)


class WaitlistedSchema(EnrollmentRefSchema):
    position = fields.Integer(required=True, metadata={"description": "1 = next for a seat"})


class PromotedSchema(EnrollmentRefSchema):
    decide_by = fields.String(required=True, metadata={"format": "date-time"})


class ClosedSchema(EnrollmentRefSchema):
    reason = fields.String(required=True, allow_none=True)


class MonthPartSchema(Schema):
    month = fields.String(required=True, metadata={"pattern": r"^\d{4}-\d{2}$"})
    certificate = money()
    copay = money()


class ConfirmedSchema(EnrollmentRefSchema):
    """What payments needs to make the contract (docs/interfaces.md)."""

    organization_municipality_code = fields.String(required=True)
    child_municipality_code = fields.String(required=True, metadata={"description": "payer"})
    direction = fields.String(required=True)
    registry = fields.String(required=True)
    certificate_number = fields.String(required=True, allow_none=True)
    start_date = day(required=True)
    end_date = day(required=True)
    total = money()
    normative_cost = money()
    certificate_share = money()
    copay = money()
    schedule = fields.List(fields.Nested(MonthPartSchema), required=True)
    group_schedule = fields.List(fields.Dict(), required=True)


class TerminatedSchema(Schema):
    enrollment_id = fields.String(required=True, metadata={"format": "uuid"})
    child_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    effective_end_date = day(required=True)
    reason = fields.String(required=True, allow_none=True)


class CompletedSchema(EnrollmentRefSchema):
    start_date = day(required=True)
    end_date = day(required=True)  # the contract's last day


class GroupSeatsChangedSchema(Schema):
    group_id = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    held = fields.Integer(required=True, metadata={"description": "held by applications"})
    enrolled = fields.Integer(required=True)
    free_seats = fields.Integer(required=True)
    version = fields.Integer(
        required=True, metadata={"description": "grows with every change: keep the newest"}
    )


EVENTS = [
    EventSpec("enrollment", "enrollment_requested", RequestedSchema,
              "An application holds a seat and its money is reserved: the provider decides "
              "by `decide_by`"),
    EventSpec("enrollment", "enrollment_waitlisted", WaitlistedSchema,
              "The group was full: the application waits on its list at `position`, "
              "holding no money"),
    EventSpec("enrollment", "enrollment_promoted", PromotedSchema,
              "A freed seat went to this waitlisted application, its money reserved on "
              "terms from the promotion's day: the provider decides by `decide_by`"),
    EventSpec("enrollment", "enrollment_confirmed", ConfirmedSchema,
              "The provider enrolled the child: the contract's terms"),
    EventSpec("enrollment", "enrollment_rejected", ClosedSchema,
              "The provider refused the application (`reason`); seat and reservation released"),
    EventSpec("enrollment", "enrollment_cancelled", ClosedSchema,
              "The parent withdrew the application (or its money step failed); seat and "
              "reservation released"),
    EventSpec("enrollment", "enrollment_expired", ClosedSchema,
              "Undecided within the deadline; seat and reservation released"),
    EventSpec("enrollment", "enrollment_terminated", TerminatedSchema,
              "An enrollment ends at `effective_end_date` (the end of the month, or the "
              "contract's end if sooner; the end of the month of the 18th birthday, "
              "`reason: turned_18`; the group's new end, `reason: group_shortened`); the "
              "child keeps the seat until then; payments ends the contract and releases the "
              "months after it"),
    EventSpec("enrollment", "enrollment_completed", CompletedSchema,
              "The group ended (its last day passed) and the enrollment with it; the seat "
              "is freed"),
    EventSpec("enrollment", "application_expiring", ExpiringSchema,
              "Added in issue 23: the application is still before the provider and its "
              "`decide_by` falls tomorrow (`due_on`, the region's date): undecided, it expires "
              "then. Emitted once per application and day by the calendar's "
              "`deadline_reminders`"),
    EventSpec("enrollment", "decisions_due_tomorrow", DecisionsDueSchema,
              "Added in issue 23: an organization's applications still undecided whose "
              "`decide_by` falls tomorrow (`due_on`): once per organization and day, by the "
              "calendar's `deadline_reminders`, the applications known at that run"),
    EventSpec("enrollment", "group_seats_changed", GroupSeatsChangedSchema,
              "A group's seats changed (held, given back, taken by an enrolled child, a new "
              "capacity): the catalog's free seats follow it; events may arrive out of "
              "order, `version` orders them"),
]  # fmt: skip

DATA_SCHEMAS = {event.type: event.schema() for event in EVENTS}
