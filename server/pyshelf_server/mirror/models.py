"""What a mirror keeps: the cached project pages, the files already downloaded, and the state of
its project list (the list itself is a blob in the file store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class MirrorProject(Base):
    """One project page as last received from upstream.

    ``links`` holds upstream's links as dicts (``filename``, absolute ``url``, ``hashes`` and the
    optional ``requires_python``, ``yanked``, ``core_metadata``, ``size``, ``upload_time``,
    ``version``). ``checked`` is when upstream last confirmed the page (a 200 or a 304).
    """

    __tablename__ = "mirror_projects"
    __table_args__ = (UniqueConstraint("index_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    checked: Mapped[float] = mapped_column(Float)
    etag: Mapped[str | None] = mapped_column(String(400), default=None)
    serial: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Changes whenever the links change; rendered simple pages are cached against it.
    change_token: Mapped[str] = mapped_column(String(32))
    links: Mapped[list[Any]] = mapped_column(JSON, default=list)


class MirrorFile(Base):
    """A file of a mirror that has been downloaded and verified (release files and PEP 658
    ``.metadata`` files alike). ``key`` is the hash segment of its URL: ``{h[:3]}{h[3:16]}``
    for ``+f`` paths, the URL digest for ``+e`` paths."""

    __tablename__ = "mirror_files"
    __table_args__ = (UniqueConstraint("index_id", "filename", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    filename: Mapped[str] = mapped_column(String(400))
    key: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str | None] = mapped_column(String(200), default=None)
    url: Mapped[str] = mapped_column(Text)
    stored: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    download_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Written in batches (``packages.downloads``); None: not served since it was stored.
    last_download: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MirrorState(Base):
    """The mirror's copy of upstream's project list: a sorted, newline-separated blob."""

    __tablename__ = "mirror_states"

    index_id: Mapped[int] = mapped_column(
        ForeignKey("indexes.id", ondelete="CASCADE"), primary_key=True
    )
    list_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    list_count: Mapped[int] = mapped_column(Integer, default=0)
    list_checked: Mapped[float] = mapped_column(Float, default=0.0)
    list_etag: Mapped[str | None] = mapped_column(String(400), default=None)
    list_serial: Mapped[int | None] = mapped_column(BigInteger, default=None)
