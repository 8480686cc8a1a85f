"""Creating, configuring and deleting indexes; their JSON representation (devpi's indexconfig)."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import limits
from ..accounts.models import User
from ..app import AppState
from ..names import user_or_index_name_error
from ..responses import APIError, IndexNotFound
from ..unit_of_work import UnitOfWork
from .models import Index, IndexBase
from .types import (
    LIST_BOUNDS,
    OWN_BOUNDS,
    IndexType,
    OptionError,
    bounded_list,
    check_json_size,
    to_bases,
    to_bool,
)


class IndexService:
    def __init__(self, uow: UnitOfWork, app: AppState) -> None:
        self.uow = uow
        self.app = app

    @property
    def session(self) -> Session:
        # The unit of work's current session (a new one once it began writing).
        return self.uow.session

    # -- lookups -------------------------------------------------------------------------

    def get(self, user: str, name: str) -> Index | None:
        return self.session.execute(
            select(Index)
            .join(User, User.id == Index.user_id)
            .where(User.name == user, Index.name == name)
        ).scalar_one_or_none()

    def require(self, user: str, name: str) -> Index:
        index = self.get(user, name)
        if index is None:
            raise IndexNotFound(f"{user}/{name}")
        return index

    def of_user(self, user: User) -> list[Index]:
        return list(
            self.session.execute(
                select(Index).where(Index.user_id == user.id).order_by(Index.name)
            ).scalars()
        )

    # -- JSON ----------------------------------------------------------------------------

    def config_json(self, index: Index) -> dict[str, Any]:
        index_type = self.app.index_type(index.type)
        config: dict[str, Any] = {"type": index.type}
        if not index_type.is_mirror:
            config["bases"] = [link.base.fullname for link in index.base_links]
        config["volatile"] = index.volatile
        config.update(index.options or {})
        return config

    # -- changes -------------------------------------------------------------------------

    # Each change is computed twice: first by its view before the write transaction begins,
    # to refuse bad input (and input over the bounds of ``limits``) without holding the write
    # lock, then in the write transaction against the configuration as it is there.

    def new_config(
        self, owner_name: str, name: str, data: Any
    ) -> tuple[IndexType, dict[str, Any]]:
        """The type and configuration of a new index; reads nothing from the database."""
        error = user_or_index_name_error(name)
        if error:
            raise APIError(400, error)
        if not isinstance(data, dict):
            raise APIError(400, "index configuration must be a JSON object")
        type_name = data.get("type", "stage") or "stage"
        if not isinstance(type_name, str):
            raise APIError(400, "the index 'type' must be a string")
        index_type = self.app.index_type(type_name)
        config = self._defaults(index_type, owner_name, f"{owner_name}/{name}")
        changes = {k: v for k, v in data.items() if k != "type"}
        return index_type, self._apply(index_type, config, changes)

    def create(self, owner: User, name: str, data: dict[str, Any], *, by: str | None) -> Index:
        """Create the index ``owner/name`` on behalf of the user ``by``."""
        index_type, config = self.new_config(owner.name, name, data)
        self._check_mirror_rights(index_type, by, "create mirror indexes")
        if self.get(owner.name, name) is not None:
            raise APIError(409, f"index '{owner.name}/{name}' exists")
        index = Index(user=owner, name=name, type=index_type.name)
        self.session.add(index)
        self._store(index, index_type, config)
        self.session.flush()
        self._check_bases(index)
        self.uow.changed(config=True)
        return index

    def modified_config(self, index: Index, body: Any) -> tuple[IndexType, dict[str, Any]]:
        """The type and configuration ``index`` would have after the change ``body``."""
        index_type = self.app.index_type(index.type)
        current = self.config_json(index)
        if isinstance(body, dict) and body.get("type") == "indexconfig" and "result" in body:
            body = body["result"]
        if isinstance(body, list):
            config = self._apply_operations(index_type, current, body)
        elif isinstance(body, dict):
            changes = dict(body)
            changes.pop("projects", None)
            if "type" in changes:
                if changes.pop("type") != index.type:
                    raise APIError(400, "the 'type' of an index can't be changed")
            config = self._apply(index_type, current, changes)
        else:
            raise APIError(400, "index modification must be a JSON object or list")
        for key, value in self._plugin_defaults(index_type).items():
            config.setdefault(key, value)
        return index_type, config

    def modify(
        self, index: Index, body: Any, *, by: str | None, error_on_noop: bool = False
    ) -> Index:
        """Change the configuration of ``index`` on behalf of the user ``by``."""
        index_type, config = self.modified_config(index, body)
        current = self.config_json(index)
        if config.get("mirror_url") != current.get("mirror_url"):
            self._check_mirror_rights(index_type, by, "change the upstream of a mirror")
        if error_on_noop and config == current:
            raise APIError(400, "The requested modifications resulted in no changes")
        self._store(index, index_type, config)
        self.session.flush()
        self._check_bases(index)
        self.uow.changed(config=True)
        return index

    def delete(self, index: Index) -> None:
        if not index.volatile:
            raise APIError(403, f"index {index.fullname} non-volatile, cannot delete")
        from ..packages.services import PackageService

        PackageService(self.uow, self.app.files).delete_index_contents(index)
        self.session.delete(index)
        self.session.flush()
        self.uow.changed(config=True)

    # -- helpers -------------------------------------------------------------------------

    def _check_mirror_rights(self, index_type: IndexType, by: str | None, what: str) -> None:
        """Only root picks the upstreams the server fetches from, unless the server lets users:
        a mirror makes the server fetch from wherever its URL points, for anyone who asks."""
        if not index_type.is_mirror or by == "root" or self.app.settings.allow_user_mirrors:
            return
        raise APIError(
            403, f"only root may {what}; the server allows users to with --allow-user-mirrors"
        )

    def _plugin_options(self, index_type: IndexType) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for extra in self.app.pm.hook.pyshelf_index_options(index_type=index_type.name):
            options.update(extra or {})
        return options

    def _plugin_defaults(self, index_type: IndexType) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            key: option.default("")
            for key, option in self._plugin_options(index_type).items()
            if option.default is not None
        }
        for extra in self.app.pm.hook.pyshelf_indexconfig_defaults(index_type=index_type.name):
            defaults.update(extra or {})
        return defaults

    def _defaults(self, index_type: IndexType, owner: str, fullname: str) -> dict[str, Any]:
        config: dict[str, Any] = {"type": index_type.name}
        if not index_type.is_mirror:
            config["bases"] = []
        config["volatile"] = index_type.volatile_default(fullname)
        config.update(index_type.defaults(owner))
        config.update(self._plugin_defaults(index_type))
        return config

    def _coerce(self, index_type: IndexType, key: str, value: Any) -> Any:
        try:
            if key == "volatile":
                return to_bool(key, value)
            if key == "bases":
                return to_bases(key, value)
            if key in index_type.options:
                value = index_type.coerce(key, value)
            elif key in (plugin_options := self._plugin_options(index_type)):
                value = plugin_options[key].coerce(key, value)
            if key not in OWN_BOUNDS:
                check_json_size(key, value, limits.MAX_OPTION_BYTES)
        except OptionError as error:
            raise APIError(400, str(error)) from None
        return value

    def _known_keys(self, index_type: IndexType) -> set[str]:
        keys = {
            "volatile",
            *index_type.options,
            *self._plugin_options(index_type),
            *self._plugin_defaults(index_type),
        }
        if not index_type.is_mirror:
            keys.add("bases")
        return keys

    def _apply(
        self, index_type: IndexType, config: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        known = self._known_keys(index_type)
        unknown = {
            k: v for k, v in changes.items() if k not in known and k not in index_type.dropped
        }
        if unknown:
            listed = ", ".join(f"{k}={v}" for k, v in sorted(unknown.items()))
            raise APIError(
                400,
                f"indexconfig got unexpected keyword arguments: {listed}; the options of a "
                f"{index_type.name} index are: {', '.join(sorted(known))}",
            )
        new = dict(config)
        for key, value in changes.items():
            if key in index_type.dropped:
                continue
            new[key] = self._coerce(index_type, key, value)
        return new

    def _apply_operations(
        self, index_type: IndexType, config: dict[str, Any], operations: list[Any]
    ) -> dict[str, Any]:
        if len(operations) > limits.MAX_INDEX_OPERATIONS:
            raise APIError(
                400, f"at most {limits.MAX_INDEX_OPERATIONS} operations may change an index at once"
            )
        new = dict(config)
        defaults = self._defaults(index_type, "", "")
        for operation in operations:
            if not isinstance(operation, str) or "=" not in operation:
                raise APIError(400, f"invalid operation {operation!r}, expected key=value")
            key, _, value = operation.partition("=")
            op = "="
            if key.endswith(("+", "-")):
                op = key[-1] + "="
                key = key[:-1]
            if key == "type":
                if op != "=" or value != new.get("type"):
                    raise APIError(400, "the 'type' of an index can't be changed")
                continue
            if op == "=":
                new = self._apply(index_type, new, {key: value})
                continue
            if key not in self._known_keys(index_type):
                raise APIError(400, f"indexconfig got unexpected keyword arguments: {key}={value}")
            if op == "-=" and value == "":
                if key in defaults or key in ("bases", "volatile"):
                    raise APIError(400, "Default values can't be removed.")
                new.pop(key, None)
                continue
            current = new.get(key) or []
            if not isinstance(current, list):
                raise APIError(400, f"The {key!r} setting is not a list")
            items = self._coerce(index_type, key, value)
            items = items if isinstance(items, list) else [items]
            present = _lookup(current, items)
            if op == "+=":
                new[key] = current + [item for item in items if item not in present]
            else:
                for item in items:
                    if item not in present:
                        raise APIError(400, f"The {key!r} setting doesn't have value {value!r}")
                removed = _lookup(items, current)
                new[key] = [item for item in current if item not in removed]
            if key in index_type.options:
                # The list as a whole must still be valid (one constraint per project …).
                new[key] = self._coerce(index_type, key, new[key])
            self._check_bound(key, new[key])
        return new

    def _check_bound(self, key: str, value: Any) -> None:
        try:
            if key in LIST_BOUNDS:
                bounded_list(key, value, LIST_BOUNDS[key])
            elif key not in OWN_BOUNDS:
                check_json_size(key, value, limits.MAX_OPTION_BYTES)
        except OptionError as error:
            raise APIError(400, str(error)) from None

    def _store(self, index: Index, index_type: IndexType, config: dict[str, Any]) -> None:
        for key in getattr(index_type, "required", ()):
            if config.get(key) in (None, ""):
                raise APIError(400, f"'{key}' option is required for a {index_type.name} index")
        index.volatile = bool(config.get("volatile", True))
        if not index_type.is_mirror:
            # Duplicates are dropped before any base is looked up.
            base_names = list(dict.fromkeys(config.get("bases") or []))
            bases = []
            for base_name in base_names:
                user, sep, name = base_name.partition("/")
                base = self.get(user, name) if sep and "/" not in name else None
                if base is None:
                    raise APIError(400, f"base index '{base_name}' does not exist")
                if base in bases:
                    continue
                bases.append(base)
            index.base_links = [IndexBase(position=i, base=b) for i, b in enumerate(bases)]
        index.options = {
            k: v for k, v in config.items() if k not in ("type", "bases", "volatile", "projects")
        }

    def _check_bases(self, index: Index) -> None:
        """Refuse a configuration in which an index inherits from itself."""
        seen: set[int] = set()
        queue = [link.base for link in index.base_links]
        while queue:
            base = queue.pop(0)
            if base.id == index.id:
                raise APIError(400, f"bases of {index.fullname} would form a cycle")
            if base.id in seen:
                continue
            seen.add(base.id)
            queue.extend(link.base for link in base.base_links)


def _lookup(values: list[Any], probes: list[Any]) -> Container[Any]:
    """``values`` as a set when they and ``probes`` (what is looked up in it) can be one: lists
    of thousands of names are compared against each other. Lists of objects (the entries of
    ``trusted_publishers``) stay lists."""
    try:
        set(probes)
        return set(values)
    except TypeError:
        return values
