"""Marshmallow schemas of the gateway's own routes (system, health)."""

from marshmallow import Schema, fields


class ServiceHealthSchema(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["up", "down"]})
    database = fields.Boolean(allow_none=True)
    broker = fields.Boolean(allow_none=True)
    latency_ms = fields.Float()
    error = fields.String()


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded"]})
    broker = fields.String(
        required=True,
        metadata={
            "enum": ["up", "down"],
            "description": "the gateway's connection to the message broker; while it is down"
            " every service is unreachable and the answer carries Retry-After",
        },
    )
    services = fields.List(fields.Nested(ServiceHealthSchema), required=True)


class LivenessSchema(Schema):
    status = fields.String(required=True)


class PingSchema(Schema):
    service = fields.String(required=True)
