"""``/{user}/{index}/{project}[/{version}]``: versions as JSON (merged through inheritance),
and removing versions and projects."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from ..names import normalize_name
from ..permissions import Permission
from ..responses import APIError, message, result
from ..simple.negotiation import is_installer, wants_simple_json
from ..views.helpers import absolute, flag, redirect, require
from .services import PackageService


def absolutise(request: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the root-relative hrefs of versiondata into absolute URLs (also in +shadowing)."""
    data = dict(data)
    links = []
    for link in data.get("+links", []):
        link = dict(link)
        link["href"] = absolute(request, link["href"])
        if "for_href" in link:
            link["for_href"] = absolute(request, link["for_href"])
        links.append(link)
    if "+links" in data:
        data["+links"] = links
    if "+shadowing" in data:
        data["+shadowing"] = [absolutise(request, s) for s in data["+shadowing"]]
    return data


def _redirect_to_normalized(request: Any, project: str) -> None:
    normalized = normalize_name(project)
    if normalized != project:
        parts = dict(request.matchdict)
        parts["project"] = normalized
        path = f"/{parts['user']}/{parts['index']}/{normalized}"
        if "version" in parts:
            path += f"/{parts['version']}"
        raise redirect(request, path)


@view_config(route_name="project", request_method=("GET", "HEAD"))
def show_project(request: Any) -> Any:
    if wants_simple_json(request) or is_installer(request):
        from ..simple.views import project_page

        return project_page(request)
    project = request.matchdict["project"]
    _redirect_to_normalized(request, project)
    index = request.context.index
    versions = request.shelf.inheritance.versions(
        index, project, ignore_bases="ignore_bases" in request.GET
    )
    if versions is None:
        raise APIError(404, f"no project {project!r}")
    return result("projectconfig", {v: absolutise(request, d) for v, d in versions.items()})


@view_config(route_name="version", request_method=("GET", "HEAD"))
def show_version(request: Any) -> Any:
    project, version = request.matchdict["project"], request.matchdict["version"]
    _redirect_to_normalized(request, project)
    index = request.context.index
    versions = request.shelf.inheritance.versions(index, project)
    if versions is None or version not in versions:
        raise APIError(404, f"The version {version} of project {project} does not exist.")
    return result("versiondata", absolutise(request, versions[version]))


def _own_project(request: Any) -> Any:
    info = request.context.index
    project = request.matchdict["project"]
    row = PackageService(request.uow, request.registry.pyshelf.files).project(info.id, project)
    return info, row


@view_config(route_name="project", request_method="DELETE")
def delete_project(request: Any) -> Any:
    require(request, Permission.DELETE_ENTRY)
    info, row = _own_project(request)
    name = request.matchdict["project"]
    if info.is_mirror:
        return _remove_mirrored(request, info, name)
    if row is None:
        raise APIError(404, "project not found")
    if not info.volatile and not flag(request, "force") and "force" not in request.GET:
        raise APIError(403, f"project {row.name!r} is on non-volatile index {info.fullname}")
    PackageService(request.uow, request.registry.pyshelf.files).delete_project(row)
    _queue_removal(request, info, row.name, None)
    return message(f"project {row.name!r} deleted from index {info.fullname}")


@view_config(route_name="version", request_method="DELETE")
def delete_version(request: Any) -> Any:
    require(request, Permission.DELETE_ENTRY)
    info, row = _own_project(request)
    version = request.matchdict["version"]
    packages = PackageService(request.uow, request.registry.pyshelf.files)
    found = packages.version(row, version) if row is not None else None
    if found is None:
        raise APIError(
            404, f"The version {version} of project {request.matchdict['project']} does not exist."
        )
    if not info.volatile and "force" not in request.GET:
        raise APIError(403, "cannot delete version on non-volatile index")
    packages.delete_version(found)
    _queue_removal(request, info, row.name, version)
    return message(f"project {row.name!r} version {version!r} deleted")


def _queue_removal(request: Any, info: Any, project: str, version: str | None) -> None:
    hook = request.registry.pyshelf.pm.hook.pyshelf_on_remove
    request.pyshelf_events.append(
        lambda: hook(request=request, index=info, project=project, version=version)
    )


def _remove_mirrored(request: Any, info: Any, project: str) -> Any:
    backend = request.shelf.backend(info)
    remover = getattr(backend, "remove_project", None)
    if remover is None or not remover(normalize_name(project), request.uow):
        raise APIError(404, "project not found")
    _queue_removal(request, info, normalize_name(project), None)
    return message(f"project {normalize_name(project)!r} deleted from index {info.fullname}")
