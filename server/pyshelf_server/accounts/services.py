"""Creating, changing and deleting users; their JSON representation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import mark_config_changed, mark_users_changed, utcnow
from ..names import user_or_index_name_error
from ..responses import APIError
from ..security import hash_password
from .models import User

TEXT_FIELDS = ("email", "title", "description")


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UserService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> User | None:
        return self.session.execute(select(User).where(User.name == name)).scalar_one_or_none()

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise APIError(404, f"no user {name!r}")
        return user

    def all(self) -> list[User]:
        return list(self.session.execute(select(User).order_by(User.name)).scalars())

    def create(
        self,
        name: str,
        *,
        password: str | None = None,
        pwhash: str | None = None,
        email: str | None = None,
        title: str | None = None,
        description: str | None = None,
        custom_data: Any = None,
        check_name: bool = True,
    ) -> User:
        if check_name:
            error = user_or_index_name_error(name)
            if error:
                raise APIError(400, error)
        if self.get(name) is not None:
            raise APIError(409, "user already exists")
        if password is None and not pwhash:
            raise APIError(400, "password needs to be set")
        if password is not None and not isinstance(password, str):
            raise APIError(400, "password must be a string")
        if pwhash is not None and not _is_known_hash(pwhash):
            raise APIError(400, "pwhash is not a hash this server can check")
        for key, value in (("email", email), ("title", title), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise APIError(400, f"{key} must be a string")
        user = User(
            name=name,
            password_hash=hash_password(password) if password is not None else pwhash,
            email=email or None,
            title=title or None,
            description=description or None,
            custom_data=custom_data,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def modify(self, user: User, changes: dict[str, Any]) -> bool:
        """Apply the known keys of ``changes``; unknown keys (created, modified, indexes…) are
        ignored as devpi does. Returns whether the password changed."""
        password_changed = False
        for key in TEXT_FIELDS:
            if key in changes:
                value = changes[key]
                if value is not None and not isinstance(value, str):
                    raise APIError(400, f"{key} must be a string")
                setattr(user, key, value or None)
        if "custom_data" in changes:
            user.custom_data = changes["custom_data"] or None
        if "password" in changes:
            password = changes["password"]
            if not isinstance(password, str) or password == "":
                raise APIError(400, "password must be a non-empty string")
            user.password_hash = hash_password(password)
            password_changed = True
        elif "pwhash" in changes:
            if not _is_known_hash(changes["pwhash"]):
                raise APIError(400, "pwhash is not a hash this server can check")
            user.password_hash = changes["pwhash"]
            password_changed = True
        user.modified = utcnow()
        if password_changed:
            # Cached password hashes are those of a users token (security.PasswordHashes).
            mark_users_changed(self.session)
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

        packages = PackageService(self.session, files)
        for index in self.session.execute(select(Index).where(Index.user_id == user.id)).scalars():
            packages.delete_index_contents(index)
            self.session.delete(index)
        self.session.delete(user)
        # Its indexes went too.
        mark_config_changed(self.session)
        mark_users_changed(self.session)
        self.session.flush()


def _is_known_hash(value: Any) -> bool:
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
    data["created"] = iso(user.created)
    if user.modified is not None:
        data["modified"] = iso(user.modified)
    if indexes is not None:
        data["indexes"] = indexes
    return data
