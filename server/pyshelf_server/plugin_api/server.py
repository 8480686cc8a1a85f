"""The server's settings and serial."""

from __future__ import annotations

from typing import Any

from ..settings import ServerSettings


def server_settings(registry_or_request: Any) -> ServerSettings:
    """The server's settings; plugin options are in ``.options`` keyed by argparse ``dest``."""
    registry = getattr(registry_or_request, "registry", registry_or_request)
    settings: ServerSettings = registry.pyshelf.settings
    return settings


def server_serial(registry: Any) -> int:
    """The server's serial (``X-Devpi-Serial``) as last read: it grows with every committed
    change, of any server process on the database. Cheap enough to poll."""
    serial: int = registry.pyshelf.state_reader.read()[0]
    return serial
