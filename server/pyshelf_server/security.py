"""Who is asking: credentials, passwords, login tokens and the security policy.

Credentials come from ``X-Devpi-Auth`` (devpi client) or HTTP Basic (pip, uv, twine), through
the ``pyshelf_get_credentials`` hook so plugins can add sources. The secret may be the password
or a login token from ``/+login``. Bad credentials never fail a request: it stays anonymous.

Checking an argon2 hash costs tens of milliseconds by design, and pip and twine send the password
with every request. So after one successful check we remember an HMAC of (user, password) under
the server secret together with the hash it was checked against; the next request with the same
credentials costs one HMAC and one lookup. The hashing itself keeps its full strength, the
memory holds no password, and a password change invalidates the entry because the stored hash
changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.request import RequestLocalCache
from pyramid.security import Denied
from sqlalchemy import bindparam, select

from . import hookimpl
from .accounts.htpasswd import IN_HTPASSWD_FILE, add_htpasswd_user
from .accounts.models import User
from .accounts.readonly import refuses as read_only_refuses
from .lru import WeighedLRU
from .permissions import user_principal

TOKEN_SALT = "pyshelf-login"  # noqa: S105 - a signing salt, not a secret


# What Apache's htpasswd writes (-B, -5/-2 of newer versions, -m, -d, -s), for the lines of an
# ``--htpasswd`` file and for hashes moved in from one (pyshelf-import-htpasswd). Never
# "plaintext": any string would then be the password of a garbled line.
HTPASSWD_SCHEMES = [
    "bcrypt",
    "sha512_crypt",
    "sha256_crypt",
    "apr_md5_crypt",
    "ldap_sha1",
    "des_crypt",
]


def get_password_context() -> Any:
    """passlib's context (argon2 for new passwords; the htpasswd schemes for hashes from an
    htpasswd file), made on first use: importing passlib and argon2 is ~30 ms of a server start
    that may never check a password. Tests replace it by assigning
    ``security.password_context``."""
    context = globals().get("password_context")
    if context is None:
        from passlib.context import CryptContext

        context = CryptContext(schemes=["argon2", *HTPASSWD_SCHEMES], deprecated="auto")
        globals()["password_context"] = context
    return context


def __getattr__(name: str) -> Any:
    if name == "password_context":
        return get_password_context()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def hash_password(password: str) -> str:
    return get_password_context().hash(password)


class LoginTokens:
    """Signed, expiring login tokens: ``["user", [], true].<timestamp>.<signature>``.

    The signature also covers the user's password hash as it was when the token was made, so a
    token ends with what it stood for: a password change or the user's deletion (a re-created
    user gets a new hash, with a new random salt, even for the same password) leaves every
    earlier token of that user unverifiable, on every server process, with nothing stored."""

    def __init__(self, secret: bytes, max_age: int) -> None:
        self.secret = secret
        self.max_age = max_age

    def _signer(self, password_hash: str) -> Any:
        # itsdangerous is imported on the first login or token, not during the server start.
        from itsdangerous import TimestampSigner

        key = hmac.new(
            self.secret, b"login-token\0" + password_hash.encode("utf-8"), hashlib.sha256
        ).digest()
        return TimestampSigner(key, salt=TOKEN_SALT)

    def create(self, username: str, password_hash: str) -> str:
        payload = json.dumps([username, [], True], separators=(", ", ": "))
        return self._signer(password_hash).sign(payload.encode("utf-8")).decode("utf-8")

    def verify(self, token: str, username: str, password_hash: str) -> bool:
        """Whether ``token`` was made for ``username`` while its password hash was
        ``password_hash``, and has not expired."""
        from itsdangerous import BadSignature

        try:
            payload = self._signer(password_hash).unsign(
                token.encode("utf-8"), max_age=self.max_age
            )
            data = json.loads(payload)
        except (BadSignature, ValueError, UnicodeError):
            return False
        return isinstance(data, list) and bool(data) and data[0] == username


class VerifiedPasswords:
    """Remembers successful password checks (see the module docstring)."""

    def __init__(self, secret: bytes, size: int = 10000) -> None:
        self.key = hashlib.sha256(b"verified-passwords:" + secret).digest()
        self.size = size
        self.entries: OrderedDict[bytes, str] = OrderedDict()
        self.lock = threading.Lock()

    def _key(self, username: str, password: str) -> bytes:
        message = username.encode("utf-8") + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def check(self, username: str, password: str, password_hash: str) -> bool:
        key = self._key(username, password)
        with self.lock:
            known = self.entries.get(key)
            if known is not None and hmac.compare_digest(known, password_hash):
                self.entries.move_to_end(key)
                return True
        try:
            ok = get_password_context().verify(password, password_hash)
        except (ValueError, TypeError):
            ok = False
        if ok:
            with self.lock:
                self.entries[key] = password_hash
                self.entries.move_to_end(key)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        return ok


@dataclass
class Identity:
    username: str
    groups: list[str] = field(default_factory=list)
    # Set when the request came with an API token: what the token allows (accounts.tokens).
    grant: Any = None

    @property
    def is_root(self) -> bool:
        return self.username == "root"


def decode_basic(value: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, secret = text.partition(":")
    if not sep or not user or "\x00" in user:
        return None
    return user, secret


@hookimpl(trylast=True)
def pyshelf_get_credentials(request: Any) -> tuple[str, str] | None:
    header = request.headers.get("X-Devpi-Auth")
    if header:
        return decode_basic(header)
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic" and value:
        return decode_basic(value)
    return None


_users = User.__table__
_PASSWORD_HASH = select(_users.c.password_hash).where(_users.c.name == bindparam("username"))


class CredentialCache:
    """What verifies credentials (users' password hashes, API tokens' rows) as of a users token
    (``server_state.users_token``, which changes whenever a user is deleted, a password changes
    or a token is revoked, and with nothing else): an upload then needs no query, and no
    session, to know its user or token still exists. Only what exists is kept, so a new user or
    token is simply looked up; entries of an older users token are never asked for again and
    age out."""

    def __init__(self, size: int = 1024) -> None:
        self.entries: WeighedLRU[Any] = WeighedLRU(size, lambda _entry: 1)

    def get(self, users_token: str, key: str) -> Any:
        return self.entries.get((users_token, key))

    def put(self, users_token: str, key: str, value: Any) -> None:
        self.entries.put((users_token, key), value)


def current_credential(
    request: Any, cache: CredentialCache, key: str, load: Callable[[Any], Any]
) -> Any:
    """``load(session)`` (None: nothing there) as of the request's state, through ``cache``.

    A request that writes from the start would begin its write transaction with its first
    query: the value is then read before that, on the state reader and a read session of its
    own, so that no password (argon2) is ever checked while the write lock is held."""
    services = request.registry.pyshelf
    writes = request.uow.writing and not request.uow.opened
    users_token = services.state_reader.read()[3] if writes else request.shelf.state[3]
    value = cache.get(users_token, key)
    if value is None:
        if writes:
            with services.database.reading() as session:
                value = load(session)
        else:
            value = load(request.db)
        if value is None:
            return None
        cache.put(users_token, key, value)
    return value


def current_password_hash(request: Any, username: str) -> str | None:
    """The hash ``username``'s password is checked against (None: no such user): the
    htpasswd file's for a user whose password lives there (``accounts.htpasswd``), else the
    database's."""
    stored = stored_password_hash(request, username)
    if stored is not None and stored != IN_HTPASSWD_FILE:
        return stored
    htpasswd = request.registry.pyshelf.htpasswd
    return htpasswd.hash_of(username) if htpasswd is not None else None


