"""A token of its own for users' credentials: a password change or a deleted user changes it,
and only it, so that the cached password hashes are dropped but the cached simple pages (keyed
by the configuration token) are not.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 00:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "server_state",
        sa.Column("users_token", sa.String(32), nullable=False, server_default="initial"),
    )


def downgrade() -> None:
    with op.batch_alter_table("server_state") as batch:
        batch.drop_column("users_token")
