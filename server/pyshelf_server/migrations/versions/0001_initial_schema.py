"""Initial schema: server state, users, indexes and their bases, projects, versions, files.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:26:51.504377
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("state_token", sa.String(length=32), nullable=False),
        sa.Column("config_token", sa.String(length=32), nullable=False),
        sa.Column("last_commit", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_state")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=400), nullable=True),
        sa.Column("title", sa.String(length=400), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("custom_data", sa.JSON(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("modified", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "indexes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("volatile", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_indexes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexes")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_indexes_user_id_name")),
    )
    with op.batch_alter_table("indexes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_indexes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "deleted_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("deleted", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_deleted_files_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_files")),
        sa.UniqueConstraint(
            "index_id", "filename", "sha256", name=op.f("uq_deleted_files_index_id_filename_sha256")
        ),
    )
    with op.batch_alter_table("deleted_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deleted_files_index_id"), ["index_id"], unique=False)

    op.create_table(
        "index_bases",
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["indexes.id"],
            name=op.f("fk_index_bases_base_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_index_bases_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("index_id", "position", name=op.f("pk_index_bases")),
    )
    with op.batch_alter_table("index_bases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_index_bases_base_id"), ["base_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("change_token", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["indexes.id"],
            name=op.f("fk_projects_index_id_indexes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("index_id", "name", name=op.f("uq_projects_index_id_name")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_index_id"), ["index_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_projects_name"), ["name"], unique=False)

    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_versions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_versions")),
        sa.UniqueConstraint("project_id", "version", name=op.f("uq_versions_project_id_version")),
    )
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_versions_project_id"), ["project_id"], unique=False)

    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("rel", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("requires_python", sa.String(length=400), nullable=True),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
        sa.Column("upload_time", sa.DateTime(), nullable=False),
        sa.Column("uploader", sa.String(length=200), nullable=True),
        sa.Column("metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("for_file_id", sa.Integer(), nullable=True),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("download_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["for_file_id"],
            ["files.id"],
            name=op.f("fk_files_for_file_id_files"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["index_id"], ["indexes.id"], name=op.f("fk_files_index_id_indexes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
            name=op.f("fk_files_version_id_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("index_id", "filename", name=op.f("uq_files_index_id_filename")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_files_index_id"), ["index_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_version_id"))
        batch_op.drop_index(batch_op.f("ix_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_files_index_id"))

    op.drop_table("files")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_versions_project_id"))

    op.drop_table("versions")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_name"))
        batch_op.drop_index(batch_op.f("ix_projects_index_id"))

    op.drop_table("projects")
    with op.batch_alter_table("index_bases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_index_bases_base_id"))

    op.drop_table("index_bases")
    with op.batch_alter_table("deleted_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deleted_files_index_id"))

    op.drop_table("deleted_files")
    with op.batch_alter_table("indexes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indexes_user_id"))

    op.drop_table("indexes")
    op.drop_table("users")
    op.drop_table("server_state")