def stored_password_hash(request: Any, username: str) -> str | None:
    """``username``'s password hash in the database as of the request's state (None: no such
    user)."""
    found: str | None = current_credential(
        request,
        request.registry.pyshelf.password_hashes,
        username,
        lambda session: _stored_hash(session, username),
    )
    return found


def _stored_hash(session: Any, username: str) -> str | None:
    found: str | None = (
        session.connection().execute(_PASSWORD_HASH, {"username": username}).scalar_one_or_none()
    )
    return found


@hookimpl(trylast=True)
def pyshelf_authenticate(request: Any, username: str, secret: str) -> str | None:
    services = request.registry.pyshelf
    password_hash = current_password_hash(request, username)
    if password_hash is None:
        return None
    if secret.startswith("[") and services.login_tokens.verify(secret, username, password_hash):
        return username
    if services.verified_passwords.check(username, secret, password_hash):
        if services.htpasswd is not None and stored_password_hash(request, username) is None:
            add_htpasswd_user(request, username)
        return username
    return None


class TokenDenied(Denied):
    """A permission an API token's restrictions refuse; its message is the answer's."""


class SecurityPolicy:
    """Pyramid security policy: identity from the hooks above, permissions from the context's
    ACL unless a plugin decides through ``pyshelf_permits``."""

    def __init__(self) -> None:
        self.acl = ACLHelper()
        # Per request: the check may cost a database query (and once an argon2 check).
        self.identities = RequestLocalCache(self._load_identity)

    def identity(self, request: Any) -> Identity | None:
        found: Identity | None = self.identities.get_or_create(request)
        return found

    def _load_identity(self, request: Any) -> Identity | None:
        hook = request.registry.pyshelf.pm.hook
        credentials = hook.pyshelf_get_credentials(request=request)
        if not credentials:
            return None
        username, secret = credentials
        keys = request.registry.pyshelf.token_keys
        grant = None
        if keys.meant_as_token(username, secret):
            grant = keys.verify(request, username, secret)
            name = grant.username if grant is not None else None
        else:
            name = hook.pyshelf_authenticate(request=request, username=username, secret=secret)
        if not name:
            return None
        answers = hook.pyshelf_identity_groups(request=request, username=name)
        groups = sorted({group for answer in answers for group in answer or ()})
        return Identity(name, groups, grant)

    def authenticated_userid(self, request: Any) -> str | None:
        identity = self.identity(request)
        return identity.username if identity else None

    def principals(self, request: Any) -> list[str]:
        principals = [Everyone]
        identity = self.identity(request)
        if identity is not None:
            principals.append(Authenticated)
            principals.append(user_principal(identity.username))
            principals.extend(f"group:{g}" for g in identity.groups)
        return principals

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        identity = self.identity(request)
        if read_only_refuses(request, identity, permission):
            return False
        if identity is not None and identity.grant is not None:
            refusal = identity.grant.refusal(request, context, permission)
            if refusal:
                return TokenDenied(refusal)
        decision = request.registry.pyshelf.pm.hook.pyshelf_permits(
            request=request, context=context, permission=permission, identity=identity
        )
        if decision is not None:
            return bool(decision)
        return self.acl.permits(context, self.principals(request), permission)

    def remember(self, request: Any, userid: str, **kw: Any) -> list[Any]:
        return []

    def forget(self, request: Any, **kw: Any) -> list[Any]:
        return []


def index_listed(request: Any, index: Any) -> bool:
    """Whether listings answered to ``request`` may name ``index`` (``pyshelf_index_hidden``)."""
    hook = request.registry.pyshelf.pm.hook.pyshelf_index_hidden
    if not hook.get_hookimpls():
        return True
    return not hook(request=request, index=index, identity=request.identity)
