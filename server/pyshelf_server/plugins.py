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


class UnknownPlugin(ValueError):
    """A plugin was selected by a name no installed distribution registers."""


def installed_plugin_names() -> list[str]:
    """The entry-point names of the installed plugins (``web``, ``lockdown`` …), sorted."""
    from importlib.metadata import entry_points

    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def parse_plugin_selection(text: str | None) -> list[str] | None:
    """``--plugins`` as names: None (option not given) loads every installed plugin, an empty
    value none of them."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def make_plugin_manager(
    *,
    load_entry_points: bool = True,
    extra: list[Any] = (),
    only: list[str] | None = None,
) -> pluggy.PluginManager:
    """The plugin manager with the core's hooks, the installed plugins (``only`` those named
    when given; :class:`UnknownPlugin` for a name not installed) and ``extra``."""
    import importlib

    pm = pluggy.PluginManager("pyshelf")
    pm.add_hookspecs(hookspecs)
    for name in CORE_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points and only is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    elif load_entry_points:
        installed = installed_plugin_names()
        unknown = sorted(set(only) - set(installed))
        if unknown:
            raise UnknownPlugin(
                f"no installed plugin is named {', '.join(unknown)} "
                f"(installed: {', '.join(installed) or 'none'})"
            )
        for name in dict.fromkeys(only):
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
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
