"""The plugin manager: the hook specs, the core's own implementations and installed plugins."""

from __future__ import annotations

from importlib import metadata
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
    """Name and version of every installed plugin distribution (not the core modules)."""
    versions = {}
    for _plugin, dist in pm.list_plugin_distinfo():
        versions[dist.project_name] = dist.version
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or ""
        if name in CORE_PLUGINS or not hasattr(plugin, "__name__"):
            continue
        versions.setdefault(_distribution_of(plugin) or plugin.__name__, _version_of(plugin))
    return dict(sorted(versions.items()))


def _distribution_of(module: Any) -> str | None:
    top = getattr(module, "__name__", "").split(".")[0]
    for dist_name in metadata.packages_distributions().get(top, []):
        return dist_name
    return None


def _version_of(module: Any) -> str:
    dist = _distribution_of(module)
    if dist:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return str(getattr(module, "__version__", "unknown"))
