"""the outbox notifies its relay at commit (issue 20): the servicekit step every service takes."""

from servicekit.migrations import create_outbox_notify, drop_outbox_notify

revision = "a20c0e1f5b01"
down_revision = "e3a1c5b7d9f2"
upgrade = create_outbox_notify
downgrade = drop_outbox_notify
