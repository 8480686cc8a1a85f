"""Creating, changing and deleting users; their JSON representation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import limits
from ..db import utcnow
from ..indexes.types import OptionError, check_json_size, to_bool
from ..names import user_or_index_name_error
from ..responses import APIError
from ..security import hash_password
from ..unit_of_work import UnitOfWork
from .htpasswd import IN_HTPASSWD_FILE
from .models import User

TEXT_FIELDS = ("email", "title", "description")
TEXT_BOUNDS = {
    "email": limits.MAX_EMAIL_LENGTH,
    "title": limits.MAX_TITLE_LENGTH,
    "description": limits.MAX_DESCRIPTION_LENGTH,
}


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checked_user_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """The fields of a user's JSON that can be set, checked against their bounds, with a
    password replaced by its hash (``password_hash``); unknown keys (created, modified,
    indexes…) are ignored as devpi does. It reads nothing from the database: a view calls
    it before the write transaction begins, so that neither a long input nor argon2 holds the
    write lock."""
    fields: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        if key in changes:
            value = changes[key]
            if value is not None and not isinstance(value, str):
                raise APIError(400, f"{key} must be a string")
            if value and len(value) > TEXT_BOUNDS[key]:
                raise APIError(400, f"{key} may be at most {TEXT_BOUNDS[key]} characters long")
            fields[key] = value or None
    if "custom_data" in changes:
        try:
            check_json_size("custom_data", changes["custom_data"], limits.MAX_CUSTOM_DATA_BYTES)
        except OptionError as error:
            raise APIError(400, str(error)) from None
        fields["custom_data"] = changes["custom_data"]
    if "read_only" in changes:
        # devpi's client sends "read_only=true" from its command line as a string.
        try:
            fields["read_only"] = to_bool("read_only", changes["read_only"])
        except OptionError as error:
            raise APIError(400, str(error)) from None
    if "password" in changes:
        password = changes["password"]
        if not isinstance(password, str) or password == "":
            raise APIError(400, "password must be a non-empty string")
        if len(password) > limits.MAX_PASSWORD_LENGTH:
            raise APIError(
                400, f"password may be at most {limits.MAX_PASSWORD_LENGTH} characters long"
            )
        fields["password_hash"] = hash_password(password)
    elif "pwhash" in changes:
        pwhash = changes["pwhash"]
        if not is_known_hash(pwhash) or len(pwhash) > limits.MAX_PWHASH_LENGTH:
            raise APIError(400, "pwhash is not a hash this server can check")
        fields["password_hash"] = pwhash
    return fields


class UserService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    @property
    def session(self) -> Session:
        # The unit of work's current session (a new one once it began writing).
        return self.uow.session

    def get(self, name: str) -> User | None:
        return self.session.execute(select(User).where(User.name == name)).scalar_one_or_none()

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise APIError(404, f"no user {name!r}")
        return user

    def all(self) -> list[User]:
        return list(self.session.execute(select(User).order_by(User.name)).scalars())

    def create(self, name: str, fields: dict[str, Any], *, check_name: bool = True) -> User:
        """A new user with ``fields`` from :func:`checked_user_fields`."""
        if check_name:
            error = user_or_index_name_error(name)
            if error:
                raise APIError(400, error)
        if fields.get("read_only") and name == "root":
            raise APIError(400, "root cannot be read-only")
        if self.get(name) is not None:
            raise APIError(409, "user already exists")
        if not fields.get("password_hash"):
            raise APIError(400, "password needs to be set")
        user = User(name=name, **fields)
        self.session.add(user)
        if user.read_only:
            # Whether a user is read-only is cached per users token (accounts.readonly).
            self.uow.changed(users=True)
        self.session.flush()
        return user

    def modify(self, user: User, fields: dict[str, Any]) -> bool:
        """Apply ``fields`` from :func:`checked_user_fields`; returns whether the password
        changed."""
        if fields.get("read_only") and user.is_root:
            raise APIError(400, "root cannot be read-only")
        for key in TEXT_FIELDS:
            if key in fields:
                setattr(user, key, fields[key])
        if "custom_data" in fields:
            user.custom_data = fields["custom_data"] or None
        if "read_only" in fields and fields["read_only"] != user.read_only:
            user.read_only = fields["read_only"]
            # Whether a user is read-only is cached per users token (accounts.readonly).
            self.uow.changed(users=True)
        password_changed = "password_hash" in fields
        if password_changed and user.password_hash == IN_HTPASSWD_FILE:
            raise APIError(
                409, f"the password of {user.name!r} is kept in the htpasswd file: change it there"
            )
        if password_changed:
            user.password_hash = fields["password_hash"]
        user.modified = utcnow()
        if password_changed:
            # Cached password hashes are those of a users token (security.CredentialCache).
            self.uow.changed(users=True)
        self.session.flush()
        return password_changed

    def delete(self, user: User, files: Any = None) -> None:
        """Delete ``user`` with their indexes; ``files`` (the file store) lets the blobs no
        other index uses go too."""
        from ..indexes.models import Index

        fixed = (
            self.session.execute(
                select(Index.name).where(Index.user_id == user.id, Index.volatile.is_(False))
            )
            .scalars()
            .all()
        )
        if fixed:
            raise APIError(403, f"user {user.name!r} has non-volatile index: {', '.join(fixed)}")
        from ..packages.services import PackageService

        packages = PackageService(self.uow, files)
        for index in self.session.execute(select(Index).where(Index.user_id == user.id)).scalars():
            packages.delete_index_contents(index)
            self.session.delete(index)
        self.session.delete(user)
        # Its indexes went too.
        self.uow.changed(config=True, users=True)
        self.session.flush()


def is_known_hash(value: Any) -> bool:
    from ..security import get_password_context

    if not isinstance(value, str) or not value:
        return False
    try:
        return get_password_context().identify(value) is not None
    except ValueError:
        return False


def user_json(user: User, indexes: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"username": user.name}
    for key in TEXT_FIELDS:
        value = getattr(user, key)
        if value:
            data[key] = value
    if user.custom_data is not None:
        data["custom_data"] = user.custom_data
    if user.read_only:
        data["read_only"] = True
    data["created"] = iso(user.created)
    if user.modified is not None:
        data["modified"] = iso(user.modified)
    if indexes is not None:
        data["indexes"] = indexes
    return data
