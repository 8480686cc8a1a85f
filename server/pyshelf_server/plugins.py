"""The plugin manager: the hook specs, the core's own implementations and installed plugins."""

from __future__ import annotations

from typing import Any

import pluggy

from . import (
    hookimpl,  # noqa: F401  (one marker for core and plugins)
    hookspecs,
)

ENTRY_POINT_GROUP = "pyshelf_server"

# Core modules that implement hooks themselves, registered like any plugin.
CORE_PLUGINS = (
    "pyshelf_server.security",
    "pyshelf_server.indexes.types",
    "pyshelf_server.mirror.types",
)


def make_plugin_manager(
    *, load_entry_points: bool = True, extra: list[Any] = ()
) -> pluggy.PluginManager:
    import importlib

    pm = pluggy.PluginManager("pyshelf")
    pm.add_hookspecs(hookspecs)
    for name in CORE_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


def plugin_versions(pm: pluggy.PluginManager) -> dict[str, str]:
    """Name and version of every plugin: installed distributions by their metadata, plugins
    registered by hand (tests, embedding) by their module name."""
    versions = {dist.project_name: dist.version for _plugin, dist in pm.list_plugin_distinfo()}
    from_distributions = {id(plugin) for plugin, _dist in pm.list_plugin_distinfo()}
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or ""
        if name in CORE_PLUGINS or id(plugin) in from_distributions:
            continue
        label = getattr(plugin, "__name__", type(plugin).__name__)
        versions[label] = str(getattr(plugin, "__version__", "unknown"))
    return dict(sorted(versions.items()))
