"""Alembic environment: runs migrations on the engine handed over by pyshelf_server.migrations."""

from __future__ import annotations

from alembic import context

from pyshelf_server.models import metadata

# A constant of pyshelf's own for PostgreSQL's advisory lock of schema upgrades.
MIGRATION_LOCK = 0x70797368656C66

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Server processes started together with --migrate take turns; the later ones
            # then find the schema current and have nothing to do.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()
    connection.commit()
