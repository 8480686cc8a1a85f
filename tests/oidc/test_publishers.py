"""The trusted_publishers option (checks, 400 naming the field) and the claim matching."""

from __future__ import annotations

import pytest

from pyshelf_server.oidc.publishers import (
    Candidate,
    InvalidPublisher,
    PublisherError,
    match,
    to_trusted_publishers,
)

from .issuer import LocalIssuer

GITHUB = {
    "provider": "github",
    "owner": "acme",
    "owner_id": "123456",
    "repository": "widgets",
    "workflow": "release.yml",
    "environment": "Prod",
    "projects": ["Acme_Widgets", "acme-widgets-extra"],
}
GITLAB = {
    "provider": "gitlab",
    "namespace": "acme/tools",
    "project": "widgets",
    "workflow_filepath": ".gitlab-ci.yml",
    "projects": ["acme-widgets"],
}


def test_entries_are_normalised():
    github, gitlab, google = to_trusted_publishers(
        "trusted_publishers",
        [GITHUB, GITLAB, {"provider": "google", "email": "ci@acme.example", "projects": "x,y"}],
    )
    assert github["issuer"] == "https://token.actions.githubusercontent.com"
    assert github["environment"] == "prod"  # GitHub compares environments ignoring case
    assert github["projects"] == ["acme-widgets", "acme-widgets-extra"]
    assert gitlab["issuer"] == "https://gitlab.com" and "environment" not in gitlab
    assert google["projects"] == ["x", "y"]


def test_json_text_of_a_list_or_of_one_entry_is_taken():
    import json

    assert to_trusted_publishers("k", json.dumps(GITLAB)) == to_trusted_publishers("k", [GITLAB])
    assert to_trusted_publishers("k", json.dumps([GITLAB])) == to_trusted_publishers("k", [GITLAB])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"provider": "bitbucket"}, "trusted_publishers[0].provider"),
        ({"owner_id": "acme"}, "trusted_publishers[0].owner_id"),
        ({"owner_id": None}, "trusted_publishers[0].owner_id"),
        ({"repository": "acme/widgets"}, "trusted_publishers[0].repository"),
        ({"workflow": ".github/workflows/release.yml"}, "trusted_publishers[0].workflow"),
        ({"workflow": "release.sh"}, "trusted_publishers[0].workflow"),
        ({"projects": []}, "trusted_publishers[0].projects"),
        ({"projects": ["ok", "not ok!"]}, "trusted_publishers[0].projects[1]"),
        ({"issuer": "http://ci.example"}, "trusted_publishers[0].issuer"),
        ({"issuer": "ftp://ci.example"}, "trusted_publishers[0].issuer"),
        ({"colour": "blue"}, "trusted_publishers[0].colour"),
        ({"environment": 3}, "trusted_publishers[0].environment"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(change, field):
    with pytest.raises(PublisherError) as refused:
        to_trusted_publishers("trusted_publishers", [{**GITHUB, **change}])
    assert f"'{field}'" in str(refused.value)


def test_plain_http_issuers_only_on_loopback():
    entry = to_trusted_publishers("k", [{**GITHUB, "issuer": "http://127.0.0.1:8000"}])[0]
    assert entry["issuer"] == "http://127.0.0.1:8000"
    with pytest.raises(PublisherError, match="loopback"):
        to_trusted_publishers("k", [{**GITHUB, "issuer": "http://10.1.2.3"}])


def test_a_gitlab_workflow_path_may_not_climb():
    with pytest.raises(PublisherError, match="workflow_filepath"):
        to_trusted_publishers("k", [{**GITLAB, "workflow_filepath": "ci/../x.yml"}])


# -- matching ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local():
    # Only its claim templates are used: no server is started.
    return LocalIssuer()


def candidates(local, *raw, index="acme/prod"):
    entries = to_trusted_publishers("k", [{**entry, "issuer": local.url} for entry in raw])
    return [Candidate(index, entry) for entry in entries]


def test_github_claims_match_ignoring_owner_and_repository_case(local):
    entry = {**GITHUB, "owner": "ACME", "repository": "Widgets"}
    found = match("github", local.url, local.github_claims(), candidates(local, entry))
    assert [c.entry["owner"] for c in found] == ["ACME"]


def test_the_environment_specific_entry_wins_then_the_general_one(local):
    general = {**GITHUB, "projects": ["general"]}
    del general["environment"]
    specific = {**GITHUB, "projects": ["specific"]}
    both = candidates(local, general, specific)
    assert [
        c.entry["projects"] for c in match("github", local.url, local.github_claims(), both)
    ] == [["specific"]]
    staging = local.github_claims(environment="staging")
    assert [c.entry["projects"] for c in match("github", local.url, staging, both)] == [["general"]]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"repository_owner_id": "999"}, "Publisher with matching claims was not found"),
        ({"repository": "acme/gadgets"}, "Publisher with matching claims was not found"),
        (
            {"job_workflow_ref": "acme/widgets/.github/workflows/other.yml@refs/tags/v1.0.0"},
            "Publisher with matching claims was not found",
        ),
        ({"environment": "staging"}, "Publisher with matching claims was not found"),
        (
            {"job_workflow_ref": "evil/lib/.github/workflows/release.yml@refs/tags/v1.0.0"},
            "job_workflow_ref",
        ),
        ({"event_name": "pull_request_target"}, "pull_request_target"),
        ({"sha": None}, "Missing claim 'sha'"),
        ({"jti": None}, "Missing claim 'jti'"),
    ],
)
def test_github_refusals(local, claims, reason):
    with pytest.raises(InvalidPublisher, match=reason):
        match("github", local.url, local.github_claims(**claims), candidates(local, GITHUB))


