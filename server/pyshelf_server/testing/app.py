"""The WSGI application in-process (``make_app``), on a server directory initialised once per
test process and copied for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .credentials import ROOT_PASSWORD, cheap_password_hashing
from .postgres import database_backend, postgres_cluster

_TEMPLATE: dict[str, Path] = {}


def make_settings(serverdir: Path, **overrides: Any) -> Any:
    """Settings for a server directory at ``serverdir``, initialised if new.

    Running the migrations takes a good part of a second; tests get a copy of one server
    directory initialised once per test process instead.
    """
    import shutil
    import tempfile

    from ..serverdir import initialise, is_initialised
    from ..settings import ServerSettings

    settings = ServerSettings(serverdir=serverdir, **overrides)
    if is_initialised(settings):
        return settings
    if settings.db_url:
        initialise(settings, root_password=ROOT_PASSWORD)
        return settings
    backend = database_backend()
    template = _TEMPLATE.get(backend)
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="pyshelf-template-")) / "server"
        if backend == "postgresql":
            # The template database must have no connection open when it is cloned:
            # ``initialise`` disposes of its engine.
            template_url = postgres_cluster().create_database()
            initialise(
                ServerSettings(serverdir=template, db_url=template_url),
                root_password=ROOT_PASSWORD,
            )
            from sqlalchemy.engine import make_url

            _TEMPLATE["postgresql-db"] = make_url(template_url).database
        else:
            initialise(ServerSettings(serverdir=template), root_password=ROOT_PASSWORD)
        _TEMPLATE[backend] = template
    shutil.copytree(template, settings.serverdir)
    if backend == "postgresql":
        url = postgres_cluster().create_database(template=_TEMPLATE["postgresql-db"])
        settings.db_url_file.unlink()
        settings.db_url_file.write_text(url + "\n")
        settings.db_url_file.chmod(0o600)
    return settings


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    """Build the WSGI app on a fresh server directory: ``make_app(plugins=[…], **settings)``."""
    cheap_password_hashing()
    engines = []

    def make(*, plugins: list[Any] = (), load_entry_points: bool = False, **overrides: Any) -> Any:
        from ..config import make_app as build
        from ..db import make_engine
        from ..plugins import make_plugin_manager

        settings = make_settings(tmp_path / "app-serverdir", **overrides)
        engine = make_engine(settings.database_url)
        engines.append(engine)
        pm = make_plugin_manager(load_entry_points=load_entry_points, extra=list(plugins))
        return build(settings, pm=pm, engine=engine)

    yield make
    for engine in engines:
        engine.dispose()
