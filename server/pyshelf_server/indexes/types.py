"""Index types: the option schema of each type, and what a type may change after inheritance.

The core registers ``stage`` (hosted); the mirror registers ``mirror``; plugins add more through
``pyshelf_get_index_types``. Option values arrive as strings from the devpi client
(``"False"``, ``"root/pypi"``, ``"a,b"``) and are coerced here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import hookimpl, limits
from ..lifecycle.age import parse_duration, parse_exemption, parse_instant
from ..names import normalize_name
from ..oidc.publishers import OPTION as OPTION_TRUSTED_PUBLISHERS
from ..permissions import ANONYMOUS, normalise_acl_entry


class OptionError(ValueError):
    """An option value that cannot be used; the message is shown to the client."""


def to_trusted_publishers_option(key: str, value: Any) -> list[dict[str, Any]]:
    from ..oidc.publishers import PublisherError, to_trusted_publishers

    try:
        return to_trusted_publishers(key, value)
    except PublisherError as error:
        raise OptionError(str(error)) from None


def to_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "off"):
        return False
    if isinstance(value, int):
        return bool(value)
    raise OptionError(f"'{key}' option must be a boolean, not {value!r}")


def to_list(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise OptionError(f"'{key}' option must be a list or a comma separated string")


def bounded_list(key: str, items: list[str], max_entries: int) -> list[str]:
    """``items``, refused when there are more than ``max_entries`` or one is longer than a
    name can be (:mod:`..limits`)."""
    if len(items) > max_entries:
        raise OptionError(f"'{key}' may have at most {max_entries} entries, not {len(items)}")
    for item in items:
        if len(item) > limits.MAX_LIST_ENTRY_LENGTH:
            raise OptionError(
                f"an entry of '{key}' is longer than {limits.MAX_LIST_ENTRY_LENGTH} characters"
            )
    return items


def to_bases(key: str, value: Any) -> list[str]:
    bases = bounded_list(key, to_list(key, value), limits.MAX_BASES)
    for base in bases:
        if "://" in base:
            # devpi users write a remote index as a base; here a mirror index stands for it.
            raise OptionError(
                f"'{key}' are indexes of this server (USER/INDEX), not URLs like {base!r}: "
                f"create a mirror index of it (type=mirror mirror_url={base}) and use that "
                "as a base"
            )
    return bases


def to_acl(key: str, value: Any) -> list[str]:
    entries = bounded_list(key, to_list(key, value), limits.MAX_ACL_ENTRIES)
    return [normalise_acl_entry(v) for v in entries]


def to_whitelist(key: str, value: Any) -> list[str]:
    entries = bounded_list(key, to_list(key, value), limits.MAX_WHITELIST_ENTRIES)
    return [v if v == "*" else normalize_name(v) for v in entries]


# The list options and their bounds: a change that adds entries (``acl_upload+=x``) is checked
# against them after it is applied.
LIST_BOUNDS = {
    "bases": limits.MAX_BASES,
    "acl_upload": limits.MAX_ACL_ENTRIES,
    "acl_toxresult_upload": limits.MAX_ACL_ENTRIES,
    "mirror_whitelist": limits.MAX_WHITELIST_ENTRIES,
    "min_release_age_exempt": limits.MAX_WHITELIST_ENTRIES,
    "tracks": limits.MAX_BASES,
    "alternate_locations": limits.MAX_BASES,
}


def to_inheritance(key: str, value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in ("intersection", "union"):
        return value.strip().lower()
    raise OptionError(f"'{key}' option must be 'intersection' or 'union'")


def to_text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise OptionError(f"'{key}' option must be a string")
    return str(value)


def bounded_text(max_length: int) -> Callable[[str, Any], str]:
    def to_bounded_text(key: str, value: Any) -> str:
        text = to_text(key, value)
        if len(text) > max_length:
            raise OptionError(f"'{key}' may be at most {max_length} characters long")
        return text

    return to_bounded_text


def check_json_size(key: str, value: Any, max_bytes: int) -> None:
    """Refuse ``value`` when its JSON form is longer than ``max_bytes`` (the form it is
    stored in)."""
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > max_bytes:
        raise OptionError(f"'{key}' may be at most {max_bytes} bytes as JSON")


def to_any(key: str, value: Any) -> Any:
    return value


def to_custom_data(key: str, value: Any) -> Any:
    check_json_size(key, value, limits.MAX_CUSTOM_DATA_BYTES)
    return value


def to_int(key: str, value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise OptionError(f"'{key}' option must be an integer") from None


def to_url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise OptionError(f"'{key}' option must be a URL.")
    return value


_SIZE = re.compile(r"^\s*(\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*$", re.IGNORECASE)
_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
# Bounds far beyond any real use, below what dates and the databases' integers can hold.
MAX_DURATION_SECONDS = 100 * 365 * 86400
MAX_SIZE_BYTES = 2**60
MAX_KEEP_VERSIONS = 1_000_000


def to_keep_versions(key: str, value: Any) -> int:
    count = to_int(key, value)
    if not 1 <= count <= MAX_KEEP_VERSIONS:
        raise OptionError(f"'{key}' option must be between 1 and {MAX_KEEP_VERSIONS}")
    return count


def to_duration(key: str, value: Any) -> int:
    """Seconds, from a number of seconds or a duration such as 30d, 36h or 1d12h
    (``lifecycle.age.parse_duration``, which ``min_release_age`` uses too)."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    else:
        try:
            seconds = parse_duration(value) if isinstance(value, str) else -1
        except ValueError:
            seconds = -1
        if seconds < 0:
            raise OptionError(
                f"'{key}' option must be a duration such as 30d, 36h, 90m or a number of seconds"
            )
    if not 1 <= seconds <= MAX_DURATION_SECONDS:
        raise OptionError(f"'{key}' option must be between one second and 100 years")
    return seconds


