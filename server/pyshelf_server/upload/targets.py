"""Where an external push may send a release: http(s) URLs whose host resolves to public
addresses only, unless root allowed the host with ``--push-allow-hosts``.

The check resolves the host once and the push then connects to the address that was checked
(the request keeps the host name in ``Host`` and in TLS's SNI and certificate check), so a
name that resolves to a public address for the check and to a private one a moment later
(DNS rebinding) cannot redirect the push.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..responses import APIError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2000


class AllowedHosts:
    """The parsed ``--push-allow-hosts``: host names (matched without regard to case, whatever
    they resolve to) and addresses or CIDR networks (matched against the resolved addresses)."""

    def __init__(self, names: frozenset[str], networks: tuple[IPNetwork, ...]) -> None:
        self.names = names
        self.networks = networks

    @classmethod
    def parse(cls, text: str) -> AllowedHosts:
        """From a comma-separated list; ValueError names an entry that is neither an address,
        a network nor a host name."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if not _is_host_name(entry):
                raise ValueError(f"{entry!r} is neither a host name, an address nor a CIDR network")
            names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _is_host_name(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return len(text) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").replace("_", "").isalnum()
        and label.isascii()
        for label in labels
    )


@dataclass(frozen=True)
class PushTarget:
    """A checked push URL: ``url`` as given, and the address the push connects to."""

    url: str
    host: str
    address: str


def target_host(url: str) -> tuple[str, int]:
    """(host, port) of a push URL; 400 for what is not an http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise APIError(400, f"posturl is longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise APIError(400, "posturl must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise APIError(400, "posturl is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise APIError(400, "posturl must be an http or https URL")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, allowed: AllowedHosts) -> PushTarget:
    """The target of a push to ``url``: 400 for what is not an http(s) URL, 502 when its host
    does not resolve, 403 when it resolves to an address that is not public and root has not
    allowed it. Every address the name resolves to is checked."""
    host, port = target_host(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise APIError(502, f"push target {host} cannot be resolved: {error}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    if not addresses:
        raise APIError(502, f"push target {host} has no address")
    if not allowed.allows_name(host):
        for address in addresses:
            problem = _not_public(address)
            if problem and not allowed.allows_address(address):
                raise APIError(
                    403,
                    f"push target {host} resolves to {address}, {problem}; "
                    "root can allow it with --push-allow-hosts",
                )
    return PushTarget(url=url, host=host, address=str(addresses[0]))


def _not_public(address: IPAddress) -> str | None:
    """Why ``address`` is no place to push to, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if not address.is_global:
        return "a private or reserved address"
    return None
