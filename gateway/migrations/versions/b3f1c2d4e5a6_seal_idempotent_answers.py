"""idempotent answers are sealed and keys hashed: forget the rows stored in clear

Revision ID: b3f1c2d4e5a6
Revises: 598d7cbc2dee
Create Date: 2026-11-29 16:20:00
"""

from alembic import op

revision = "b3f1c2d4e5a6"
down_revision = "598d7cbc2dee"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before held raw keys and answers in clear (children's SNILS among them);
    # they cannot be sealed without the caller's key and would not match a hashed key anyway.
    op.execute("DELETE FROM idempotency_keys")


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
