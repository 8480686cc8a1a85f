"""The user table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # passlib hash string (argon2 by default); never a plaintext password.
    password_hash: Mapped[str] = mapped_column(String(400))
    email: Mapped[str | None] = mapped_column(String(400), default=None)
    title: Mapped[str | None] = mapped_column(String(400), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    custom_data: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    # May read, never upload or change anything anywhere (accounts/readonly.py); set by root.
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def is_root(self) -> bool:
        return self.name == "root"


class ApiToken(Base):
    """An API token (accounts.tokens): its id and what verifies it, never the token itself."""

    __tablename__ = "api_tokens"

    # The id in the macaroon's identifier ``<user>-<id>``, unique server-wide.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Random; the macaroon's root key is an HMAC of it under the server secret, so this column
    # alone cannot make or check a token.
    seed: Mapped[str] = mapped_column(String(64))
    # The caveats it was created with (``expires=…``), as the token list shows them.
    restrictions: Mapped[Any] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
