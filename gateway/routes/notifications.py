"""Notifications: the caller's own list (newest first, with the unread count), marking one
read, and which optional letters the caller gets by e-mail. Nobody sees another's."""

from contracts.roles import OPERATORS, PARENT, PROVIDER
from gateway.http import API, PageQuery, route
from gateway.notifications_schemas import (
    NotificationPageSchema,
    NotificationSchema,
    PreferencesChangeSchema,
    PreferencesSchema,
)

PEOPLE = (PARENT, PROVIDER, *OPERATORS)


class NotificationRoutes:
    @route(
        "GET",
        f"{API}/notifications",
        summary="The caller's notifications, newest first, and how many are unread",
        tags=["notifications"],
        roles=PEOPLE,
        query=PageQuery,
        response=NotificationPageSchema,
    )
    def list_notifications(self, call):
        q = call.query
        return self.rpc.call(
            "notifications", "list_notifications", call.principal.as_rpc(), q["limit"], q["offset"]
        )

    @route(
        "GET",
        f"{API}/notifications/preferences",
        summary="Which optional letters the caller gets by e-mail",
        tags=["notifications"],
        roles=PEOPLE,
        response=PreferencesSchema,
    )
    def get_preferences(self, call):
        return self.rpc.call("notifications", "get_preferences", call.principal.as_rpc())

    @route(
        "PUT",
        f"{API}/notifications/preferences",
        summary="Switch optional letters on or off",
        tags=["notifications"],
        roles=PEOPLE,
        body=PreferencesChangeSchema,
        response=PreferencesSchema,
        errors=(422,),
        description="Legally required letters (e-mail confirmation, password reset) cannot be "
        "switched off: 422. The cabinet's list keeps every notification either way.",
    )
    def set_preferences(self, call):
        return self.rpc.call(
            "notifications", "set_preferences", call.principal.as_rpc(), call.body["email"]
        )

    @route(
        "POST",
        f"{API}/notifications/<int(min=1,max=9223372036854775807):notification_id>/read",
        summary="Mark one of the caller's notifications read",
        tags=["notifications"],
        roles=PEOPLE,
        response=NotificationSchema,
        errors=(404,),
    )
    def mark_read(self, call, notification_id):
        return self.rpc.call("notifications", "mark_read", call.principal.as_rpc(), notification_id)
