"""Statements run on the driver's cursor (statements.py) read and write what Core would."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, insert, select

from pyshelf_server.accounts.models import User
from pyshelf_server.indexes.models import Index
from pyshelf_server.packages.models import Project, Version
from pyshelf_server.statements import DriverStatement

PROJECTS = Project.__table__
VERSIONS = Version.__table__

INSERT_PROJECT = DriverStatement.insert(PROJECTS, returning=[PROJECTS.c.id])
INSERT_VERSION = DriverStatement.insert(VERSIONS, returning=[VERSIONS.c.id])
VERSION = DriverStatement(
    select(VERSIONS.c.version, VERSIONS.c.meta, VERSIONS.c.created).where(
        VERSIONS.c.project_id == bindparam("project_id")
    )
)


@pytest.fixture
def engine(make_app):
    return make_app().registry.pyshelf.engine


@pytest.fixture
def index_id(engine):
    with engine.begin() as connection:
        user_id = connection.execute(select(User.id).where(User.name == "root")).scalar_one()
        return connection.execute(
            insert(Index.__table__).values(user_id=user_id, name="dev", type="stage")
        ).inserted_primary_key[0]


def test_an_insert_fills_the_python_side_defaults_and_returns_the_new_id(engine, index_id):
    with engine.begin() as connection:
        (project_id,) = INSERT_PROJECT.rows(
            connection, {"index_id": index_id, "name": "hello", "display_name": "Hello"}
        )[0]
        row = connection.execute(select(PROJECTS).where(PROJECTS.c.id == project_id)).one()
    assert (row.name, row.display_name, row.index_id) == ("hello", "Hello", index_id)
    # Both are Python-side defaults Core would have filled in.
    assert len(row.change_token) == 32
    assert abs(row.created - datetime.now(UTC)).total_seconds() < 60


def test_values_and_results_go_through_the_column_types(engine, index_id):
    created = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    with engine.begin() as connection:
        (project_id,) = INSERT_PROJECT.rows(
            connection, {"index_id": index_id, "name": "hello", "display_name": "hello"}
        )[0]
        INSERT_VERSION.rows(
            connection,
            {"project_id": project_id, "version": "1.0", "meta": {"summary": "hi", "n": [1]}},
        )
        INSERT_VERSION.rows(
            connection,
            {"project_id": project_id, "version": "2.0", "meta": {}, "created": created},
        )
        rows = sorted(VERSION.rows(connection, {"project_id": project_id}))
        # What Core reads back from the same rows.
        core = sorted(
            connection.execute(
                select(VERSIONS.c.version, VERSIONS.c.meta, VERSIONS.c.created).where(
                    VERSIONS.c.project_id == project_id
                )
            ).all()
        )
    assert rows == [tuple(row) for row in core]
    assert rows[0][1] == {"summary": "hi", "n": [1]}
    assert rows[1][2] == created


def test_a_missing_value_is_refused_before_anything_runs(engine):
    with engine.begin() as connection, pytest.raises(KeyError, match="project_id"):
        VERSION.rows(connection, {})


def test_driver_errors_are_raised_as_sqlalchemys(engine, index_id):
    values = {"index_id": index_id, "name": "twice", "display_name": "twice"}
    with engine.begin() as connection:
        INSERT_PROJECT.rows(connection, values)
        with pytest.raises(exc.IntegrityError):
            INSERT_PROJECT.rows(connection, values)
