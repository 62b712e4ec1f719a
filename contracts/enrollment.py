"""The statuses of an application (docs/design.md, section 5, "Enrollment") as they cross
the wire: HTTP schemas, filters and events use them as they are; and the refusal both the
catalog (its quick check on its projection) and enrollment (the check under its group lock)
give a capacity below the seats taken."""

from contracts.refusals import Conflicting

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


class CapacityBelowOccupied(Conflicting):
    """The new capacity of a group is less than the seats already held or taken."""

    code = "capacity_below_occupied"

    def __init__(self, new_capacity: int, occupied: int) -> None:
        super().__init__(f"нельзя уменьшить число мест до {new_capacity}: занято {occupied}")
        self.new_capacity = new_capacity
        self.occupied = occupied
