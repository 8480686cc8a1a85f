"""API tokens: macaroons a user creates, narrows offline and gives to CI instead of a password.

A token is ``devpi-`` followed by a serialised v2 macaroon (pymacaroons), as devpi-tokens makes
them; the prefix is optional on use (``devpi token-derive`` prints tokens without it). The
macaroon's identifier is ``<user>-<token id>``; its caveats restrict it:

- ``expires=<epoch>`` (absent: never; only root may create that or exceed the maximum),
- ``not_before=<epoch>``,
- ``allowed=perm1,perm2`` (permission names of ``permissions.Permission``: ``pkg_read``,
  ``upload`` …),
- ``indexes=user/index,…``,
- ``projects=name,…`` (normalised names; for an upload, the form's ``name``),
- any caveat registered with :func:`register_caveat` (see below).

A holder may add caveats (``token-derive``); several caveats of one kind all apply (the token
allows what every one of them allows). A caveat the server does not know refuses the token.

What is stored (``api_tokens``): the id, the user, a random seed, the restrictions it was made
with (for the list) and its expiry. The macaroon's root key is ``HMAC(server secret, id, seed)``:
neither the table nor the secret alone makes or checks a token, and checking one costs a few
HMACs (no password hash). Rows are cached per users token (``security.CredentialCache``), and
revoking a token changes the users token, so that every server process stops accepting it at
once. The signature comparison is pymacaroons' constant-time one.

A token is accepted wherever a password is (HTTP Basic ``__token__:<token>`` or
``<user>:<token>``, ``X-Devpi-Auth``; not ``/+login``, so it never turns into a login token).
The identity it gives is its user's, with :class:`Grant` attached: ``security.SecurityPolicy``
asks :meth:`Grant.refusal` before the ACLs on every permission check, so a token never has a
``user_*`` permission (it cannot change users or create tokens), nor one outside ``allowed``,
nor any on an index or project outside its lists. A token that fails to verify (bad signature,
revoked, expired, not yet valid, unknown caveat, another user's name) leaves the request
anonymous, like a wrong password.

Minting a restricted token from another service (trusted publishing does this)::

    from pyshelf_server.accounts.tokens import TokenService, register_caveat

    # Once, when the plugin is configured: a checker for an extra caveat, called with the
    # request and the caveat's value on every permission check the token's request makes
    # (at most once per request). It returns None to accept, or the refusal's message
    # (answered as a 403): e.g. whether the publisher entry still exists on the index.
    register_caveat("pyshelf-publisher", check_publisher)

    # In a view, after views.helpers.begin_write(request):
    token_id, token = TokenService.for_request(request).create(
        user,                                    # accounts.models.User the token acts as
        expires=now + 900,                       # epoch seconds
        allowed=["upload"],
        indexes=["alice/dev"],
        projects=["my-project"],
        description="trusted publisher 17",
        caveats={"pyshelf-publisher": "17"},
        policy=False,                            # not bound by the user-facing expiry limits
    )

``token`` is returned only there (show it once); ``token_id`` names the row for
:meth:`TokenService.revoke`. A plugin does the same through ``plugin_api``::

    plugin_api.register_token_caveat("pyshelf-publisher", check_publisher)
    token_id, token = plugin_api.tokens(request).mint(
        "alice", expires=now + 900, allowed=["upload"], indexes=["alice/dev"],
        projects=["my-project"], description="…", caveats={"pyshelf-publisher": "17"})

The user a token acts as still needs the permission by the index's ACLs (``acl_upload``): the
token only takes permissions away. During a request made with a token,
``request.identity.grant`` is its :class:`Grant`: ``grant.caveats`` lists the registered caveats
as ``(name, value)`` pairs (e.g. to record which publisher uploaded), ``grant.token_id`` names
the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from ..names import normalize_name
from ..responses import APIError
from .models import ApiToken, User

PREFIX = "devpi-"
ONE_YEAR = 365 * 24 * 3600
# Tokens longer than this are not tokens (a password, or garbage): no parsing attempted.
MAX_TOKEN_LENGTH = 16384
# devpi-tokens' alphabet (no look-alike characters); 8 characters as it uses.
ID_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ID_LENGTH = 8
LIST_KINDS = ("allowed", "indexes", "projects")
CORE_KINDS = ("expires", "not_before", *LIST_KINDS)

# A checker gets (request, caveat value) and returns None (accept) or a refusal message.
CaveatChecker = Callable[[Any, str], "str | None"]
_caveat_checkers: dict[str, CaveatChecker] = {}


def register_caveat(name: str, checker: CaveatChecker) -> None:
    """Make tokens with a ``<name>=<value>`` caveat valid, checked by ``checker`` at use."""
    if name in CORE_KINDS or "=" in name or not name:
        raise ValueError(f"cannot register caveat {name!r}")
    _caveat_checkers[name] = checker


def strip_prefix(token: str) -> str:
    return token[len(PREFIX) :] if token.startswith(PREFIX) else token


def deserialize(token: str) -> Any:
    """The macaroon of ``token`` (with or without the prefix), or None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    from pymacaroons import Macaroon

    try:
        return Macaroon.deserialize(strip_prefix(token))
    except Exception:
        return None


