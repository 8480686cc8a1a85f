"""The schema: migrations build exactly the models' tables, and revisions follow the naming
convention the start-up check relies on."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from pyshelf_server import migrations
from pyshelf_server.models import metadata


def test_revision_files_follow_the_naming_convention():
    script = ScriptDirectory.from_config(migrations.alembic_config())
    chain = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert chain == migrations.known_revisions()
    assert script.get_current_head() == migrations.head_revision()


def test_migrations_match_the_models(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert migrations.check(engine) == migrations.SchemaState.EMPTY
    migrations.upgrade(engine)
    assert migrations.check(engine) == migrations.SchemaState.CURRENT
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    engine.dispose()
