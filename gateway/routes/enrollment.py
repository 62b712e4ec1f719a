"""Enrollment routes: the quote, the application, the lists and the decisions.

The gateway checks the role; the enrollment service decides ownership (whose child, whose
group) from the principal, as every service does."""

from gateway.enrollment_schemas import (
    ApplySchema,
    EnrollmentListQuery,
    EnrollmentSchema,
    QuoteQuery,
    QuoteSchema,
    ReasonSchema,
    RequiredReasonSchema,
)
from gateway.http import ANY_ROLE, API, page_of, route
from servicekit.errors import Forbidden

ENROLLMENT = f"{API}/enrollments/<enrollment_id>"
GROUP_ID = "<int(min=1,max=2147483647):group_id>"


class EnrollmentRoutes:
    @route(
        "GET",
        f"{API}/groups/{GROUP_ID}/quote",
        summary="What a contract in this group would cost, for one of your children",
        tags=["enrollment"],
        roles=("parent",),
        query=QuoteQuery,
        response=QuoteSchema,
        errors=(404, 422),
        description="By the contract cost rules: total and normative cost pro rata of the "
        "days, the certificate's share (capped by its balance), the co-payment, and the monthly "
        "schedule whose parts add up exactly to them.",
        operation_id="quoteGroup",
    )
    def quote(self, call, group_id):
        return self.rpc.call(
            "enrollment",
            "quote",
            call.principal.as_rpc(),
            group_id,
            call.query["child_id"],
            call.query.get("start_date"),
        )

    @route(
        "POST",
        f"{API}/enrollments",
        summary="Apply for a group: a seat is held, or the application waits on the list",
        tags=["enrollment"],
        roles=("parent",),
        body=ApplySchema,
        response=EnrollmentSchema,
        status=201,
        errors=(403, 404, 409, 422),
        description="403 `email_not_verified` for a parent who has not confirmed the e-mail "
        "address yet. The certificate's share is reserved at once. When a co-payment is due and "
        "`accept_copay` is false the answer is 422 `copay_not_accepted` and nothing changes. "
        "Send an `Idempotency-Key`: it is the application's identity, and a repeat returns "
        "the first answer, also after a 503 or a lost connection (the application the first "
        "attempt opened, its money settled). 409 `already_applied` names the child's live "
        "application in the group (`enrollment_id`).",
        operation_id="createEnrollment",
        operation_keyed=True,
    )
    def apply(self, call):
        if not call.principal.email_verified:
            raise Forbidden(
                "Подтвердите адрес электронной почты по ссылке из письма, чтобы подавать заявки",
                code="email_not_verified",
            )
        return self.rpc.call(
            "enrollment", "apply", call.principal.as_rpc(), call.body, call.operation
        )

    @route(
        "GET",
        f"{API}/enrollments",
        summary="Applications: a parent's own, a provider's organization's, an operator's area",
        tags=["enrollment"],
        roles=ANY_ROLE,
        query=EnrollmentListQuery,
        response=page_of(EnrollmentSchema),
    )
    def list_enrollments(self, call):
        query = dict(call.query)
        filters = {
            "status": query.pop("status", None),
            "group_id": query.pop("group_id", None),
            "child_id": query.pop("child_id", None),
            **query,
        }
        return self.rpc.call("enrollment", "list_enrollments", call.principal.as_rpc(), filters)

    @route(
        "GET",
        ENROLLMENT,
        summary="An application: status, history, place on the waiting list, money terms",
        tags=["enrollment"],
        roles=ANY_ROLE,
        response=EnrollmentSchema,
        errors=(404,),
    )
    def get_enrollment(self, call, enrollment_id):
        return self.rpc.call("enrollment", "get_enrollment", call.principal.as_rpc(), enrollment_id)

    def _decide(self, call, enrollment_id, action):
        reason = (call.body or {}).get("reason")
        return self.rpc.call(
            "enrollment", "decide", call.principal.as_rpc(), enrollment_id, action, reason
        )

    @route(
        "POST",
        f"{ENROLLMENT}/confirm",
        summary="Enroll the child (the group's provider); the child's data becomes verified",
        tags=["enrollment"],
        roles=("provider",),
        response=EnrollmentSchema,
        errors=(403, 404, 409),
        operation_id="confirmEnrollment",
    )
    def confirm(self, call, enrollment_id):
        return self._decide(call, enrollment_id, "confirm")

    @route(
        "POST",
        f"{ENROLLMENT}/reject",
        summary="Refuse an application, with a reason (the group's provider)",
        tags=["enrollment"],
        roles=("provider",),
        body=RequiredReasonSchema,
        response=EnrollmentSchema,
        errors=(403, 404, 409, 422),
        operation_id="rejectEnrollment",
    )
    def reject(self, call, enrollment_id):
        return self._decide(call, enrollment_id, "reject")

    @route(
        "POST",
        f"{ENROLLMENT}/cancel",
        summary="Withdraw an application before enrollment (the parent)",
        tags=["enrollment"],
        roles=("parent",),
        body=ReasonSchema,
        response=EnrollmentSchema,
        errors=(403, 404, 409, 422),
        operation_id="cancelEnrollment",
    )
    def cancel(self, call, enrollment_id):
        return self._decide(call, enrollment_id, "cancel")

    @route(
        "POST",
        f"{ENROLLMENT}/terminate",
        summary="End an enrollment at the end of this month (the parent or the provider)",
        tags=["enrollment"],
        roles=("parent", "provider"),
        body=ReasonSchema,
        response=EnrollmentSchema,
        errors=(403, 404, 409, 422),
        operation_id="terminateEnrollment",
    )
    def terminate(self, call, enrollment_id):
        return self._decide(call, enrollment_id, "terminate")
