"""Documentation: ``…/{version}/+doc/{path}`` serves the unpacked files, ``…/+d/{path}`` shows
them inside the site's frame. ``{version}`` may also be ``latest`` or ``stable``.

Uploaded docs are untrusted HTML and JavaScript. They are served with a ``sandbox`` Content
Security Policy (and shown in a sandboxed iframe), which puts them in an opaque origin of their
own: their scripts may run (search in Sphinx docs needs them) but can never read the site's
cookies or storage, or act on the site with the visitor's credentials.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from pyramid.httpexceptions import HTTPFound
from pyramid.response import FileResponse, Response
from pyramid.view import view_config

from pyshelf_server.plugin_api import APIError, reader

from ..catalog import resolve_version
from ..docs import DocsError
from ..templating import Links, render
from .project import versions_or_404

SANDBOX = (
    "allow-scripts allow-popups allow-popups-to-escape-sandbox allow-forms "
    "allow-top-navigation-by-user-activation"
)
DOCS_HEADERS = {
    "Content-Security-Policy": f"sandbox {SANDBOX}; frame-ancestors 'self'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "max-age=60",
}


def _docs(request: Any) -> tuple[Any, str, Any, list[Any], dict[str, Any]]:
    info, project, entries = versions_or_404(request)
    version = request.matchdict["version"]
    entry = resolve_version(entries, version)
    if entry is None:
        raise APIError(404, f"The version {version} of project {project} does not exist.")
    doczip = entry.doczip
    if doczip is None:
        raise APIError(404, f"no documentation for {project} {entry.version}")
    return info, project, entry, entries, doczip


def _subpath(request: Any) -> str:
    return "/".join(request.matchdict.get("path") or ())


@view_config(route_name="web.doc.raw.bare", request_method=("GET", "HEAD"))
@view_config(route_name="web.doc.frame.bare", request_method=("GET", "HEAD"))
def bare(request: Any) -> Any:
    raw = request.matched_route.name == "web.doc.raw.bare"
    m = request.matchdict
    target = Links(request).docs(
        f"{m['user']}/{m['index']}",
        m["project"],
        m["version"],
        "index.html" if raw else "",
        raw=raw,
    )
    return HTTPFound(location=target)


@view_config(route_name="web.doc.raw", request_method=("GET", "HEAD"))
def raw(request: Any) -> Any:
    _info, _project, _entry, _entries, doczip = _docs(request)
    path = _subpath(request)
    if not path or request.path_info.endswith("/"):
        # Relative links inside the docs only work from the page's own URL, not a directory's.
        m = request.matchdict
        return HTTPFound(
            location=Links(request).docs(
                f"{m['user']}/{m['index']}",
                m["project"],
                m["version"],
                (path + "/" if path else "") + "index.html",
                raw=True,
            )
        )
    sha256 = doczip["hashes"]["sha256"]
    etag = f'"{sha256}"'
    if etag in request.if_none_match:
        response = Response(status=304)
        response.headers.update(DOCS_HEADERS)
        response.headers["ETag"] = etag
        return response
    web = request.registry.pyshelf_web
    try:
        shelf = reader(request)
        directory = web.docs.ensure(sha256, lambda: shelf.open_file(sha256))
    except DocsError as error:
        raise APIError(422, f"the documentation cannot be shown: {error}") from None
    found = web.docs.resolve(directory, path)
    if found is None:
        raise APIError(404, f"no such documentation page: {path}")
    content_type, _encoding = mimetypes.guess_type(found.name)
    response = FileResponse(
        str(found), request=request, content_type=content_type or "application/octet-stream"
    )
    response.headers.update(DOCS_HEADERS)
    response.headers["ETag"] = etag
    return response


@view_config(route_name="web.doc.frame", request_method=("GET", "HEAD"))
def frame(request: Any) -> Any:
    info, project, entry, entries, _doczip = _docs(request)
    return render(
        request,
        "docs.html",
        index=info,
        project=project,
        entry=entry,
        display=entry.data.get("name") or project,
        requested=request.matchdict["version"],
        path=_subpath(request) or "index.html",
        doc_versions=[e.version for e in entries if e.doczip],
        sandbox=SANDBOX,
    )
