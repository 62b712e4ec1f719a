"""outbox and processed events: the servicekit step every service takes (2026-11-28 09:28:22)."""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "c71790ee1b72"
down_revision = None
upgrade = create_outbox_tables
downgrade = drop_outbox_tables
