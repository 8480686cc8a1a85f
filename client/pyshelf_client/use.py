"""show or set the current server and index

With URL (a server root or an index URL), or USER/INDEX relative to the current server,
remember it as the target of the other commands. Without arguments show the current
state: server, index, login and the simple URL pip should use.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from . import pipconfig
from .errors import ServerError, UsageError
from .hub import Hub, root_from_login_url

COMMAND = "use"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="URL|USER/INDEX",
        help="server root URL, index URL, or USER/INDEX on the current server",
    )
    parser.add_argument("--urls", action="store_true", help="show the URLs of the current index")
    parser.add_argument(
        "-l", "--list", action="store_true", help="list every index on the current server"
    )
    parser.add_argument("--delete", action="store_true", help="forget the current server and index")
    parser.add_argument(
        "--set-cfg",
        action="store_true",
        help="write pip's, uv's and .pypirc's configuration so plain installs use the index",
    )
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help="with --set-cfg, also write this API token as the upload credential of "
        ".pypirc and poetry ('-': read it from standard input; default: $PYSHELF_TOKEN)",
    )
    parser.add_argument(
        "--always-set-cfg",
        choices=["yes", "no"],
        help="with yes, every later `use` of an index also does --set-cfg",
    )


def main(hub: Hub, args: argparse.Namespace) -> int:
    if args.delete:
        if hub.clientdir.delete_current():
            hub.line(f"forgot the current server and index ({hub.clientdir.current_path})")
        else:
            hub.line("no current server to forget")
        return 0

    changed_index = False
    if args.target:
        changed_index = switch(hub, args.target)
    elif hub.current.root:
        refresh(hub)

    if args.always_set_cfg is not None:
        hub.current.always_set_cfg = args.always_set_cfg == "yes"
        hub.save_current()

    if args.set_cfg or (hub.current.always_set_cfg and (changed_index or args.always_set_cfg)):
        set_cfg(hub, token=_token(args))
    elif args.token:
        raise UsageError("--token is written by --set-cfg: give both")

    if args.list:
        list_indexes(hub)
        return 0
    show(hub, urls=args.urls)
    return 0


def _resolve_target(hub: Hub, target: str) -> str:
    if "://" in target:
        # The web UI shows an index's "+simple/" URL: it means the index.
        return re.sub(r"/\+simple/?$", "/", target)
    name = target.strip("/")
    if "/" not in name:
        login = hub.login_for()
        if login is None:
            raise UsageError(
                f"{target!r} is not USER/INDEX; log in first to use an index of your own user"
            )
        name = f"{login.user}/{name}"
    if name.count("/") != 1:
        raise UsageError(f"{target!r} is neither a URL nor USER/INDEX")
    return hub.url_for(name)


def switch(hub: Hub, target: str) -> bool:
    """Point the client at *target*; return True when the index changed."""
    url = _resolve_target(hub, target)
    api = hub.fetch_api(url)
    old_index = hub.current.index
    apply_api(hub, api, url)
    check_index_access(hub)
    hub.save_current()
    return hub.current.index != old_index


def refresh(hub: Hub) -> None:
    """Re-read ``+api`` so features and login status are current."""
    api = hub.fetch_api(hub.current.index or hub.current.root)
    apply_api(hub, api, hub.current.index or hub.current.root)
    check_index_access(hub)
    hub.save_current()


def apply_api(hub: Hub, api: dict[str, Any], url: str) -> None:
    login_url = api.get("login")
    if not login_url:
        raise UsageError(f"{url} answered +api without a login URL; not a pyshelf/devpi server?")
    current = hub.current
    current.login = login_url
    current.root = root_from_login_url(login_url)
    current.features = list(api.get("features") or [])
    current.index = (api.get("index") or "").rstrip("/")
    current.simpleindex = api.get("simpleindex") or ""
    current.pypisubmit = api.get("pypisubmit") or ""
    authstatus = api.get("authstatus") or ["noauth", "", []]
    login = hub.login_for(current.root, warn=False)
    if login is not None and authstatus[0] != "ok":
        # The server no longer honours the token (expired, or the server's secret changed):
        # forget it so later commands ask for a fresh login instead of failing obscurely.
        hub.clientdir.delete_login(current.root)
        hub.warn(
            f"the login of {login.user!r} at {current.root} is no longer valid; "
            f"run 'pyshelf login {login.user}' again"
        )


def check_index_access(hub: Hub) -> None:
    if not hub.current.index:
        return
    reply = hub.request("GET", hub.current.index, params={"no_projects": ""}, ok=None)
    if reply.status == 403:
        hub.warn(f"no read access to {hub.current.index_name}: you might have to log in first")
    elif reply.status == 404:
        raise ServerError(
            f"index {hub.current.index_name} does not exist", status=404, server_message=""
        )


def _token(args: argparse.Namespace) -> str | None:
    import os
    import sys

    from .tokens import TOKEN_ENV

    token = args.token
    if token == "-":  # noqa: S105 (the stdin marker, not a secret)
        token = sys.stdin.readline()
    if token is None:
        token = os.environ.get(TOKEN_ENV)
    return token.strip() if token else None


def set_cfg(hub: Hub, *, token: str | None = None) -> None:
    ref = hub.index_ref()
    written = pipconfig.write_all(
        simpleindex=ref.simpleindex, pypisubmit=ref.pypisubmit, username=hub.username, token=token
    )
    for tool, path in written:
        hub.line(f"wrote {tool} configuration: {path}")


def show(hub: Hub, *, urls: bool) -> None:
    current = hub.current
    if not current.root:
        hub.line("no server in use: run 'pyshelf use URL'")
        return
    login = hub.login_for(warn=False)
    who = f"logged in as {login.user}" if login else "not logged in"
    hub.line(f"current server: {current.root} ({who})")
    if current.index:
        hub.line(f"current index: {current.index_name} ({current.index})")
        hub.line(f"pip index URL: {current.simpleindex}")
        if not current.pypisubmit:
            hub.line("uploads: not supported (the index is a mirror)")
    else:
        hub.line("current index: none (run 'pyshelf use USER/INDEX')")
    if urls:
        hub.line(f"login: {current.login}")
        if current.index:
            hub.line(f"index: {current.index}")
            hub.line(f"simpleindex: {current.simpleindex}")
            if current.pypisubmit:
                hub.line(f"pypisubmit: {current.pypisubmit}")
    if current.features:
        hub.line(f"server features: {', '.join(current.features)}")
    if current.always_set_cfg:
        hub.line("always-set-cfg: yes")


def list_indexes(hub: Hub) -> None:
    reply = hub.get_json(hub.root)
    users = reply.result or {}
    for user in sorted(users):
        indexes = (users[user] or {}).get("indexes") or {}
        for name in sorted(indexes):
            config = indexes[name] or {}
            bases = ",".join(config.get("bases") or [])
            full = f"{user}/{name}"
            hub.line(
                f"{full:<24} type={config.get('type', 'stage')} "
                f"bases={bases} volatile={config.get('volatile')}"
            )
