"""``/+status`` as a page: versions, plugins, serial, storage, search and mirror health."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from pyshelf_server.api.views import status_info

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
}


@view_config(route_name="status", request_method=("GET", "HEAD"), html_wanted=True)
def status(request: Any) -> Any:
    info = status_info(request)
    mirrors = [i for i in request.shelf.snapshot.by_name.values() if i.is_mirror]
    health = []
    for mirror in sorted(mirrors, key=lambda i: i.fullname):
        backend = request.shelf.backend(mirror)
        # Mirrors report their upstream's health when they can (last fetch, last error).
        report = getattr(backend, "upstream_status", None)
        health.append((mirror, report() if report is not None else None))
    return render(
        request,
        "status.html",
        info=info,
        storage=storage_used(request),
        health=health,
        extra={k: v for k, v in info.items() if k not in SHOWN},
    )
