"""Schema migrations (Alembic). The configuration is built in code; no alembic.ini is needed.

``upgrade(engine)`` brings a database to the newest schema; ``check(engine)`` tells whether the
database is older or newer than this code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
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
    head = head_revision()
    if current == head:
        return SchemaState.CURRENT
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaState.OLDER if current in known else SchemaState.NEWER
