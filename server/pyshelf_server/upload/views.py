"""``POST /{user}/{index}/``: legacy uploads (file_upload, submit, doc_upload) and push.

An upload reads until its file is stored and checked (``prepare_release``, no write lock), then
switches the request's unit of work to writing and records the file through
``UploadService``; the shelf tween commits it. Every client's upload takes this one path."""

from __future__ import annotations

from typing import Any

from pyramid.response import Response
from pyramid.view import view_config

from .. import logs
from ..indexes.services import IndexService
from ..oidc.minting import publisher_of, publisher_refusal
from ..packages.metadata import from_form
from ..packages.services import PackageService
from ..permissions import Permission
from ..resources import IndexContext
from ..responses import APIError, IndexNotFound, reason_phrase, result
from ..security import TokenDenied
from ..views.helpers import begin_write, end_session, json_body, require
from .form import UploadForm, read_upload_form
from .push import PUSH_REQUEST_KEYS, PushService, send_external
from .services import PreparedRelease, UploadService, prepare_release
from .targets import check_target, target_host

ACTIONS = ("file_upload", "submit", "doc_upload")


@view_config(route_name="index", request_method="POST")
def post_to_index(request: Any) -> Any:
    if request.content_type == "multipart/form-data":
        return legacy_upload(request)
    if request.content_type in ("application/x-www-form-urlencoded",) and request.content_length:
        return legacy_upload(request)
    return push(request)


@view_config(route_name="index", request_method="PUSH")
def push_view(request: Any) -> Any:
    return push(request)


def _form_fields(request: Any) -> dict[str, list[str]]:
    """The fields of a url-encoded form (a ``submit`` without a file)."""
    try:
        post = request.POST
    except Exception:  # WebOb raises assorted errors on malformed bodies
        raise APIError(400, "malformed form data") from None
    fields: dict[str, list[str]] = {}
    for key, value in post.items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields


def upload_refusal(request: Any, info: Any, who: str | None) -> str:
    """Why ``who`` may not upload to the index: who may, and how to be them."""
    allowed = ", ".join(info.options.get("acl_upload") or []) or "nobody"
    if who is not None and request.registry.pyshelf.read_only_users.is_read_only(request, who):
        return f"{who!r} is a read-only user (download only): no uploads to any index"
    if who is not None:
        refused = f"{who!r} may not upload"
    elif "Authorization" in request.headers or "X-Devpi-Auth" in request.headers:
        refused = "the user name and password given are not valid"
    else:
        refused = "anonymous uploads are refused"
    return (
        f"{refused}: {info.fullname} accepts uploads from: {allowed}; log in as one of them "
        "(pyshelf login USER, or twine upload -u USER)"
    )


def _read_form(request: Any, max_file_size: int) -> UploadForm:
    if request.content_type != "multipart/form-data":
        return UploadForm(fields=_form_fields(request))
    return read_upload_form(
        request.body_file_raw,
        content_type=request.headers.get("Content-Type", ""),
        content_length=request.content_length,
        files=request.registry.pyshelf.files,
        max_file_size=max_file_size,
    )


def _one(fields: dict[str, list[str]], key: str) -> str:
    values = fields.get(key)
    return values[-1].strip() if values else ""


def legacy_upload(request: Any) -> Response:
    request.is_upload = True
    info = request.context.index
    app = request.registry.pyshelf
    if info.is_mirror:
        raise APIError(404, "cannot submit to mirror index")
    if request.shelf.type_for(info).read_only:
        raise APIError(405, "index is marked read only")
    decision = request.has_permission(Permission.UPLOAD, request.context)
    if not decision:
        who = request.authenticated_userid
        if who is not None and isinstance(decision, TokenDenied):
            raise APIError(403, str(decision))
        # twine and the devpi client print the reason phrase.
        raise APIError(401 if who is None else 403, upload_refusal(request, info, who))
    limit = app.settings.max_upload_size
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise APIError(413, f"upload is larger than the allowed {limit} bytes")
    form = _read_form(request, limit)
    try:
        return _legacy_upload(request, form)
    finally:
        form.discard()


def _legacy_upload(request: Any, form: UploadForm) -> Response:
    info = request.context.index
    app = request.registry.pyshelf
    fields, content = form.fields, form.content
    action = _one(fields, ":action")
    if not action:
        raise APIError(400, "missing :action field")
    if action not in ACTIONS:
        raise APIError(400, f"action {action!r} not supported")
    name, version = _one(fields, "name"), _one(fields, "version")
    if not name:
        raise APIError(400, "invalid metadata: missing name")
    grant = request.identity.grant if request.identity is not None else None
    if grant is not None:
        # Known only now that the form is read; the permission check could not see it.
        refused = grant.project_refusal(name) or publisher_refusal(request, name)
        if refused:
            raise APIError(403, refused)
    who = request.authenticated_userid
    if action == "file_upload":
        if content is None or not content.filename:
            raise APIError(400, "content file field not found")
        if not version:
            raise APIError(400, "invalid metadata: missing version")
        prepared = prepare_release(
            app.files,
            request.uow,
            name=name,
            version=version,
            filename=content.filename,
            received=content,
            form_meta=from_form(fields),
            fields=fields,
        )
        return _store_release(request, prepared, who)
    begin_write(request)
    uploads = UploadService(PackageService(request.uow, app.files), app.files)
    index = IndexService(request.uow, app).require(info.user, info.name)
    if action == "submit":
        if not version:
            raise APIError(400, "invalid metadata: missing version")
        uploads.register(index, name, version, from_form(fields))
        return _ok()
    # What is left is doc_upload.
    if content is None or not content.filename:
        raise APIError(400, "content file field not found")
    outcome = uploads.upload_docs(
        index=index, name=name, version=version or None, received=content, uploader=who
    )
    logs.after_commit(
        request, "%s uploaded documentation %s to %s", who, content.filename, info.fullname
    )
    if outcome.file is not None:
        _queue(request, "pyshelf_on_docs_upload", info, outcome.file)
    return _ok(outcome.reason)