def identifier_parts(macaroon: Any) -> tuple[str, str] | None:
    try:
        identifier = macaroon.identifier_bytes.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return None
    user, sep, token_id = identifier.rpartition("-")
    if not sep or not user or not token_id:
        return None
    return user, token_id


@dataclass
class Grant:
    """What a verified token allows (each list None: unrestricted)."""

    username: str
    token_id: str
    expires: int | None = None
    not_before: int | None = None
    allowed: frozenset[str] | None = None
    indexes: frozenset[str] | None = None
    projects: frozenset[str] | None = None
    # Registered extra caveats, (name, value), checked at use.
    caveats: list[tuple[str, str]] = field(default_factory=list)
    _caveat_refusal: list[str | None] = field(default_factory=list)

    def narrow(self, kind: str, values: Iterable[str]) -> None:
        found = frozenset(values)
        current = getattr(self, kind)
        setattr(self, kind, found if current is None else current & found)

    def refusal(self, request: Any, context: Any, permission: str) -> str | None:
        """Why this token may not use ``permission`` on ``context`` (None: the ACLs decide)."""
        if permission.startswith("user_"):
            return "a token cannot change users or create tokens"
        if self.allowed is not None and permission not in self.allowed:
            return f"Token does not allow the permission '{permission}'"
        fullname = getattr(context, "fullname", None)
        if fullname is not None:
            refused = self.index_refusal(fullname)
            if refused:
                return refused
            project = (getattr(request, "matchdict", None) or {}).get("project")
            if project:
                refused = self.project_refusal(project)
                if refused:
                    return refused
        return self.caveat_refusal(request)

    def index_refusal(self, fullname: str) -> str | None:
        if self.indexes is not None and fullname not in self.indexes:
            return f"Token denied access to index '{fullname}'"
        return None

    def project_refusal(self, project: str) -> str | None:
        name = normalize_name(project)
        if self.projects is not None and name not in self.projects:
            return f"Token denied access to project '{name}'"
        return None

    def caveat_refusal(self, request: Any) -> str | None:
        if not self.caveats:
            return None
        if not self._caveat_refusal:
            refusal = None
            for name, value in self.caveats:
                refusal = _caveat_checkers[name](request, value)
                if refusal:
                    break
            self._caveat_refusal.append(refusal)
        return self._caveat_refusal[0]


def parse_caveats(grant: Grant, predicates: Iterable[str]) -> bool:
    """Narrow ``grant`` by every caveat; False when one is unknown or malformed."""
    for predicate in predicates:
        key, sep, value = predicate.partition("=")
        if not sep:
            return False
        if key in ("expires", "not_before"):
            if value == "never" and key == "expires":
                continue
            try:
                moment = int(value)
            except ValueError:
                return False
            if key == "expires":
                grant.expires = moment if grant.expires is None else min(grant.expires, moment)
            else:
                grant.not_before = max(grant.not_before or moment, moment)
        elif key in LIST_KINDS:
            items = [item.strip() for item in value.split(",") if item.strip()]
            if key == "projects":
                items = [normalize_name(item) for item in items]
            grant.narrow(key, items)
        elif key in _caveat_checkers:
            grant.caveats.append((key, value))
        else:
            return False
    return True


