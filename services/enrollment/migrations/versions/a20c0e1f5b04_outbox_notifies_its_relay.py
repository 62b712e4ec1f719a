"""the outbox notifies its relay at commit (issue 20): the servicekit step every service takes."""

from servicekit.migrations import create_outbox_notify, drop_outbox_notify

revision = "a20c0e1f5b04"
down_revision = "2d664961d168"
upgrade = create_outbox_notify
downgrade = drop_outbox_notify
