"""outbox and processed events: the servicekit step every service takes (2026-11-28 09:28:21)."""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "0d0e01a4b9db"
down_revision = None
upgrade = create_outbox_tables
downgrade = drop_outbox_tables