def to_size(key: str, value: Any) -> int:
    """Bytes, from a number of bytes or a number with a binary unit: K, M, G or T."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(value) if isinstance(value, str) else None
        if match is None:
            raise OptionError(f"'{key}' option must be a size such as 500M, 20G or a byte count")
        size = int(match.group(1)) * _BYTES[(match.group(2) or "").lower()]
    if not 1 <= size <= MAX_SIZE_BYTES:
        raise OptionError(f"'{key}' option must be between one byte and 1024 petabytes")
    return size
# The minimum release age (lifecycle.age says what they mean).


def to_min_release_age(key: str, value: Any) -> str:
    """The duration as given (``""`` or ``"0"`` is off)."""
    text = "" if value is None else str(value).strip()
    if text in ("", "0"):
        return ""
    try:
        parse_duration(text)
    except ValueError:
        raise OptionError(
            f"'{key}' must be a duration such as 7d, 36h, 90m or 1d12h, not {text!r}"
        ) from None
    return text


def to_exclude_newer(key: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    try:
        parse_instant(text)
    except ValueError:
        raise OptionError(
            f"'{key}' must be a date (2026-01-31) or a timestamp (2026-01-31T12:00:00Z), "
            f"not {text!r}"
        ) from None
    return text


def to_exemptions(key: str, value: Any) -> list[str]:
    entries = bounded_list(key, to_list(key, value), limits.MAX_WHITELIST_ENTRIES)
    for entry in entries:
        try:
            parse_exemption(entry)
        except ValueError:
            raise OptionError(
                f"an entry of '{key}' must be a project name or pattern, optionally followed "
                f"by 'until YYYY-MM-DD', not {entry!r}"
            ) from None
    return entries


def to_unknown_policy(key: str, value: Any) -> str:
    text = "" if value is None else str(value).strip().lower()
    if text in ("", "hide", "show"):
        return text
    raise OptionError(f"'{key}' must be 'hide' or 'show', not {value!r}")


def to_index_urls(key: str, value: Any) -> list[str]:
    urls = bounded_list(key, to_list(key, value), LIST_BOUNDS[key])
    for url in urls:
        if not url.startswith(("http://", "https://")) or not url.endswith("/"):
            raise OptionError(f"an entry of '{key}' must be an http(s) URL ending in '/': {url!r}")
    return urls


@dataclass(frozen=True)
class Option:
    coerce: Callable[[str, Any], Any]
    # A callable taking the owner's name, or None when the key is absent unless given.
    default: Callable[[str], Any] | None = None


class IndexType:
    """Base class of index types. Subclasses set ``name`` and ``options``."""

    name: str = ""
    is_mirror: bool = False
    read_only: bool = False
    # Keys that are accepted and silently dropped (devpi drops bases etc. on mirrors).
    dropped: frozenset[str] = frozenset({"pypi_whitelist"})
    options: dict[str, Option] = {}
    # Whether filter_links may drop or change the merged links. Pages through an index whose
    # type keeps them can be joined from the entries hosted files stored at upload. A subclass
    # that overrides filter_links is taken to change them unless it says otherwise.
    changes_links: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "filter_links" in cls.__dict__ and "changes_links" not in cls.__dict__:
            cls.changes_links = True

    def volatile_default(self, fullname: str) -> bool:
        return True

    def coerce(self, key: str, value: Any) -> Any:
        return self.options[key].coerce(key, value)

    def defaults(self, owner: str) -> dict[str, Any]:
        return {
            key: option.default(owner)
            for key, option in self.options.items()
            if option.default is not None
        }

    # Filters applied after inheritance has merged the stages (devpi's customisers). The
    # defaults let everything through.
    def filter_projects(self, index: Any, names: Iterable[str]) -> Iterable[str]:
        return names

    def filter_versions(self, index: Any, project: str, versions: Iterable[str]) -> Iterable[str]:
        return versions

    def filter_links(self, index: Any, project: str, links: list[Any]) -> list[Any]:
        return links

    def make_backend(self, *, session: Any, index: Any, app: Any) -> Any:
        """The object that answers for this index's own projects (see ``indexes.backends``)."""
        from ..packages.backend import HostedBackend

        return HostedBackend(session=session, index=index, app=app)


