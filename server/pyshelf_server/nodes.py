"""The server processes serving one database, and the settings they must agree on.

Each process registers itself in ``server_nodes`` at start with the settings that shape its
answers and the plugins it loaded, and keeps its row fresh with a heartbeat. A process that
finds a live process with other such settings refuses to start, naming what differs: two
processes behind one load balancer that answer differently (one with a lock-down plugin, one
without) are worse than one that does not start. Settings that only concern one process (its
address, threads, directories) may differ.

A row whose heartbeat is older than ``STALE_AFTER`` belongs to a process that is gone (killed,
or its machine lost); changing a setting that must agree therefore means stopping every process
and starting them again with the new setting.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .background import PeriodicThread
from .db import Base, UTCDateTime, new_token, utcnow
from .settings import ServerSettings
from .unit_of_work import Database

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)

# Settings of one process alone; every other setting (plugin options included) must agree.
PER_PROCESS = frozenset(
    {
        "serverdir", "host", "port", "threads", "connection_limit", "db_url", "storage_url",
        "s3_endpoint_url",
        "debug", "options", "metrics", "metrics_token",
        "x_accel_redirect",
    }
)


class ServerNode(Base):
    __tablename__ = "server_nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started: Mapped[Any] = mapped_column(UTCDateTime)
    heartbeat: Mapped[Any] = mapped_column(UTCDateTime)
    # What must agree: {"settings": {...}, "plugins": {distribution: version}}.
    agreed: Mapped[dict[str, Any]]


class SettingsDisagree(Exception):
    """Another live process serves this database with other settings; the message says which."""


def agreed_settings(settings: ServerSettings, plugins: dict[str, str]) -> dict[str, Any]:
    values = {k: v for k, v in asdict(settings).items() if k not in PER_PROCESS}
    values.update({f"option:{k}": v for k, v in settings.options.items()})
    # Through JSON, so that what is compared is what the database gives back.
    return json.loads(json.dumps({"settings": values, "plugins": plugins}, default=str))


def differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    found = []
    for part in ("settings", "plugins"):
        a, b = mine.get(part, {}), theirs.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                label = key if part == "settings" else f"plugin {key}"
                found.append(f"{label}: {b.get(key)!r} there, {a.get(key)!r} here")
    return found


class NodeRegistry:
    """This process's row in ``server_nodes``: checked and written at start, refreshed by a
    heartbeat thread, removed at a clean stop."""

    def __init__(
        self, database: Database, settings: ServerSettings, plugins: dict[str, str]
    ) -> None:
        self.database = database
        self.id = new_token()
        self.agreed = agreed_settings(settings, plugins)
        self.beat: PeriodicThread | None = None

    def register(self) -> None:
        """Refuse to join live processes with other settings; else add this process."""
        table = ServerNode.__table__
        now = utcnow()
        # Under the write lock: processes starting together check each other in turn. Which
        # processes serve is bookkeeping, no change of what clients see.
        with self.database.writing(counts_as_change=False) as uow:
            connection = uow.session.connection()
            connection.execute(delete(table).where(table.c.heartbeat < now - STALE_AFTER))
            for row in connection.execute(select(table)).mappings():
                found = differences(self.agreed, row["agreed"])
                if found:
                    raise SettingsDisagree(
                        f"the server process {row['pid']} on {row['host']} serves this "
                        f"database with other settings ({'; '.join(found)}); start every "
                        "process with the same settings and plugins (to change one, stop them "
                        "all first)"
                    )
            self._insert(connection)

    def _insert(self, connection: Any) -> None:
        now = utcnow()
        connection.execute(
            ServerNode.__table__.insert().values(
                id=self.id, host=socket.gethostname()[:255], pid=os.getpid(),
                started=now, heartbeat=now, agreed=self.agreed,
            )
        )

    def start(self, interval: float = HEARTBEAT_SECONDS) -> None:
        self.beat = PeriodicThread("node-heartbeat", interval, self.heartbeat)
        self.beat.start()

    def heartbeat(self) -> None:
        table = ServerNode.__table__
        with self.database.writing(counts_as_change=False) as uow:
            connection = uow.session.connection()
            touched = connection.execute(
                update(table).where(table.c.id == self.id).values(heartbeat=utcnow())
            ).rowcount
            if not touched:
                # Taken for gone (a pause longer than STALE_AFTER): be counted again.
                self._insert(connection)

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.stop(timeout=5)
        try:
            with self.database.writing(counts_as_change=False) as uow:
                connection = uow.session.connection()
                table = ServerNode.__table__
                connection.execute(delete(table).where(table.c.id == self.id))
        except Exception:
            log.exception("could not remove this process from server_nodes")


def live_nodes(connection: Any) -> list[dict[str, Any]]:
    """The processes serving this database, for ``/+status``."""
    table = ServerNode.__table__
    rows = connection.execute(
        select(table.c.host, table.c.pid, table.c.started, table.c.heartbeat)
        .where(table.c.heartbeat >= utcnow() - STALE_AFTER)
        .order_by(table.c.started)
    ).mappings()
    return [
        {"host": r["host"], "pid": r["pid"], "started": r["started"].timestamp(),
         "heartbeat-age": round(time.time() - r["heartbeat"].timestamp(), 1)}
        for r in rows
    ]