def _store_release(request: Any, prepared: PreparedRelease, who: str) -> Response:
    """Record the stored file in the request's unit of work, which from here on writes."""
    info = request.context.index
    app = request.registry.pyshelf
    begin_write(request)
    # The index as the write transaction sees it: gone meanwhile is a 404, changed (volatile)
    # counts as it is now. Read from the layout snapshot, which is current for the state read
    # under the write lock: no query of its own.
    index = request.shelf.require_index(info.fullname)
    uploads = UploadService(PackageService(request.uow, app.files), app.files)
    outcome = uploads.store_release(index, prepared, who, publisher=publisher_of(request))
    logs.after_commit(
        request, "%s uploaded %s to %s", who, prepared.filename, info.fullname
    )
    if outcome.file is not None:
        _queue(request, "pyshelf_on_upload", info, outcome.file)
    return _ok(outcome.reason)


def _queue(request: Any, hook_name: str, index: Any, file: Any) -> None:
    hook = getattr(request.registry.pyshelf.pm.hook, hook_name)
    request.pyshelf_events.append(
        lambda: hook(
            request=request, index=index, project=file.project, version=file.version, file=file
        )
    )


def _ok(reason: str = "OK") -> Response:
    response = Response(body=b"", content_type="text/html", charset="utf-8")
    response.status = f"200 {reason_phrase(reason)}"
    return response


def push(request: Any) -> Any:
    info = request.context.index
    app = request.registry.pyshelf
    require(request, Permission.PKG_READ)
    body = json_body(request, allow_empty=False)
    if not isinstance(body, dict):
        raise APIError(400, "push request must be a JSON object")
    unknown = set(body) - PUSH_REQUEST_KEYS
    if unknown:
        listed = ", ".join(repr(key) for key in sorted(unknown))
        raise APIError(400, f"unknown keys in push request: {listed}")
    name, version = body.get("name"), body.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        raise APIError(400, "push request needs 'name' and 'version'")
    no_docs, only_docs = bool(body.get("no_docs")), bool(body.get("only_docs"))
    if no_docs and only_docs:
        raise APIError(400, "can't use 'no_docs' and 'only_docs' together")
    if "posturl" in body:
        return _push_external(request, body, name, version, no_docs=no_docs, only_docs=only_docs)
    target_name = body.get("targetindex")
    if not isinstance(target_name, str) or target_name.count("/") != 1:
        raise APIError(400, "targetindex not in format user/index")
    target_info = request.shelf.index(target_name)
    if target_info is None:
        raise IndexNotFound(target_name)
    if target_info.is_mirror:
        raise APIError(400, f"cannot push to mirror index {target_name}")
    if request.shelf.type_for(target_info).read_only:
        raise APIError(405, "index is marked read only")
    target_context = IndexContext(request, target_info)
    if not request.has_permission(Permission.UPLOAD, target_context):
        raise APIError(
            401, f"user {request.authenticated_userid!r} cannot upload to {target_name!r}"
        )
    target = IndexService(request.uow, app).require(target_info.user, target_info.name)
    pusher = PushService(request.shelf, PackageService(request.uow, app.files), app.files)
    outcome = pusher.push_internal(
        source=info,
        target=target,
        name=name,
        version=version,
        who=request.authenticated_userid,
        no_docs=no_docs,
        only_docs=only_docs,
    )
    for file in outcome.stored:
        _queue(request, "pyshelf_on_upload", target_info, file)
    for file in outcome.docs:
        _queue(request, "pyshelf_on_docs_upload", target_info, file)
    hook = app.pm.hook.pyshelf_on_push
    request.pyshelf_events.append(
        lambda: hook(
            request=request, source=info, target=target_name, project=name, version=version
        )
    )
    return result("actionlog", outcome.actions)


def _push_external(
    request: Any, body: dict[str, Any], name: str, version: str, *, no_docs: bool, only_docs: bool
) -> Any:
    """Push to another server. Only for a user who may read the source: the server sends the
    files wherever the request says, so an anonymous push would let anyone use it against
    third parties. The transfer runs after the request's transaction has ended."""
    info = request.context.index
    app = request.registry.pyshelf
    if request.authenticated_userid is None:
        raise APIError(401, "pushing to another server needs an authenticated user")
    posturl = body["posturl"]
    username, password = body.get("username"), body.get("password")
    if not isinstance(posturl, str):
        raise APIError(400, "posturl must be an http or https URL")
    if not all(value is None or isinstance(value, str) for value in (username, password)):
        raise APIError(400, "'username' and 'password' must be strings")
    target_host(posturl)
    pusher = PushService(request.shelf, PackageService(request.uow, app.files), app.files)
    plan = pusher.plan_external(
        source=info, name=name, version=version, no_docs=no_docs, only_docs=only_docs
    )
    end_session(request)
    target = check_target(posturl, app.push_allow_hosts)
    outcome = send_external(
        plan,
        target,
        username=username,
        password=password,
        register_project=bool(body.get("register_project")),
        connect_timeout=app.settings.connect_timeout,
        timeout=app.settings.request_timeout,
    )
    return result("actionlog", outcome.actions, message=outcome.message, status=outcome.status)
