"""The hooks through which plugins extend the server.

Plugins are distributions that register a module under the ``pyshelf_server`` entry-point group;
that module implements some of these hooks with ``pyshelf_server.hookimpl``. Hooks are always
called with keyword arguments, so an implementation may accept only the arguments it needs and
specs can grow new arguments without breaking plugins.

Besides these hooks a plugin uses only :mod:`pyshelf_server.plugin_api` (see
``docs/plugins.md``). ``index`` arguments are ``plugin_api.IndexInfo`` values; ``registry`` is
the Pyramid registry, which ``plugin_api.open_reader`` and ``plugin_api.server_settings`` take.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("pyshelf")


@hookspec
def pyshelf_add_parser_options(parser: Any) -> None:
    """Add command-line options to ``pyshelf-server``'s argparse ``parser``.

    Each option should also read an environment variable ``PYSHELF_<NAME>``; use
    ``plugin_api.env_default(name, default)`` for its default. The parsed values end up in
    ``settings.options`` (a dict keyed by the argparse ``dest``).
    """


@hookspec
def pyshelf_pyramid_configure(config: Any, settings: Any) -> None:
    """Add routes, views, templates or tweens to the Pyramid ``config``.

    Called after the core routes are added and before the final ``config.commit()``.
    ``settings`` is the :class:`plugin_api.ServerSettings`.
    """


@hookspec
def pyshelf_get_index_types() -> list[Any]:
    """Return :class:`plugin_api.IndexType` subclasses to register.

    An index type owns the option schema of its indexes and may filter projects, versions and
    links after inheritance has merged them (devpi-constrained does that). A type that
    overrides ``filter_links`` gets pages rendered from the merged links; it may set
    ``changes_links = False`` when its filter keeps every link, so that its pages are joined
    from the entries stored at upload instead.
    """


@hookspec
def pyshelf_indexconfig_defaults(index_type: str) -> dict[str, Any] | None:
    """Return extra option keys (with their defaults) that indexes of ``index_type`` accept.

    The defaults are added to every index of that type when it is created or modified, as
    devpi-jenkins does with ``uploadtrigger_jenkins``.
    """


@hookspec
def pyshelf_index_options(index_type: str) -> dict[str, Any] | None:
    """Return extra options that indexes of ``index_type`` accept, as
    ``{key: plugin_api.Option(coerce, default)}``: ``coerce(key, value)`` checks and converts
    a value given by a client (raise ``plugin_api.OptionError`` for a 400 with its message),
    ``default(owner)`` gives the value a new or modified index gets when it has none.
    """


@hookspec(firstresult=True)
def pyshelf_get_credentials(request: Any) -> tuple[str, str] | None:
    """Return ``(username, secret)`` found in ``request``, or None.

    The core implementation reads ``X-Devpi-Auth`` and HTTP Basic; a plugin may add sources such
    as a login cookie. The first non-None answer wins.
    """


@hookspec(firstresult=True)
def pyshelf_authenticate(request: Any, username: str, secret: str) -> str | None:
    """Return the authenticated user name for these credentials, or None to decline.

    The core implementation accepts the user's password or a login token. Bad credentials are
    never an error: the request just stays anonymous.
    """


@hookspec
def pyshelf_identity_groups(request: Any, username: str) -> list[str] | None:
    """Return the groups of the authenticated user ``username`` (from LDAP, a file, …).

    The answers of all plugins are joined. An index ACL entry ``:NAME`` (devpi's syntax, e.g.
    ``acl_upload=:developers``) admits every member of group ``NAME``.
    """


@hookspec(firstresult=True)
def pyshelf_permits(request: Any, context: Any, permission: str, identity: Any) -> bool | None:
    """Decide ``permission`` on ``context`` for ``identity`` (None when anonymous).

    Return True or False to decide, or None to leave the decision to the index's ACLs.
    """


@hookspec(firstresult=True)
def pyshelf_authcheck(request: Any, identity: Any, route_name: str | None) -> Any:
    """Called for every request before its view. Return None to let it pass, or a Pyramid
    response (or raise an HTTP exception) to answer it instead, e.g. 401 for a locked-down
    server.

    ``identity`` is a ``plugin_api.Identity`` (None when anonymous); ``route_name`` the name of
    the route the request matched (``plugin_api.ROUTE_*``, a plugin's own, or None when none
    did), decided before the route's context is built — an unknown index is not yet a 404.
    """


@hookspec(firstresult=True)
def pyshelf_index_hidden(request: Any, index: Any, identity: Any) -> bool | None:
    """Return True to leave ``index`` out of the listings ``request`` gets (``/``, a user's
    JSON, ``plugin_api.reader(request).indexes()`` and ``.users()``, and so the web pages):
    for an index the requester may not read. ``identity`` as in ``pyshelf_permits``."""


@hookspec
def pyshelf_on_upload(request: Any, index: Any, project: str, version: str, file: Any) -> Any:
    """A release file was stored (upload or push), after the transaction committed.

    ``file`` is a :class:`plugin_api.FileInfo`. Return a string to report a
    failure of the plugin's own work (it is added to the upload answer's reason phrase); the
    file stays stored either way.
    """


@hookspec
def pyshelf_on_docs_upload(request: Any, index: Any, project: str, version: str, file: Any) -> None:
    """A documentation zip was stored, after the transaction committed."""


@hookspec
def pyshelf_on_push(request: Any, source: Any, target: str, project: str, version: str) -> None:
    """A version was pushed from ``source`` to the index ``target`` (``user/index``, or a URL for
    a push to another server), after the transaction committed."""


@hookspec
def pyshelf_on_remove(request: Any, index: Any, project: str, version: str | None) -> None:
    """A version (or, with ``version`` None, a whole project) was removed from ``index``."""


@hookspec
def pyshelf_on_mirror_project_changed(registry: Any, index: Any, project: str, app: Any) -> None:
    """A mirror stored a newly fetched or changed project page, or dropped one upstream no
    longer has, after its own transaction committed. Called from whatever thread fetched it
    (often not a request's); ``registry`` is the Pyramid registry, ``index`` the mirror's
    ``IndexInfo``. (``app`` is the server's internal state, kept for older plugins.)
    """


@hookspec
def pyshelf_index_created(request: Any, index: Any) -> None:
    """The index ``index`` was created, after the transaction committed."""


@hookspec
def pyshelf_index_changed(request: Any, index: Any, old_options: dict[str, Any]) -> None:
    """The configuration of ``index`` (as it is now) was changed, after the transaction
    committed. ``old_options`` is the configuration before, as the index's JSON showed it:
    ``type``, ``bases`` (not on mirrors), ``volatile`` and every option."""


@hookspec
def pyshelf_index_deleted(request: Any, index: Any) -> None:
    """The index ``index`` (as it was) was deleted, on its own or with its user, after the
    transaction committed."""


@hookspec
def pyshelf_simple_extra_links(request: Any, index: Any, project: str) -> list[Any] | None:
    """Return extra links (:class:`plugin_api.Link`) for a simple page."""


@hookspec
def pyshelf_index_page_links(request: Any, index: Any) -> list[tuple[str, str]] | None:
    """Return ``(label, absolute URL)`` of pages the plugin serves about ``index`` (such as
    findlinks' ``+findlinks``), for the index's web page to link."""


@hookspec
def pyshelf_account_links(request: Any) -> list[tuple[str, str]] | None:
    """Return ``(label, absolute URL)`` of account pages (log in, log out) for the web pages'
    header, as fits ``request.identity``."""


@hookspec
def pyshelf_get_status_info(request: Any) -> dict[str, Any] | None:
    """Return extra keys for the ``/+status`` answer (metrics, queue sizes, health)."""


@hookspec(firstresult=True)
def pyshelf_cmdline_run(registry: Any) -> int | None:
    """Called by ``pyshelf-server`` once the application is built, before it serves.

    ``registry`` is the Pyramid registry (the parsed plugin options are in
    ``plugin_api.server_settings(registry).options``). Return an exit code to stop
    instead of serving (a one-off command such as ``--recreate-search-index``), or None to go on.
    """


@hookspec
def pyshelf_server_start(registry: Any) -> None:
    """The server is about to serve: start background work (indexer threads and the like).

    Not called for applications built in-process by tests; plugins must work without it and
    start their threads lazily if they need them there.
    """


@hookspec
def pyshelf_server_stop(registry: Any) -> None:
    """The server stopped serving: finish or persist background work, close files."""
