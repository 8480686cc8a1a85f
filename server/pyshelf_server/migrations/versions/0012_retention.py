"""Retention: when each hosted and mirrored file was last downloaded (retention/).

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-06 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("last_download", sa.DateTime(), nullable=True))
    with op.batch_alter_table("mirror_files") as batch:
        batch.add_column(sa.Column("last_download", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mirror_files") as batch:
        batch.drop_column("last_download")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("last_download")
