"""The ``mirror`` index type: its options (named as devpi names them) and its registration
with the core through hooks."""

from __future__ import annotations

from typing import Any

from .. import hookimpl
from ..indexes.types import (
    COMMON_OPTIONS,
    MIRROR_RETENTION_OPTIONS,
    IndexType,
    Option,
    OptionError,
    to_bool,
    to_int,
    to_url,
)


def to_expiry(key: str, value: Any) -> int:
    seconds = to_int(key, value)
    if seconds < 0:
        raise OptionError(f"'{key}' option must not be negative")
    return seconds


def to_web_url_fmt(key: str, value: Any) -> str:
    if not isinstance(value, str) or "{name}" not in value:
        raise OptionError(f"'{key}' option must be a string containing '{{name}}'")
    return value


class MirrorType(IndexType):
    """An index whose projects come from an upstream simple index, cached locally.

    ``mirror_cache_expiry`` has no stored default: an index without it follows the server's
    ``--mirror-cache-expiry``, so changing the server option affects every such mirror.
    """

    name = "mirror"
    is_mirror = True
    dropped = frozenset(
        {"bases", "acl_upload", "mirror_whitelist", "mirror_whitelist_inheritance",
         "pypi_whitelist"}
    )
    options = {
        **COMMON_OPTIONS,
        "mirror_url": Option(to_url),
        "mirror_cache_expiry": Option(to_expiry),
        "mirror_web_url_fmt": Option(to_web_url_fmt),
        "mirror_no_project_list": Option(to_bool),
        "mirror_use_external_urls": Option(to_bool),
        "mirror_ignore_serial_header": Option(to_bool),
        # devpi proxies PEP 658 metadata only when asked; pyshelf passes upstream's metadata
        # through unless this is set to false.
        "mirror_provides_core_metadata": Option(to_bool),
        **MIRROR_RETENTION_OPTIONS,
    }
    required = ("mirror_url",)

    def make_backend(self, *, session: Any, index: Any, app: Any) -> Any:
        from .backend import MirrorBackend

        return MirrorBackend(session=session, index=index, app=app)


@hookimpl
def pyshelf_get_index_types() -> list[type[IndexType]]:
    return [MirrorType]


@hookimpl
def pyshelf_pyramid_configure(config: Any) -> None:
    config.scan("pyshelf_server.mirror.views")


# Seconds after the server started before the upstream client is made and the start's heap
# frozen (see below).
CLIENT_WARMUP_DELAY = 0.5


@hookimpl
def pyshelf_server_start(registry: Any) -> None:
    """Shortly after the start, in the background:

    * make the upstream client: loading the CA certificates into its TLS context takes
      50-150 ms, which the first mirrored page would otherwise wait for;
    * move everything the start made (modules, classes, the frameworks' registries, the
      client) out of the garbage collector's sight (``gc.freeze``). A full collection walks
      every tracked object; with the start's heap in it, one took 50-150 ms, and it comes due
      in whichever request allocates most: the mirror's large pages (thousands of links)
      above all. Frozen, those objects are never collected, which they would not be anyway.

    Delayed so that neither slows the start itself."""
    import gc
    import logging
    import threading

    def warm_up() -> None:
        from .runtime import runtime

        try:
            runtime(registry.pyshelf).upstream.client  # noqa: B018 (made on first access)
        except Exception:  # made again, with the error, on the first real use
            logging.getLogger(__name__).debug("upstream client warm-up failed", exc_info=True)
        gc.freeze()

    timer = threading.Timer(CLIENT_WARMUP_DELAY, warm_up)
    timer.daemon = True
    timer.name = "mirror-client-warmup"
    timer.start()


@hookimpl
def pyshelf_server_stop(registry: Any) -> None:
    from .runtime import close_runtime

    close_runtime(registry.pyshelf)
