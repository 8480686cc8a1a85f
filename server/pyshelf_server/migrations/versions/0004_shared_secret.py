"""The server secret lives in the database, so that every server process on it signs and checks
login tokens alike.

Server directories from before keep theirs in ``SERVERDIR/.secret``: the first start after this
revision copies it into the database (``serverdir.load_secret``), so tokens issued before stay
valid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("server_state", sa.Column("secret", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("server_state") as batch:
        batch.drop_column("secret")
