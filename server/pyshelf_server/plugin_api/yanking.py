"""The yank facade: yanking and un-yanking a release or one of its files (PEP 592), as
``PATCH /{user}/{index}/{project}/{version}`` does, for the request's identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..indexes.registry import IndexInfo


@dataclass(frozen=True)
class YankOutcome:
    """What a yank changed: ``kind`` "hosted" (the index's own files) or "inherited" (a yank
    of the stage's own over a release of a base), and the files it applies to."""

    kind: str
    files: tuple[str, ...]


class Yanks:
    """The yank facade of one request (``yanks(request)``); see docs/release-lifecycle.md."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def allowed(self, index: IndexInfo) -> bool:
        """Whether the request's identity may yank on ``index``: it may upload there (API token
        restrictions and read-only mode included) and the index is not a mirror (a mirror's
        releases are yanked on a stage that inherits from it)."""
        from ..permissions import Permission
        from ..resources import IndexContext

        if index.is_mirror:
            return False
        return bool(
            self.request.has_permission(Permission.UPLOAD, IndexContext(self.request, index))
        )

    def set(
        self,
        index: IndexInfo,
        project: str,
        version: str,
        *,
        yanked: bool,
        reason: str | None = None,
        filename: str | None = None,
    ) -> YankOutcome:
        """Yank (``yanked=True``) or un-yank ``project==version`` seen through ``index``, or only
        its release file ``filename``. A release the index inherits is yanked for this index
        alone. Refusals and bad input raise :class:`APIError` (401/403, 400, 404)."""
        from ..lifecycle.views import yank
        from ..names import normalize_name

        outcome = yank(
            self.request,
            index,
            normalize_name(project),
            version,
            yanked=yanked,
            reason=reason,
            filename=filename,
        )
        return YankOutcome(outcome.kind, tuple(outcome.files))


def yanks(request: Any) -> Yanks:
    """The yank facade of ``request``."""
    return Yanks(request)
