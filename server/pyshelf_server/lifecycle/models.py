"""Yanks a stage declares on releases it inherits (from a mirror or another stage): they mark
the files through that stage and the indexes inheriting from it, and leave the owner of the
files untouched."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class InheritedYank(Base):
    __tablename__ = "inherited_yanks"
    __table_args__ = (UniqueConstraint("index_id", "project", "version", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    project: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    # One file of the version, or "" for every file of it (a unique key cannot hold NULLs
    # the same way on SQLite and PostgreSQL).
    filename: Mapped[str] = mapped_column(String(400), default="")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    who: Mapped[str | None] = mapped_column(String(200), default=None)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
