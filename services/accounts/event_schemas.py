"""The `data` of the events accounts publishes (docs/asyncapi.yaml is generated from them)."""

from marshmallow import Schema, fields

from servicekit.asyncapi import EventSpec


class ChildRegisteredSchema(Schema):
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    birth_date = fields.String(required=True, metadata={"format": "date"})
    municipality_code = fields.String(required=True)


class ChildChangedSchema(Schema):
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    birth_date = fields.String(required=True, metadata={"format": "date"})
    municipality_code = fields.String(required=True)
    changed_at = fields.String(
        required=True,
        metadata={"format": "date-time",
                  "description": "when the child's record took these facts: keep the newest"},
    )  # fmt: skip


class ChildVerifiedSchema(Schema):
    child_id = fields.Integer(required=True)
    verified_by = fields.Integer(required=True, metadata={"description": "user id"})
    organization_id = fields.Integer(required=True, allow_none=True)
    verified_at = fields.String(required=True, metadata={"format": "date-time"})


class MailRequestedSchema(Schema):
    request_id = fields.String(
        required=True,
        metadata={"format": "uuid", "description": "the notifications service asks accounts "
                  "for the address and the single-use token by RPC (mail_token); neither is "
                  "ever in an event"},
    )  # fmt: skip
    user_id = fields.Integer(required=True)


EVENTS = [
    EventSpec("accounts", "child_registered", ChildRegisteredSchema, "A parent added a child"),
    EventSpec("accounts", "child_changed", ChildChangedSchema,
              "The facts other services keep of a child (its parent, birth date and "
              "municipality), when the child is added and whenever the birth date or the "
              "municipality changes; a projection keeps the newest by changed_at"),
    EventSpec("accounts", "child_verified", ChildVerifiedSchema,
              "A provider confirmed the child's data against the documents (once)"),
    EventSpec("accounts", "email_verification_requested", MailRequestedSchema,
              "A parent registered: a confirmation link is to be mailed (no address or token "
              "in the event)"),
    EventSpec("accounts", "password_reset_requested", MailRequestedSchema,
              "Someone asked to reset the password of an existing account: a reset link is "
              "to be mailed (no address or token in the event)"),
]  # fmt: skip
