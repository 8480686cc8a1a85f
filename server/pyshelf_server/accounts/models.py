"""The user table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, false
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
