"""Durable erasure and rebuild heartbeats.

`erasures` records each erased shopper in the deletion's transaction, so every server process
(and one restarted after a crash) stops serving the stored model's row for them;
`model_versions.last_erasure_id` says which erasures a model was built without;
`rebuild_runs.heartbeat_at` lets a run whose process is gone be told from one still running.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_erasure_id", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("rebuild_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rebuild_runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("last_erasure_id")
    op.drop_table("erasures")
