"""Events without foreign keys to users and items.

Checking them cost every stored event a lookup and a row lock on its user and item (about half
of a batch's time in PostgreSQL, and shared locks that concurrent batches of one popular
shopper's events contend on). Every write creates the users and items it names in its own
transaction, and an erasure excludes concurrent writes of its shopper by an advisory lock
(`app.store.events`), so every event still has its user and item.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_events_item_id_items"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_events_user_id_users"), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_events_user_id_users"), "users", ["user_id"], ["user_id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            op.f("fk_events_item_id_items"), "items", ["item_id"], ["item_id"], ondelete="CASCADE"
        )
