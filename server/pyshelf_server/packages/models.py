"""Projects, versions, release files (and docs and tox results) of an index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, new_token, utcnow


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("index_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    # devpi's normalisation (every run of non-alphanumerics becomes "-", lower case).
    name: Mapped[str] = mapped_column(String(200), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Changes with every change to the project's versions or files; simple-page caches key on it.
    change_token: Mapped[str] = mapped_column(String(32), default=new_token)

    versions: Mapped[list[Version]] = relationship(
        # Loaded only when asked for: a project may have thousands of versions, and an upload
        # needs one of them.
        back_populates="project",
        cascade="all, delete-orphan",
        lazy="select",
    )


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(200))
    # Core metadata as devpi's versiondata shows it (every key with a default).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="versions")
    files: Mapped[list[File]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        order_by="File.id",
        lazy="selectin",
    )


class File(Base):
    """A stored file of a version: a release file, a docs zip or a tox result.

    The bytes live in the content-addressed store under ``sha256``; the URL a client sees is
    ``/{user}/{index}/+f/{sha256[:3]}/{sha256[3:16]}/{filename}``.
    """

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("index_id", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    rel: Mapped[str] = mapped_column(String(20), default="releasefile")
    filename: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    requires_python: Mapped[str | None] = mapped_column(String(400), default=None)
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    upload_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploader: Mapped[str | None] = mapped_column(String(200), default=None)
    # sha256 of the wheel's METADATA file (PEP 658), stored as a blob of its own.
    metadata_sha256: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # For tox results: the release file they are about.
    # Indexed: deleting a file looks its tox results up (the cascade).
    for_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), default=None, index=True
    )
    # devpi's upload/push/overwrite log entries.
    log: Mapped[list[Any]] = mapped_column(JSON, default=list)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    # Written with the download counts, in batches (``downloads``); None: never downloaded.
    last_download: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # A release file's entries on simple pages, rendered when it is stored
    # (``simple.render.html_tail``/``json_tail``); None means "render from the columns".
    simple_html: Mapped[str | None] = mapped_column(Text, default=None)
    simple_json: Mapped[str | None] = mapped_column(Text, default=None)
    # The PEP 740 provenance object (JSON) built from the attestations sent with the upload.
    provenance: Mapped[str | None] = mapped_column(Text, default=None)

    version: Mapped[Version] = relationship(back_populates="files")


# What a file's stored simple-page entries are rendered from.
_RENDERED = (
    "filename",
    "sha256",
    "size",
    "requires_python",
    "yanked",
    "yanked_reason",
    "upload_time",
    "metadata_sha256",
    "provenance",
)


@event.listens_for(File, "before_update")
def _forget_stale_tails(_mapper: Any, _connection: Any, file: File) -> None:
    """A change to what the entries show (a yank, say) drops them: the page then renders the
    file from its columns, and can never show the old state."""
    state = inspect(file)
    if any(state.attrs[name].history.has_changes() for name in _RENDERED):
        if not state.attrs.simple_html.history.has_changes():
            file.simple_html = None
        if not state.attrs.simple_json.history.has_changes():
            file.simple_json = None


class DeletedFile(Base):
    """A tombstone, so that the URL of a deleted file answers 410 instead of 404."""

    __tablename__ = "deleted_files"
    __table_args__ = (UniqueConstraint("index_id", "filename", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index_id: Mapped[int] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
