"""Retention: when each hosted and mirrored file was last downloaded (retention/); indexes
on the ``files`` columns that deleting many files looks up: ``for_file_id`` (the tox results
a deleted file takes with it, by cascade) and ``metadata_sha256`` (whether a blob is still
referred to, ``storage.references``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("last_download", sa.DateTime(), nullable=True))
        batch.create_index(batch.f("ix_files_for_file_id"), ["for_file_id"], unique=False)
        batch.create_index(batch.f("ix_files_metadata_sha256"), ["metadata_sha256"], unique=False)
    with op.batch_alter_table("mirror_files") as batch:
        batch.add_column(sa.Column("last_download", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mirror_files") as batch:
        batch.drop_column("last_download")
    with op.batch_alter_table("files") as batch:
        batch.drop_index(batch.f("ix_files_metadata_sha256"))
        batch.drop_index(batch.f("ix_files_for_file_id"))
        batch.drop_column("last_download")
