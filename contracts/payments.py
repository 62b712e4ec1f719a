"""Enumerations of payments that cross the wire: HTTP schemas, OpenAPI and clients use them
as they are. Codes are English and stable."""

# how a municipality measures a month's completeness
DELIVERED = "delivered"  # lessons held / lessons scheduled (the default)
ATTENDED = "attended"  # lessons the child attended / lessons held
COMPLETENESS_MODES = (DELIVERED, ATTENDED)

LESSON_STATUSES = ("held", "cancelled")
CONTRACT_STATUSES = ("active", "terminated")
CHARGE_STATUSES = ("pending", "posted", "refused")
BILLING_RUN_STATUSES = ("running", "completed")
INVOICE_KINDS = ("advance", "final", "correction")
INVOICE_STATUSES = ("issued", "paid")
