"""The index table and the ordered bases association."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..db import Base, UTCDateTime, utcnow


class Index(Base):
    __tablename__ = "indexes"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(50), default="stage")
    volatile: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every other option of the index (acl_upload, mirror_whitelist, title, mirror_url, plugin
    # keys, ...) as the JSON the API shows; the index type validates and coerces it.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
    base_links: Mapped[list[IndexBase]] = relationship(
        foreign_keys="IndexBase.index_id",
        order_by="IndexBase.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def fullname(self) -> str:
        return f"{self.user.name}/{self.name}"


class IndexBase(Base):
    """One entry of an index's ordered ``bases`` list."""

    __tablename__ = "index_bases"

    index_id: Mapped[int] = mapped_column(
        ForeignKey("indexes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)

    base: Mapped[Index] = relationship(foreign_keys=[base_id], lazy="joined")
