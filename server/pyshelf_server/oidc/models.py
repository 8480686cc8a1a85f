"""The ``jti`` of every ID token a publisher token was minted for, until it could not pass anyway.

In the database, so that a token replayed at another server process of the same database is
refused too. The primary key makes the second insert of one (issuer, jti) fail, on SQLite and
PostgreSQL alike: that is the whole replay check, with no race between check and insert.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class UsedIdToken(Base):
    __tablename__ = "oidc_used_tokens"

    issuer: Mapped[str] = mapped_column(String(400), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    # After this the token fails its exp check anyway (exp + leeway + margin): the row may go.
    expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
