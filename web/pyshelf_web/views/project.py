"""``/{user}/{index}/{project}`` and ``/{user}/{index}/{project}/{version}`` as pages, and the
version page's yank forms."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.view import view_config

from pyshelf_server.plugin_api import (
    ROUTE_PROJECT,
    ROUTE_VERSION,
    APIError,
    absolute_url,
    normalize_name,
    reader,
    yanks,
)

from ..catalog import download_total, file_rows, project_versions, toxresults
from ..templating import Links, render
from . import form_fields, require_same_origin

YANK_ROUTE = "web.version.yank"


def redirect_to_normalized(request: Any) -> None:
    """devpi answers a project name that is not normalised with a redirect; so do the pages."""
    project = request.matchdict["project"]
    normalized = normalize_name(project)
    if normalized == project:
        return
    path = request.path_info.split("/")
    # /user/index/project[/...]: the project is the fourth element of the split path.
    path[3] = normalized
    query = ("?" + request.query_string) if request.query_string else ""
    raise HTTPFound(location=absolute_url(request, quote("/".join(path), safe="/@+")) + query)


def versions_or_404(request: Any) -> tuple[Any, str, list[Any]]:
    redirect_to_normalized(request)
    info = request.context.index
    project = request.matchdict["project"]
    entries = project_versions(request, info, project)
    if entries is None:
        raise APIError(404, f"no project {project!r}")
    return info, project, entries


@view_config(route_name=ROUTE_PROJECT, request_method=("GET", "HEAD"), html_wanted=True)
def project_page(request: Any) -> Any:
    info, project, entries = versions_or_404(request)
    display = entries[0].data.get("name") if entries else project
    return render(
        request,
        "project.html",
        index=info,
        project=project,
        display=display or project,
        entries=entries,
        downloads=download_total(request, entries),
        latest=entries[0] if entries else None,
    )


def web_url(value: Any) -> str | None:
    """A URL from metadata, only when it is http(s): ``javascript:`` and friends never become
    links."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if urlparse(value).scheme in ("http", "https") else None


def project_urls(data: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(label, URL or None, original text) for the home page, download URL and Project-URLs."""
    found = []
    if data.get("home_page"):
        found.append(("Homepage", web_url(data["home_page"]), str(data["home_page"])))
    if data.get("download_url"):
        found.append(("Download", web_url(data["download_url"]), str(data["download_url"])))
    for entry in data.get("project_urls") or []:
        label, _, url = str(entry).partition(",")
        if not url:
            label, url = "URL", label
        found.append((label.strip() or "URL", web_url(url), url.strip()))
    return found


def classifier_groups(classifiers: Any) -> OrderedDict[str, list[str]]:
    groups: OrderedDict[str, list[str]] = OrderedDict()
    for classifier in sorted(str(c) for c in classifiers or []):
        head, _, rest = classifier.partition(" :: ")
        groups.setdefault(head, []).append(rest or head)
    return groups


@view_config(route_name=ROUTE_VERSION, request_method=("GET", "HEAD"), html_wanted=True)
def version_page(request: Any) -> Any:
    info, project, entries = versions_or_404(request)
    version = request.matchdict["version"]
    entry = next((e for e in entries if e.version == version), None)
    if entry is None:
        raise APIError(404, f"The version {version} of project {project} does not exist.")
    data = entry.data
    links = entry.release_links
    rows = file_rows(request, links)
    # Mirrored files have no row here; the merged simple links still know their size and
    # upload time (when upstream told).
    simple: dict[str, Any] = {}
    if any(link["href"] not in rows for link in links):
        merged = reader(request).links(info, project) or []
        simple = {link.filename: link for link in merged}
    files = []
    for link in links:
        row = rows.get(link["href"])
        filename = link["href"].rsplit("/", 1)[-1]
        files.append(
            {
                "link": link,
                "row": row,
                "simple": simple.get(filename),
                "filename": filename,
                "sha256": (link.get("hashes") or {}).get("sha256", ""),
                "toxresults": toxresults(request, data, link["href"]),
                "publisher": trusted_publisher(link),
            }
        )
    web = request.registry.pyshelf_web
    return render(
        request,
        "version.html",
        index=info,
        project=project,
        entry=entry,
        data=data,
        display=data.get("name") or project,
        files=files,
        downloads=download_total(request, [entry]),
        description=web.descriptions.render(
            str(data.get("description") or ""), str(data.get("description_content_type") or "")
        ),
        urls=project_urls(data),
        classifiers=classifier_groups(data.get("classifiers")),
        requires_dist=[str(r) for r in data.get("requires_dist") or []],
        other_versions=[e.version for e in entries[:12]],
        may_yank=yanks(request).allowed(info),
        any_yanked=any(f["link"].get("yanked") for f in files),
        yank_notice=yank_notice(request, version, files),
    )


def yank_notice(request: Any, version: str, files: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(what, "yanked" or "un-yanked") after a yank form, from the query of its redirect; only
    the version or one of its files, so a link cannot make the page say anything else."""
    named = {version, *(f["filename"] for f in files)}
    for key, done in (("yanked", "yanked"), ("unyanked", "un-yanked")):
        if request.GET.get(key) in named:
            return request.GET[key], done
    return None


@view_config(route_name=YANK_ROUTE, request_method="POST")
def version_yank(request: Any) -> Any:
    """The version page's forms: yank or un-yank the version, or one file of it (``filename``),
    as ``PATCH`` on the version does."""
    require_same_origin(request)
    fields = form_fields(request)
    action = fields.get("action")
    if action not in ("yank", "unyank"):
        raise APIError(400, 'the form must say "action": "yank" or "unyank"')
    info = request.context.index
    project = normalize_name(request.matchdict["project"])
    version = request.matchdict["version"]
    filename = fields.get("filename") or None
    yanks(request).set(
        info,
        project,
        version,
        yanked=action == "yank",
        reason=fields.get("reason", "").strip() or None,
        filename=filename,
    )
    query = urlencode({"yanked" if action == "yank" else "unyanked": filename or version})
    return HTTPSeeOther(
        location=Links(request).version(info.fullname, project, version) + "?" + query
    )


def trusted_publisher(link: dict[str, Any]) -> str | None:
    """Which CI workflow published the file through trusted publishing (the newest upload's
    ``publisher`` log entry), as a line for the files table; None for other uploads."""
    record = next(
        (
            entry.get("publisher")
            for entry in reversed(link.get("log") or [])
            if isinstance(entry, dict) and entry.get("what") in ("upload", "overwrite")
        ),
        None,
    )
    if not isinstance(record, dict):
        return None
    claims = record.get("claims") or {}
    if record.get("provider") == "github":
        parts = [
            f"GitHub {record.get('owner')}/{record.get('repository')}",
            f".github/workflows/{record.get('workflow')}",
        ]
    elif record.get("provider") == "gitlab":
        parts = [
            f"GitLab {record.get('namespace')}/{record.get('project')}",
            str(record.get("workflow_filepath")),
        ]
    else:
        parts = [f"Google {record.get('email')}"]
    ref = claims.get("ref") or claims.get("ref_path")
    if ref:
        parts.append(str(ref))
    if claims.get("sha"):
        parts.append(f"commit {str(claims['sha'])[:12]}")
    if claims.get("environment"):
        parts.append(f"environment {claims['environment']}")
    return " · ".join(parts)
