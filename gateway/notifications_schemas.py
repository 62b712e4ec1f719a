"""Marshmallow schemas of the notifications routes: the cabinet's list and the e-mail
switches (docs/notifications.md lists the kinds)."""

from marshmallow import Schema, fields, validate


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "docs/notifications.md"})
    subject = fields.String(required=True)
    text = fields.String(required=True)
    link = fields.String(allow_none=True, metadata={"description": "Into the portal"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    read = fields.Boolean(required=True)
    read_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    total = fields.Integer(required=True)
    unread = fields.Integer(required=True, metadata={"description": "Unread, of all pages"})
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class KindSwitchSchema(Schema):
    kind = fields.String(required=True)
    title = fields.String(required=True)
    email = fields.Boolean(required=True)


class PreferencesSchema(Schema):
    email = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        required=True,
        metadata={"description": "Each optional kind of the caller's role: mailed or not"},
    )
    kinds = fields.List(fields.Nested(KindSwitchSchema), required=True)
    always_sent = fields.List(
        fields.String(), required=True, metadata={"description": "Legally required letters"}
    )


class PreferencesChangeSchema(Schema):
    email = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 50)),
        values=fields.Boolean(),
        required=True,
        validate=validate.Length(max=50),
        metadata={
            "description": "Kinds to switch: {kind: true | false}; others unchanged",
            "example": {"month_debited": False},
        },
    )
