"""What crosses RPC from the notifications service (marshmallow)."""

from marshmallow import Schema, fields


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    subject = fields.String()
    text = fields.String()
    link = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read = fields.Boolean()
    read_at = fields.DateTime(allow_none=True)


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    total = fields.Integer()
    unread = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class KindSwitchSchema(Schema):
    kind = fields.String()
    title = fields.String()
    email = fields.Boolean()


class PreferencesSchema(Schema):
    email = fields.Dict(keys=fields.String(), values=fields.Boolean())
    kinds = fields.List(fields.Nested(KindSwitchSchema))
    always_sent = fields.List(fields.String())
