"""Assembling the WSGI application: the one place where the parts are put together."""

from __future__ import annotations

from typing import Any

import pluggy
from pyramid.config import Configurator

from . import defaultindex, logs, metrics
from .app import AppState, RequestState, request_session, request_unit_of_work
from .db import make_engine
from .plugins import make_plugin_manager
from .security import SecurityPolicy
from .serverdir import load_secret
from .settings import ServerSettings
from .simple.fastpath import SimpleFastPath
from .unit_of_work import Database

# Modules holding @view_config views; scanned explicitly so that nothing else is imported as a
# side effect (the migrations' env.py, for one, runs when imported).
VIEW_MODULES = (
    "pyshelf_server.views.errors",
    "pyshelf_server.api.views",
    "pyshelf_server.accounts.views",
    "pyshelf_server.indexes.views",
    "pyshelf_server.upload.views",
    "pyshelf_server.packages.views",
    "pyshelf_server.packages.files_views",
    "pyshelf_server.simple.views",
    "pyshelf_server.oidc.views",
    "pyshelf_server.lifecycle.views",
)


def make_app(
    settings: ServerSettings,
    *,
    pm: pluggy.PluginManager | None = None,
    engine: Any = None,
) -> Any:
    pm = pm or make_plugin_manager()
    engine = engine or make_engine(settings.database_url, threads=settings.threads)
    database = Database(engine)
    secret = load_secret(database, settings)
    state = AppState(settings=settings, pm=pm, database=database, secret=secret)

    config = Configurator(settings={"pyshelf.settings": settings})
    config.registry.pyshelf = state
    state.pyramid_registry = config.registry
    config.set_security_policy(SecurityPolicy())
    # One unit of work per request, finished by the shelf tween; its session opens on first use.
    config.add_request_method(request_unit_of_work, "uow", reify=True)
    config.add_request_method(request_session, "db", property=True)
    config.add_request_method(RequestState, "shelf", reify=True)
    # Routes first: plugins may add their own before or after ours by route order.
    config.include(".routes")
    # The shelf tween sits above the exception view tween so it sees error answers too and
    # rolls their transactions back.
    config.add_tween(
        "pyshelf_server.tweens.shelf_tween_factory", over="pyramid.tweens.excview_tween_factory"
    )
    metrics.install(config, state)
    pm.hook.pyshelf_pyramid_configure(config=config, settings=settings)
    for module in VIEW_MODULES:
        config.scan(module)
    app = config.make_wsgi_app()
    served = defaultindex.wrap(SimpleFastPath(app, state), settings.default_index)
    return logs.wrap(metrics.wrap(served, state))
