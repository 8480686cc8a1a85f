"""The caching mirror: cached project pages, downloaded files, the project list"s state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:30:56.901258
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirror_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=400), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("stored", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_mirror_files_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_files")),
        sa.UniqueConstraint(
            "index_id", "filename", "key", name=op.f("uq_mirror_files_index_id_filename_key")
        ),
    )
    with op.batch_alter_table("mirror_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mirror_files_index_id"), ["index_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mirror_files_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_mirror_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "mirror_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("checked", sa.Float(), nullable=False),
        sa.Column("etag", sa.String(length=400), nullable=True),
        sa.Column("serial", sa.BigInteger(), nullable=True),
        sa.Column("change_token", sa.String(length=32), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_mirror_projects_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_projects")),
        sa.UniqueConstraint("index_id", "name", name=op.f("uq_mirror_projects_index_id_name")),
    )
    with op.batch_alter_table("mirror_projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mirror_projects_index_id"), ["index_id"], unique=False)

    op.create_table(
        "mirror_states",
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("list_sha256", sa.String(length=64), nullable=True),
        sa.Column("list_count", sa.Integer(), nullable=False),
        sa.Column("list_checked", sa.Float(), nullable=False),
        sa.Column("list_etag", sa.String(length=400), nullable=True),
        sa.Column("list_serial", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_mirror_states_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("index_id", name=op.f("pk_mirror_states")),
    )


def downgrade() -> None:
    op.drop_table("mirror_states")
    with op.batch_alter_table("mirror_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mirror_projects_index_id"))

    op.drop_table("mirror_projects")
    with op.batch_alter_table("mirror_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mirror_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_mirror_files_project"))
        batch_op.drop_index(batch_op.f("ix_mirror_files_index_id"))

    op.drop_table("mirror_files")