@dataclass(frozen=True)
class TokenRow:
    """What the cache keeps of an ``api_tokens`` row."""

    username: str
    seed: str


class TokenKeys:
    """The process-wide part: root keys, verification and the cache of token rows."""

    def __init__(self, secret: bytes, settings: Any, clock: Callable[[], float] = time.time):
        from ..security import CredentialCache

        self.secret = secret
        self.settings = settings
        self.clock = clock
        self.rows = CredentialCache()

    def root_key(self, token_id: str, seed: str) -> bytes:
        message = b"api-token\0" + token_id.encode("utf-8") + b"\0" + seed.encode("ascii")
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def meant_as_token(self, username: str, secret: str) -> bool:
        """Whether credentials are an API token rather than a password: the user name
        ``__token__``, or a secret that parses as a macaroon naming ``username``. A password
        that merely looks like one (``devpi-…``, ``AgE…``: how a serialised v2 macaroon begins)
        stays a password; anything else is decided without parsing."""
        if username == "__token__":
            return True
        if not secret.startswith((PREFIX, "AgE")):
            return False
        macaroon = deserialize(secret)
        parts = identifier_parts(macaroon) if macaroon is not None else None
        return parts is not None and parts[0] == username

    def verify(self, request: Any, username: str, secret: str) -> Grant | None:
        """The grant of ``secret`` when it is a valid token of ``username`` (``__token__`` or
        empty: whoever it names), else None."""
        macaroon = deserialize(secret)
        if macaroon is None:
            return None
        parts = identifier_parts(macaroon)
        if parts is None:
            return None
        token_user, token_id = parts
        if username not in ("__token__", "", token_user):
            return None
        row = self.row(request, token_id)
        if row is None or row.username != token_user:
            return None
        grant = Grant(token_user, token_id)
        caveats = []
        for caveat in macaroon.caveats:
            if not caveat.first_party():
                return None
            try:
                caveats.append(caveat.caveat_id_bytes.decode("utf-8"))
            except UnicodeDecodeError:
                return None
        if not parse_caveats(grant, caveats):
            return None
        now = self.clock()
        if grant.expires is not None and now >= grant.expires:
            return None
        if grant.not_before is not None and now < grant.not_before:
            return None
        from pymacaroons import Verifier

        verifier = Verifier()
        # Every caveat was understood above; what they allow is checked per permission.
        verifier.satisfy_general(lambda _predicate: True)
        try:
            verifier.verify(macaroon, self.root_key(token_id, row.seed))
        except Exception:
            return None
        return grant

    def row(self, request: Any, token_id: str) -> TokenRow | None:
        from ..security import current_credential

        found: TokenRow | None = current_credential(
            request, self.rows, token_id, lambda session: _load_row(session, token_id)
        )
        return found

    def make(self, username: str, token_id: str, seed: str, caveats: Iterable[str]) -> str:
        from pymacaroons import MACAROON_V2, Macaroon

        macaroon = Macaroon(
            identifier=f"{username}-{token_id}",
            key=self.root_key(token_id, seed),
            version=MACAROON_V2,
        )
        for caveat in caveats:
            macaroon.add_first_party_caveat(caveat)
        return PREFIX + macaroon.serialize()


def _load_row(session: Any, token_id: str) -> TokenRow | None:
    found = session.execute(
        select(User.name, ApiToken.seed)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).one_or_none()
    return TokenRow(found[0], found[1]) if found else None


@dataclass
class TokenInfo:
    id: str
    restrictions: list[str]
    description: str | None
    created: datetime
    expires: datetime | None

    def json(self) -> dict[str, Any]:
        from .services import iso

        data: dict[str, Any] = {"restrictions": list(self.restrictions)}
        if self.description:
            data["description"] = self.description
        data["created"] = iso(self.created)
        data["expires"] = iso(self.expires)
        return data


