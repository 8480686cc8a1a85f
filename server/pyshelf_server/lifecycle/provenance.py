"""PEP 740 attestations sent with an upload (the ``attestations`` form field of twine and uv),
checked, and kept as the file's provenance object.

What is checked: the field is a JSON array of one to :data:`MAX_ATTESTATIONS` attestation
objects of version 1, each with ``verification_material`` (a base64 ``certificate`` and a list
of ``transparency_entries``) and an ``envelope`` (base64 ``statement`` and ``signature``); the
statement is an in-toto Statement v1 with a known predicate type (at most one attestation per
type) and exactly one subject, whose name is the uploaded file's name and whose sha256 is the
uploaded content's.

What is NOT checked: the signature over the statement, the certificate's chain to the Sigstore
root, its identity, and the transparency-log entry. Those need the Sigstore trust root and
(for the log) the network; a server that cannot reach them must not pretend to. The publisher
recorded is the authenticated uploader, not a verified trusted publisher.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..responses import APIError

MAX_ATTESTATIONS = 4
MAX_FIELD_BYTES = 256 * 1024
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# pypi-attestations' AttestationType values.
PREDICATE_TYPES = frozenset(
    {"https://docs.pypi.org/attestations/publish/v1", "https://slsa.dev/provenance/v1"}
)
MEDIA_TYPE = "application/vnd.pypi.integrity.v1+json"
SUFFIX = ".provenance"


def _invalid(reason: str) -> APIError:
    return APIError(400, f"Invalid attestations supplied during upload: {reason}")


def _base64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _invalid(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{what} is not valid base64") from None


def _statement(attestation: Any, position: int) -> dict[str, Any]:
    where = f"attestation {position}"
    if not isinstance(attestation, dict) or attestation.get("version") != 1:
        raise _invalid(f"{where} is not an object of version 1")
    material = attestation.get("verification_material")
    if not isinstance(material, dict) or not isinstance(
        material.get("transparency_entries"), list
    ):
        raise _invalid(f"{where} has no verification_material with transparency_entries")
    _base64(material.get("certificate"), f"{where}: the certificate")
    envelope = attestation.get("envelope")
    if not isinstance(envelope, dict):
        raise _invalid(f"{where} has no envelope")
    _base64(envelope.get("signature"), f"{where}: the signature")
    raw = _base64(envelope.get("statement"), f"{where}: the statement")
    try:
        statement = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _invalid(f"{where}: the statement is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _invalid(f"{where}: the statement is not an in-toto Statement v1")
    return statement


def checked_attestations(raw: str, filename: str, sha256: str) -> list[dict[str, Any]]:
    """The attestations of the ``attestations`` field, or a 400 saying what is wrong."""
    if len(raw.encode("utf-8")) > MAX_FIELD_BYTES:
        raise APIError(413, f"the attestations field may be at most {MAX_FIELD_BYTES} bytes")
    try:
        attestations = json.loads(raw)
    except ValueError:
        raise _invalid("not JSON") from None
    if not isinstance(attestations, list) or not attestations:
        raise _invalid("expected a non-empty JSON array")
    if len(attestations) > MAX_ATTESTATIONS:
        raise _invalid(f"at most {MAX_ATTESTATIONS} attestations per file")
    seen: set[str] = set()
    for position, attestation in enumerate(attestations, 1):
        statement = _statement(attestation, position)
        predicate = statement.get("predicateType")
        if predicate not in PREDICATE_TYPES:
            raise _invalid(f"attestation {position}: unknown predicate type {predicate!r}")
        if predicate in seen:
            raise _invalid(f"more than one attestation of predicate type {predicate}")
        seen.add(predicate)
        subjects = statement.get("subject")
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise _invalid(f"attestation {position} must have exactly one subject")
        subject = subjects[0] if isinstance(subjects[0], dict) else {}
        if subject.get("name") != filename:
            raise _invalid(
                f"attestation {position} is about {subject.get('name')!r}, not {filename!r}"
            )
        digest = subject.get("digest")
        if not isinstance(digest, dict) or str(digest.get("sha256", "")).lower() != sha256:
            raise _invalid(f"attestation {position} does not attest the uploaded file's sha256")
    return attestations


def provenance_json(attestations: list[dict[str, Any]], uploader: str | None) -> str:
    """The PEP 740 provenance object of a file, as stored and served."""
    return json.dumps(
        {
            "version": 1,
            "attestation_bundles": [
                {
                    "publisher": {"kind": "pyshelf-upload", "uploader": uploader, "claims": None},
                    "attestations": attestations,
                }
            ],
        },
        separators=(",", ":"),
    )


def attestations_of(provenance: str) -> str:
    """The ``attestations`` form field that uploads the attestations of a stored provenance
    object again (an external push)."""
    bundles = json.loads(provenance)["attestation_bundles"]
    return json.dumps([a for bundle in bundles for a in bundle["attestations"]])
