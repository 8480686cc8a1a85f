"""Fixtures of the trusted publishing tests: a local OIDC issuer on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .issuer import LocalIssuer


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer().start()
    yield local
    local.stop()
