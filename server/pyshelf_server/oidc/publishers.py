"""The index option ``trusted_publishers`` and the claim checks of each provider.

An entry names one CI identity (a GitHub workflow, a GitLab CI file, a Google service account)
and the projects it may publish to its index, including names the index does not have yet. The
fields and checks are warehouse's (GitHub ``owner``/``owner_id``/``repository``/``workflow``/
``environment``; GitLab ``namespace``/``project``/``workflow_filepath``/``environment``; Google
``email``/``sub``), with two deliberate differences: an entry names its issuer (so a GitHub
Enterprise or self-managed GitLab issuer can never match a github.com or gitlab.com entry), and
GitHub owner and repository are compared ignoring case (GitHub's names are; ``owner_id``, the
guard against a re-registered owner name, is compared exactly).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .. import limits
from ..names import normalize_name, project_name_error

OPTION = "trusted_publishers"
DEFAULT_ISSUERS = {
    "github": "https://token.actions.githubusercontent.com",
    "gitlab": "https://gitlab.com",
    "google": "https://accounts.google.com",
}

_GITHUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_REPOSITORY = re.compile(r"[A-Za-z0-9._-]+")
_WORKFLOW = re.compile(r"[^/\\\s]+\.ya?ml")
_GITLAB_SEGMENT = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
_GITLAB_NAMESPACE = re.compile(rf"{_GITLAB_SEGMENT}(/{_GITLAB_SEGMENT})*")
_GITLAB_PROJECT = re.compile(_GITLAB_SEGMENT)
_WORKFLOW_PATH = re.compile(r"[^/\\\s][^\\\s]*\.ya?ml")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class PublisherError(ValueError):
    """A ``trusted_publishers`` value that cannot be used; the message names the field."""


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PublisherError(f"'{where}' must be a non-empty string")
    value = value.strip()
    if len(value) > limits.MAX_PUBLISHER_FIELD_LENGTH:
        raise PublisherError(
            f"'{where}' may be at most {limits.MAX_PUBLISHER_FIELD_LENGTH} characters long"
        )
    return value


def _matching(where: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    text = _text(where, value)
    if not pattern.fullmatch(text):
        raise PublisherError(f"'{where}' must be {what}, not {text!r}")
    return text


def _owner_id(where: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(where, value)
    if not text.isascii() or not text.isdigit():
        raise PublisherError(
            f"'{where}' must be the owner's numeric GitHub id "
            "(https://api.github.com/users/OWNER answers it as 'id'), not {text!r}"
        )
    return text


def _workflow_path(where: str, value: Any) -> str:
    text = _matching(
        where, value, _WORKFLOW_PATH, "the CI file's path in the repository, ending .yml or .yaml"
    )
    if any(part in ("", ".", "..") for part in text.split("/")):
        raise PublisherError(f"'{where}' must not have empty, '.' or '..' segments")
    return text


def issuer_problem(url: str) -> str | None:
    """Why ``url`` cannot be an OIDC issuer, or None: https, or plain http on a loopback host
    (local test issuers only: anything else on http could be spoofed on the way)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "it is not a URL"
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        return "it must be a URL with a host and no credentials, query or fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback(host):
        return None
    return "it must be an https URL (plain http only on a loopback host)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _issuer(where: str, value: Any) -> str:
    text = _text(where, value)
    problem = issuer_problem(text)
    if problem:
        raise PublisherError(f"'{where}' is not an issuer URL: {problem}")
    return text


