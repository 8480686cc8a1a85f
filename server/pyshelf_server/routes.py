"""Every URL of the core server. Route names are dotted; the patterns keep "+" segments
(``+api``, ``+simple``, ``+f`` …) away from user, index and project names."""

from __future__ import annotations

from typing import Any

NAME = r"[^+/][^/]*"
OPTIONAL_SLASH = "{slash:/?}"


def includeme(config: Any) -> None:
    root = "pyshelf_server.resources.RootContext"
    user = "pyshelf_server.resources.UserContext"
    index = "pyshelf_server.resources.IndexContext"
    u = "{user:" + NAME + "}"
    i = "{index:" + NAME + "}"
    p = "{project:" + NAME + "}"
    v = "{version:" + NAME + "}"

    # Warehouse's trusted publishing routes, at the host's root where CI clients look for them;
    # before the user routes (the user name "_" is reserved for them).
    config.add_route("oidc.audience", "/_/oidc/audience", factory=root)
    config.add_route("oidc.mint", "/_/oidc/mint-token", factory=root)
    config.add_route("oidc.mint.github", "/_/oidc/github/mint-token", factory=root)
    config.add_route("api.root", "/+api", factory=root)
    config.add_route("login", "/+login", factory=root)
    config.add_route("status", "/+status", factory=root)
    config.add_route("authcheck", "/+authcheck", factory=root)
    config.add_route("root", "/", factory=root)
    config.add_route("api.user", f"/{u}/+api", factory=user)
    config.add_route("api.index", f"/{u}/{i}/+api", factory=index)
    config.add_route("simple.list", f"/{u}/{i}/+simple" + OPTIONAL_SLASH, factory=index)
    # A client pointed at the "+simple/" URL asks for its "+api": no view, a 404 naming the
    # index's URL (views.hints), rather than the page of a project called "+api".
    config.add_route("simple.api", f"/{u}/{i}/+simple/+api", factory=index)
    config.add_route("simple.refresh", f"/{u}/{i}/+simple/{{project}}/refresh", factory=index)
    config.add_route(
        "simple.project", f"/{u}/{i}/+simple/{{project}}" + OPTIONAL_SLASH, factory=index
    )
    # Files answer at devpi's "+f" and "+e" paths and at "~f" and "~e", which simple pages
    # link: see simple.render.installer_path.
    config.add_route(
        "files.entry", f"/{u}/{i}/{{kind:[+~]f}}/{{a}}/{{b}}/{{filename}}", factory=index
    )
    config.add_route("mirror.warm", f"/{u}/{i}/+warm", factory=index)
    config.add_route("files.external", f"/{u}/{i}/{{kind:[+~]e}}/{{path:.+}}", factory=index)
    config.add_route("user.token_create", f"/{u}/+token-create", factory=user)
    config.add_route("user.tokens", f"/{u}/+tokens" + OPTIONAL_SLASH, factory=user)
    config.add_route("user.token", f"/{u}/+tokens/{{token}}", factory=user)
    config.add_route("user", f"/{u}" + OPTIONAL_SLASH, factory=user)
    config.add_route("index", f"/{u}/{i}" + OPTIONAL_SLASH, factory=index)
    config.add_route("project", f"/{u}/{i}/{p}" + OPTIONAL_SLASH, factory=index)
    config.add_route("version", f"/{u}/{i}/{p}/{v}" + OPTIONAL_SLASH, factory=index)
