"""Leases on background jobs, so that one process of several does a job that all of them could.

A job that every server process would otherwise run for itself (refreshing a mirror's project
list, later the scheduled clean-ups) is first claimed by name in ``job_leases``: the process
whose claim lands holds the job until the lease expires, and the others skip it. A process that
dies holding a lease blocks the job only until the lease runs out, so a lease must be longer
than the job takes and short enough that a lost holder does not hold up the work for long.

A claim is one conditional UPDATE (or the INSERT of a job never claimed) in a transaction of
its own; the database decides between racing claims, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, UTCDateTime, new_token, utcnow

# Who holds a lease: this process, as long as it runs.
THIS_PROCESS = new_token()


class JobLease(Base):
    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    expires: Mapped[datetime] = mapped_column(UTCDateTime)


_leases = JobLease.__table__


def claim(
    engine: Engine, name: str, holder: str, seconds: float, *, now: datetime | None = None
) -> bool:
    """Take (or extend) the lease on ``name`` for ``seconds``; False while another holder's
    lease runs."""
    now = now or utcnow()
    expires = now + timedelta(seconds=seconds)
    with engine.begin() as connection:
        taken = connection.execute(
            update(_leases)
            .where(
                _leases.c.name == name,
                or_(_leases.c.expires <= now, _leases.c.holder == holder),
            )
            .values(holder=holder, expires=expires)
        ).rowcount
        if taken:
            return True
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(_leases).values(name=name, holder=holder, expires=expires)
                )
        except IntegrityError:
            # Held by another process (its row was there, unexpired).
            return False
        return True


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up early, so that another process need not wait for it to run out."""
    with engine.begin() as connection:
        connection.execute(
            delete(_leases).where(_leases.c.name == name, _leases.c.holder == holder)
        )