def _projects(where: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise PublisherError(f"'{where}' must be a non-empty list of project names")
    if len(value) > limits.MAX_PUBLISHER_PROJECTS:
        raise PublisherError(f"'{where}' may have at most {limits.MAX_PUBLISHER_PROJECTS} entries")
    names: list[str] = []
    for position, item in enumerate(value):
        name = item.strip() if isinstance(item, str) else item
        if not isinstance(name, str) or project_name_error(name):
            raise PublisherError(f"'{where}[{position}]' is not a project name: {item!r}")
        normalized = normalize_name(name)
        if normalized not in names:
            names.append(normalized)
    return names


# Per provider: its fields, each with its check and whether it must be given. Values are kept
# as the owner wrote them, except GitHub's environment (GitHub compares it ignoring case).
_FIELDS: dict[str, dict[str, tuple[Any, bool]]] = {
    "github": {
        "owner": (
            lambda w, v: _matching(w, v, _GITHUB_NAME, "a GitHub user or organisation name"),
            True,
        ),
        "owner_id": (_owner_id, True),
        "repository": (
            lambda w, v: _matching(
                w, v, _REPOSITORY, "the bare repository name (without the owner)"
            ),
            True,
        ),
        "workflow": (
            lambda w, v: _matching(
                w, v, _WORKFLOW, "the workflow's file name (no directory), ending .yml or .yaml"
            ),
            True,
        ),
        "environment": (lambda w, v: _text(w, v).lower(), False),
    },
    "gitlab": {
        "namespace": (
            lambda w, v: _matching(w, v, _GITLAB_NAMESPACE, "a GitLab group path (a/b/c)"),
            True,
        ),
        "project": (lambda w, v: _matching(w, v, _GITLAB_PROJECT, "a GitLab project path"), True),
        "workflow_filepath": (_workflow_path, True),
        "environment": (_text, False),
    },
    "google": {
        "email": (lambda w, v: _matching(w, v, _EMAIL, "a service account's e-mail address"), True),
        "sub": (_text, False),
    },
}
_COMMON = ("provider", "issuer", "projects")


def _entry(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PublisherError(f"'{where}' must be an object with 'provider' and its fields")
    provider = raw.get("provider")
    if provider not in _FIELDS:
        choices = ", ".join(sorted(_FIELDS))
        raise PublisherError(f"'{where}.provider' must be one of {choices}, not {provider!r}")
    fields = _FIELDS[provider]
    for key in raw:
        if key not in fields and key not in _COMMON:
            known = ", ".join([*_COMMON, *fields])
            raise PublisherError(f"'{where}.{key}' is not a {provider} publisher field ({known})")
    entry: dict[str, Any] = {"provider": provider}
    issuer = raw.get("issuer")
    entry["issuer"] = (
        DEFAULT_ISSUERS[provider] if issuer in (None, "") else _issuer(f"{where}.issuer", issuer)
    )
    for key, (check, required) in fields.items():
        value = raw.get(key)
        if value in (None, ""):
            if required:
                raise PublisherError(f"'{where}.{key}' is required for a {provider} publisher")
            continue
        entry[key] = check(f"{where}.{key}", value)
    entry["projects"] = _projects(f"{where}.projects", raw.get("projects"))
    return entry


def to_trusted_publishers(key: str, value: Any) -> list[dict[str, Any]]:
    """The option's value, checked and normalised: a list of entries. Also takes the JSON text
    of a list or of one entry (what ``key=value`` and ``key+=value`` send)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise PublisherError(f"'{key}' must be a JSON list of publisher objects") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise PublisherError(f"'{key}' must be a list of publisher objects")
    if len(value) > limits.MAX_TRUSTED_PUBLISHERS:
        raise PublisherError(f"'{key}' may have at most {limits.MAX_TRUSTED_PUBLISHERS} entries")
    entries: list[dict[str, Any]] = []
    for position, raw in enumerate(value):
        entry = _entry(f"{key}[{position}]", raw)
        if entry not in entries:
            entries.append(entry)
    if len(json.dumps(entries)) > limits.MAX_OPTION_BYTES:
        raise PublisherError(f"'{key}' may be at most {limits.MAX_OPTION_BYTES} bytes as JSON")
    return entries


def identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two entries the same publisher (on one index or several): everything but
    the projects, compared as the provider compares it."""
    folded = (
        {"owner", "repository", "namespace", "project"} if entry["provider"] != "google" else set()
    )
    return tuple(
        (key, value.lower() if key in folded else value)
        for key, value in sorted(entry.items())
        if key != "projects"
    )


def describe(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry without its projects: what an upload records as "published by"."""
    return {key: value for key, value in entry.items() if key != "projects"}


# -- matching claims ---------------------------------------------------------------------------


class InvalidPublisher(Exception):
    """No entry trusts the token; the message is warehouse's reason."""


class ReusedToken(Exception):
    """The token's ``jti`` was seen before."""


@dataclass(frozen=True)
class Candidate:
    """A ``trusted_publishers`` entry and the index that holds it."""

    index: str
    entry: dict[str, Any]


# Per provider: claims that must be present (checked, or only needed, below).
_REQUIRED_CLAIMS = {
    "github": (
        "sub",
        "repository",
        "repository_owner",
        "repository_owner_id",
        "job_workflow_ref",
        "jti",
        "ref",
        "sha",
    ),
    "gitlab": ("sub", "project_path", "ci_config_ref_uri", "jti", "ref_path", "sha"),
    "google": ("email", "email_verified"),
}


def _claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value if isinstance(value, str) else ""


def _check_present(provider: str, claims: dict[str, Any]) -> None:
    for name in _REQUIRED_CLAIMS[provider]:
        if claims.get(name) is None:
            raise InvalidPublisher(f"Missing claim {name!r}")


def _workflow_of(job_workflow_ref: str) -> str:
    """The workflow file name in ``owner/repo/.github/workflows/release.yml@ref``."""
    path = job_workflow_ref.partition("@")[0]
    name = path.rsplit("/", 1)[-1]
    return name if name.endswith((".yml", ".yaml")) else ""


def _gitlab_workflow_of(ci_config_ref_uri: str) -> str:
    """The CI file's path in ``host/group/project//ci/release.yml@ref``."""
    _head, sep, tail = ci_config_ref_uri.partition("//")
    path = tail.partition("@")[0]
    return path if sep and path.endswith((".yml", ".yaml")) else ""


def _github_candidates(claims: dict[str, Any], candidates: list[Candidate]) -> list[Candidate]:
    owner, _, repository = _claim(claims, "repository").partition("/")
    workflow = _workflow_of(_claim(claims, "job_workflow_ref"))
    return [
        c
        for c in candidates
        if c.entry["owner"].lower() == owner.lower()
        and c.entry["repository"].lower() == repository.lower()
        and c.entry["owner_id"] == str(claims.get("repository_owner_id"))
        and c.entry["workflow"] == workflow
    ]


def _gitlab_candidates(claims: dict[str, Any], candidates: list[Candidate]) -> list[Candidate]:
    namespace, _, project = _claim(claims, "project_path").rpartition("/")
    workflow = _gitlab_workflow_of(_claim(claims, "ci_config_ref_uri"))
    return [
        c
        for c in candidates
        if c.entry["namespace"].lower() == namespace.lower()
        and c.entry["project"].lower() == project.lower()
        and c.entry["workflow_filepath"] == workflow
    ]


def _google_candidates(claims: dict[str, Any], candidates: list[Candidate]) -> list[Candidate]:
    return [
        c
        for c in candidates
        if c.entry["email"] == claims.get("email")
        and ("sub" not in c.entry or c.entry["sub"] == claims.get("sub"))
    ]


def _by_environment(
    provider: str, claims: dict[str, Any], candidates: list[Candidate]
) -> list[Candidate]:
    """The candidates for the claim's environment if any names it, else those naming none."""
    environment = _claim(claims, "environment")
    if provider == "github":
        specific = [c for c in candidates if c.entry.get("environment") == environment.lower()]
    elif provider == "gitlab":
        specific = [c for c in candidates if c.entry.get("environment") == environment]
    else:
        specific = []
    if environment and specific:
        return specific
    return [c for c in candidates if "environment" not in c.entry]


def _check_github(claims: dict[str, Any], entry: dict[str, Any]) -> None:
    repository = _claim(claims, "repository")
    if repository.lower() != f"{entry['owner']}/{entry['repository']}".lower():
        raise InvalidPublisher("Check failed for required claim 'repository'")
    if _claim(claims, "repository_owner").lower() != entry["owner"].lower():
        raise InvalidPublisher("Check failed for required claim 'repository_owner'")
    if str(claims.get("repository_owner_id")) != entry["owner_id"]:
        raise InvalidPublisher("Check failed for required claim 'repository_owner_id'")
    ref, sha = _claim(claims, "ref"), _claim(claims, "sha")
    if not ref and not sha:
        raise InvalidPublisher("The ref and sha claims are empty")
    base = f"{repository}/.github/workflows/{entry['workflow']}"
    allowed = [f"{base}@{value}" for value in (ref, sha) if value]
    if _claim(claims, "job_workflow_ref") not in allowed:
        raise InvalidPublisher(
            "The job_workflow_ref claim does not match, expecting one of "
            f"{sorted(allowed)!r}, got {_claim(claims, 'job_workflow_ref')!r}"
        )
    if claims.get("event_name") == "pull_request_target":
        raise InvalidPublisher("Publishing from a pull_request_target event is not allowed")


def _check_gitlab(claims: dict[str, Any], entry: dict[str, Any]) -> None:
    path = f"{entry['namespace']}/{entry['project']}"
    sub_head = ":".join(_claim(claims, "sub").split(":")[:2])
    if sub_head.lower() != f"project_path:{path}".lower():
        raise InvalidPublisher("Check failed for required claim 'sub'")
    project_path = _claim(claims, "project_path")
    if project_path.lower() != path.lower():
        raise InvalidPublisher("Check failed for required claim 'project_path'")
    ref_path, sha = _claim(claims, "ref_path"), _claim(claims, "sha")
    if not ref_path or not sha:
        raise InvalidPublisher("The ref_path and sha claims must both be present")
    # The issuer's authority, not a stripped "https://": test issuers are plain http.
    host = urlsplit(entry["issuer"]).netloc
    base = f"{host}/{project_path}//{entry['workflow_filepath']}"
    if _claim(claims, "ci_config_ref_uri") not in (f"{base}@{ref_path}", f"{base}@{sha}"):
        raise InvalidPublisher("Check failed for required claim 'ci_config_ref_uri'")


def _check_google(claims: dict[str, Any], entry: dict[str, Any]) -> None:
    if claims.get("email_verified") is not True:
        raise InvalidPublisher("Check failed for required claim 'email_verified'")


_LOOKUPS = {
    "github": _github_candidates,
    "gitlab": _gitlab_candidates,
    "google": _google_candidates,
}
_CHECKS = {"github": _check_github, "gitlab": _check_gitlab, "google": _check_google}


def match(
    provider: str, issuer: str, claims: dict[str, Any], candidates: Iterable[Candidate]
) -> list[Candidate]:
    """The entries (on any index) that trust these verified claims: all of one publisher
    identity. ``InvalidPublisher`` when there is none or a claim check fails."""
    _check_present(provider, claims)
    of_issuer = [
        c for c in candidates if c.entry["provider"] == provider and c.entry["issuer"] == issuer
    ]
    found = _by_environment(provider, claims, _LOOKUPS[provider](claims, of_issuer))
    if not found:
        raise InvalidPublisher("Publisher with matching claims was not found")
    for candidate in found:
        _CHECKS[provider](claims, candidate.entry)
    return found


def published_by(provider: str, entry: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    """What an upload through a minted token records: the publisher entry and the run's claims
    that say which commit and run published it."""
    audit = {
        "github": ("repository", "workflow_ref", "ref", "sha", "run_id", "environment"),
        "gitlab": (
            "project_path",
            "ci_config_ref_uri",
            "ref_path",
            "sha",
            "pipeline_id",
            "environment",
        ),
        "google": ("email", "sub"),
    }[provider]
    return {
        **describe(entry),
        "claims": {name: claims[name] for name in audit if isinstance(claims.get(name), str | int)},
    }