# The retention rules (``retention``), for hosted releases and mirrored files.
STAGE_RETENTION_OPTIONS = {
    "keep_versions": Option(to_keep_versions),
    "drop_prereleases_after": Option(to_duration),
}
MIRROR_RETENTION_OPTIONS = {
    "evict_unused_after": Option(to_duration),
    "max_size": Option(to_size),
}

COMMON_OPTIONS = {
    "title": Option(bounded_text(limits.MAX_TITLE_LENGTH)),
    "description": Option(bounded_text(limits.MAX_DESCRIPTION_LENGTH)),
    "custom_data": Option(to_custom_data),
    "min_release_age": Option(to_min_release_age),
    "min_release_age_exempt": Option(to_exemptions),
    "exclude_newer": Option(to_exclude_newer),
    "min_release_age_unknown": Option(to_unknown_policy),
}
# Options bounded by their own coercion; any other (plugins' included) is bounded by size.
OWN_BOUNDS = frozenset({*COMMON_OPTIONS, *LIST_BOUNDS})


class StageType(IndexType):
    name = "stage"
    options = {
        **COMMON_OPTIONS,
        "acl_upload": Option(to_acl, default=lambda owner: [owner]),
        "acl_toxresult_upload": Option(to_acl, default=lambda owner: [ANONYMOUS]),
        "mirror_whitelist": Option(to_whitelist, default=lambda owner: []),
        "mirror_whitelist_inheritance": Option(
            to_inheritance, default=lambda owner: "intersection"
        ),
        # Bounded by its own check: entries, projects, field lengths, bytes (oidc/publishers).
        OPTION_TRUSTED_PUBLISHERS: Option(to_trusted_publishers_option),
        **STAGE_RETENTION_OPTIONS,
        # PEP 708: simple-index URLs (ending in "/") under which the projects this stage hosts
        # are the same projects (tracks) or other locations of them (alternate-locations).
        "tracks": Option(to_index_urls),
        "alternate_locations": Option(to_index_urls),
    }


@hookimpl
def pyshelf_get_index_types() -> list[type[IndexType]]:
    return [StageType]
