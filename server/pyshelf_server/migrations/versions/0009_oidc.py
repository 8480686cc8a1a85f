"""The jti of ID tokens that trusted publishing minted tokens for (oidc/models.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_used_tokens",
        sa.Column("issuer", sa.String(400), nullable=False),
        sa.Column("jti", sa.String(200), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name=op.f("pk_oidc_used_tokens")),
    )
    op.create_index(
        op.f("ix_oidc_used_tokens_expires"), "oidc_used_tokens", ["expires"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_used_tokens_expires"), table_name="oidc_used_tokens")
    op.drop_table("oidc_used_tokens")
