"""Release files keep their simple-page entries, rendered once when they are stored.

Files stored before this revision have none; their pages are rendered from the columns as
before, so no data is rewritten here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("simple_html", sa.Text(), nullable=True))
    op.add_column("files", sa.Column("simple_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("simple_json")
        batch.drop_column("simple_html")
