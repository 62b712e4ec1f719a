"""enrollment moves to its own database: the catalog keeps its groups' seat counts as a
projection of enrollment's `group_seats_changed` events (newest `seats_version` wins), and no
longer holds applications, their history or seat holds

Applications are not copied across databases: a catalog database that holds any is refused
(reload the demo data, `make seed`, or move them by hand first), never emptied silently.

Revision ID: d8e2f4a6b1c3
Revises: c5f7a9b1d2e4
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d8e2f4a6b1c3"
down_revision = "c5f7a9b1d2e4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM enrollments")).scalar()
    if held:
        raise RuntimeError(
            f"the catalog's database holds {held} applications: enrollment has a database of "
            "its own now (docs/enrollment.md); empty them (make seed) or move them first"
        )
    op.drop_table("enrollment_history")
    op.drop_table("enrollments")
    op.execute("DROP SEQUENCE enrollment_arrival_seq")
    op.drop_table("seat_holds")
    # the counts are enrollment's; the check lives on its table (a projection told of a
    # smaller capacity before a release must not refuse the event that tells it)
    op.drop_constraint("ck_study_groups_not_overbooked", "study_groups", type_="check")
    op.add_column(
        "study_groups",
        sa.Column("seats_version", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("enrollment's tables live in its own database now")
