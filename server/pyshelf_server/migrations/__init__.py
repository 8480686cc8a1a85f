"""Schema migrations (Alembic). The configuration is built in code; no alembic.ini is needed.

``upgrade(engine)`` brings a database to the newest schema; ``check(engine)`` tells whether the
database is older or newer than this code.

Revision files are named ``NNNN_description.py`` with revision id ``NNNN``, each revising the
one before. ``check`` relies on that to compare versions without importing Alembic, which
would add a third of a second to every server start; a test keeps the convention honest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
VERSIONS = HERE / "versions"


def known_revisions() -> list[str]:
    """Revision ids in order, from the file names."""
    return sorted(p.name.split("_", 1)[0] for p in VERSIONS.glob("[0-9]*_*.py"))


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    revisions = known_revisions()
    return revisions[-1] if revisions else ""


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def upgrade(engine: Engine) -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


class SchemaState:
    CURRENT = "current"
    OLDER = "older"
    NEWER = "newer"
    EMPTY = "empty"


def check(engine: Engine) -> str:
    current = current_revision(engine)
    if current is None:
        return SchemaState.EMPTY
    if current == head_revision():
        return SchemaState.CURRENT
    return SchemaState.OLDER if current in known_revisions() else SchemaState.NEWER
