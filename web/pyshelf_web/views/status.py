"""``/+status`` as a page: versions, plugins, serial, storage, search and mirror health."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from pyshelf_server.plugin_api import ROUTE_STATUS, reader, status_info

from ..catalog import storage_used
from ..templating import render

# Keys the page shows in their own sections; any other key a plugin reports is listed as is.
SHOWN = {
    "serverdir",
    "uuid",
    "role",
    "versioninfo",
    "host",
    "port",
    "outside-url",
    "serial",
    "event-serial",
    "started",
    "database",
    "offline-mode",
    "metrics",
    "search-index",
    "held-back",
}


@view_config(route_name=ROUTE_STATUS, request_method=("GET", "HEAD"), html_wanted=True)
def status(request: Any) -> Any:
    info = status_info(request)
    shelf = reader(request)
    # Mirrors report their upstream's health when they can (last fetch, last error).
    health = [(i, shelf.mirror_status(i)) for i in shelf.indexes() if i.is_mirror]
    return render(
        request,
        "status.html",
        info=info,
        storage=storage_used(request),
        health=health,
        held_back=info.get("held-back", {}),
        extra={k: v for k, v in info.items() if k not in SHOWN},
    )
