"""Download counts of mirrored files, as hosted files have them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mirror_files") as batch:
        batch.add_column(
            sa.Column("download_count", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("mirror_files") as batch:
        batch.drop_column("download_count")