def test_an_entry_of_another_issuer_never_matches(local):
    other = [Candidate("acme/prod", to_trusted_publishers("k", [GITHUB])[0])]
    with pytest.raises(InvalidPublisher, match="not found"):
        match("github", local.url, local.github_claims(), other)


def test_github_workflow_ref_may_name_the_sha(local):
    claims = local.github_claims(
        ref="", job_workflow_ref=f"acme/widgets/.github/workflows/release.yml@{'a' * 40}"
    )
    assert match("github", local.url, claims, candidates(local, GITHUB))


def test_gitlab_claims(local):
    assert match("gitlab", local.url, local.gitlab_claims(), candidates(local, GITLAB))
    with pytest.raises(InvalidPublisher, match="not found"):
        match(
            "gitlab",
            local.url,
            local.gitlab_claims(project_path="acme/tools/gadgets"),
            candidates(local, GITLAB),
        )
    with pytest.raises(InvalidPublisher, match="ci_config_ref_uri"):
        forged = "gitlab.example/acme/tools/widgets//.gitlab-ci.yml@refs/tags/v1.0.0"
        match(
            "gitlab",
            local.url,
            local.gitlab_claims(ci_config_ref_uri=forged),
            candidates(local, GITLAB),
        )


def test_gitlab_environment_is_case_sensitive(local):
    entry = {**GITLAB, "environment": "Prod"}
    with pytest.raises(InvalidPublisher, match="not found"):
        match(
            "gitlab", local.url, local.gitlab_claims(environment="prod"), candidates(local, entry)
        )
    assert match(
        "gitlab", local.url, local.gitlab_claims(environment="Prod"), candidates(local, entry)
    )


def test_google_needs_a_verified_email(local):
    entry = {"provider": "google", "email": "ci@acme.example", "projects": ["x"]}
    claims = {"iss": local.url, "email": "ci@acme.example", "email_verified": True}
    assert match("google", local.url, claims, candidates(local, entry))
    with pytest.raises(InvalidPublisher, match="email_verified"):
        match("google", local.url, {**claims, "email_verified": "true"}, candidates(local, entry))


def test_bounds():
    from pyshelf_server import limits

    too_many = [{**GITLAB, "project": f"p{n}"} for n in range(limits.MAX_TRUSTED_PUBLISHERS + 1)]
    with pytest.raises(PublisherError, match="at most 100 entries"):
        to_trusted_publishers("trusted_publishers", too_many)
    with pytest.raises(PublisherError, match=r"'k\[0\].namespace' may be at most 255"):
        to_trusted_publishers("k", [{**GITLAB, "namespace": "a" * 256}])
