"""Release lifecycle: yanks a stage declares on inherited releases, and the PEP 740 provenance
of uploaded files.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inherited_yanks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("who", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_inherited_yanks_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inherited_yanks")),
        sa.UniqueConstraint(
            "index_id",
            "project",
            "version",
            "filename",
            name=op.f("uq_inherited_yanks_index_id_project_version_filename"),
        ),
    )
    with op.batch_alter_table("inherited_yanks") as batch:
        batch.create_index(batch.f("ix_inherited_yanks_index_id"), ["index_id"], unique=False)
    op.add_column("files", sa.Column("provenance", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("provenance")
    with op.batch_alter_table("inherited_yanks") as batch:
        batch.drop_index(batch.f("ix_inherited_yanks_index_id"))
    op.drop_table("inherited_yanks")
