"""``key=value`` arguments of ``pyshelf user`` and ``pyshelf index``.

devpi-client passes them to the server unchanged (as strings, or as a PATCH operation list
when the server advertises ``server-keyvalue-parsing``), so this module only checks their
shape and, for servers without that feature, applies the operations to a fetched config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ClientError, UsageError

_KEYVALUE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<op>\+=|-=|=)(?P<value>.*)$", re.DOTALL)


@dataclass(frozen=True)
class KeyValue:
    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def parse_keyvalues(items: Iterable[str], *, list_ops: bool = False) -> list[KeyValue]:
    """Parse ``key=value`` (and with *list_ops* ``key+=value``/``key-=value``) arguments."""
    result = []
    for item in items:
        match = _KEYVALUE.match(item)
        if match is None:
            raise UsageError(f"malformed argument {item!r}: expected key=value")
        kv = KeyValue(match["key"], match["op"], match["value"])
        if kv.op != "=" and not list_ops:
            raise UsageError(f"{kv.key}{kv.op} is only allowed when modifying: use {kv.key}=VALUE")
        result.append(kv)
    return result


def check_keys(keyvalues: Iterable[KeyValue], allowed: Iterable[str], what: str) -> None:
    allowed = set(allowed)
    for kv in keyvalues:
        if kv.key not in allowed:
            raise UsageError(
                f"unknown {what} option {kv.key!r} (known: {', '.join(sorted(allowed))})"
            )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def apply_operations(config: dict[str, Any], keyvalues: Iterable[KeyValue]) -> dict[str, Any]:
    """Apply operations to a config the way a server with key/value parsing would.

    Used only against servers that lack the ``server-keyvalue-parsing`` feature: the client
    then has to send the whole changed config as a dict.
    """
    config = dict(config)
    for kv in keyvalues:
        if kv.op == "=":
            config[kv.key] = kv.value
        elif kv.op == "+=":
            values = _as_list(config.get(kv.key))
            if kv.value not in values:
                values.append(kv.value)
            config[kv.key] = values
        elif kv.op == "-=":
            if kv.value == "":
                config.pop(kv.key, None)
                continue
            values = _as_list(config.get(kv.key))
            if kv.value not in values:
                raise ClientError(f"the {kv.key!r} setting doesn't have value {kv.value!r}")
            values.remove(kv.value)
            config[kv.key] = values
    return config
