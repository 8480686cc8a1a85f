"""Every mapped model, imported in one place so that the metadata is complete.

Alembic's autogenerate and ``pyshelf_server.migrations`` import ``metadata`` from here. Feature
packages that add tables (the mirror, plugins) add their models module to this list.
"""

from .accounts.models import User
from .db import Base, ServerState
from .indexes.models import Index, IndexBase
from .leases import JobLease
from .lifecycle.models import InheritedYank
from .mirror.models import MirrorFile, MirrorProject, MirrorState
from .nodes import ServerNode
from .oidc.models import UsedIdToken
from .packages.models import DeletedFile, File, Project, Version

metadata = Base.metadata

__all__ = [
    "DeletedFile",
    "File",
    "Index",
    "IndexBase",
    "InheritedYank",
    "JobLease",
    "MirrorFile",
    "MirrorProject",
    "MirrorState",
    "Project",
    "ServerNode",
    "ServerState",
    "UsedIdToken",
    "User",
    "Version",
    "metadata",
]