class TokenService:
    """Creating, listing and revoking tokens in a unit of work."""

    def __init__(self, uow: Any, keys: TokenKeys) -> None:
        self.uow = uow
        self.keys = keys

    @classmethod
    def for_request(cls, request: Any) -> TokenService:
        return cls(request.uow, request.registry.pyshelf.token_keys)

    @property
    def session(self) -> Any:
        return self.uow.session

    def checked_expiry(self, expires: Any, *, may_extend: bool) -> int | None:
        """``expires`` from a request (epoch seconds, ``"never"`` or None for the default)
        checked against the server's limits; None means never."""
        settings = self.keys.settings
        now = int(self.keys.clock())
        if expires is None:
            return now + settings.token_default_seconds
        if expires == "never":
            if not may_extend:
                raise APIError(403, "Not allowed to create token with no expiration")
            return None
        if isinstance(expires, bool) or not isinstance(expires, int | str):
            raise APIError(400, f"Invalid value {expires!r} for expiration")
        try:
            moment = int(expires)
        except ValueError:
            raise APIError(400, f"Invalid value {expires!r} for expiration") from None
        if moment <= now:
            raise APIError(400, "Can't set expiration before current time")
        # A second of slack: the client computed "one year" a moment before this request.
        if moment > now + settings.token_max_seconds + 60 and not may_extend:
            raise APIError(
                403,
                f"Not allowed to set expiration to more than {settings.token_max_seconds} "
                "seconds from now",
            )
        return moment

    def create(
        self,
        user: User,
        *,
        expires: Any = None,
        not_before: int | None = None,
        allowed: Iterable[str] | None = None,
        indexes: Iterable[str] | None = None,
        projects: Iterable[str] | None = None,
        description: str | None = None,
        caveats: dict[str, str] | None = None,
        policy: bool = True,
        may_extend: bool = False,
    ) -> tuple[str, str]:
        """A new token for ``user``: ``(token id, token)``. With ``policy``, ``expires`` is
        checked by :meth:`checked_expiry` (``may_extend``: root's freedom); without, it is
        taken as given (epoch seconds, None for never)."""
        moment = self.checked_expiry(expires, may_extend=may_extend) if policy else expires
        restrictions = []
        if moment is not None:
            restrictions.append(f"expires={int(moment)}")
        if not_before is not None:
            restrictions.append(f"not_before={int(not_before)}")
        for kind, values in (("allowed", allowed), ("indexes", indexes), ("projects", projects)):
            if values is None:
                continue
            items = sorted({_list_item(kind, value) for value in values})
            if kind == "projects":
                items = sorted({normalize_name(item) for item in items})
            restrictions.append(f"{kind}={','.join(items)}")
        for name, value in (caveats or {}).items():
            if name not in _caveat_checkers:
                raise ValueError(f"caveat {name!r} is not registered")
            restrictions.append(f"{name}={value}")
        self._drop_expired(user)
        while True:
            token_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
            if self.session.get(ApiToken, token_id) is None:
                break
        seed = secrets.token_hex(32)
        self.session.add(
            ApiToken(
                id=token_id,
                user_id=user.id,
                seed=seed,
                restrictions=restrictions,
                description=description or None,
                expires=None if moment is None else datetime.fromtimestamp(int(moment), UTC),
            )
        )
        self.session.flush()
        return token_id, self.keys.make(user.name, token_id, seed, restrictions)

    def list(self, user: User) -> list[TokenInfo]:
        rows = self.session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        ).scalars()
        return [
            TokenInfo(row.id, list(row.restrictions or []), row.description, row.created,
                      row.expires)
            for row in rows
        ]  # fmt: skip

    def revoke(self, user: User, token_id: str) -> bool:
        """Remove ``user``'s token ``token_id`` (and so every token derived from it); False
        when there is none."""
        gone = self.session.execute(
            delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
        ).rowcount
        if gone:
            # Cached token rows are those of a users token (security.CredentialCache).
            self.uow.changed(users=True)
        return bool(gone)

    def _drop_expired(self, user: User) -> None:
        # Expired tokens verify no more; their rows need not stay (no cache holds a use).
        now = datetime.fromtimestamp(self.keys.clock(), UTC)
        self.session.execute(
            delete(ApiToken).where(
                ApiToken.user_id == user.id,
                ApiToken.expires.is_not(None),
                ApiToken.expires < now,
            )
        )


def _list_item(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise APIError(400, f"{kind} must be a list of non-empty strings")
    if "," in value or "=" in value:
        raise APIError(400, f"{kind} items may not contain ',' or '='")
    return value.strip()
