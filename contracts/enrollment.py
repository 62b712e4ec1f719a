"""The statuses of an application (docs/design.md, section 5, "Enrollment") as they cross
the wire: HTTP schemas, filters and events use them as they are."""

REQUESTED = "requested"
WAITLISTED = "waitlisted"
AWAITING_PROVIDER = "awaiting_provider"
ENROLLED = "enrolled"
COMPLETED = "completed"
TERMINATED = "terminated"
REJECTED = "rejected"
CANCELLED = "cancelled"
EXPIRED = "expired"

STATUSES = (
    REQUESTED,
    WAITLISTED,
    AWAITING_PROVIDER,
    ENROLLED,
    COMPLETED,
    TERMINATED,
    REJECTED,
    CANCELLED,
    EXPIRED,
)
# a child holds at most one of these per group
LIVE = (REQUESTED, WAITLISTED, AWAITING_PROVIDER, ENROLLED)
FINAL = (COMPLETED, TERMINATED, REJECTED, CANCELLED, EXPIRED)
