"""The core plugin: registers the built-in subcommands and the terminal password prompt."""

from __future__ import annotations

from .hookspecs import hookimpl

# In the order `pyshelf --help` lists them.
CORE_SUBCOMMANDS = [
    "pyshelf_client.use",
    "pyshelf_client.login",
    "pyshelf_client.logoff",
    "pyshelf_client.user",
    "pyshelf_client.passwd",
    "pyshelf_client.token_create",
    "pyshelf_client.token_list",
    "pyshelf_client.token_delete",
    "pyshelf_client.token_derive",
    "pyshelf_client.token_login",
    "pyshelf_client.index",
    "pyshelf_client.publisher",
    "pyshelf_client.upload",
    "pyshelf_client.listing",
    "pyshelf_client.remove",
    "pyshelf_client.yank",
    "pyshelf_client.unyank",
    "pyshelf_client.push",
    "pyshelf_client.getjson",
    "pyshelf_client.install",
    "pyshelf_client.refresh",
    "pyshelf_client.mirror",
]


@hookimpl
def pyshelf_client_subcommands() -> list[str]:
    return CORE_SUBCOMMANDS


@hookimpl(trylast=True)
def pyshelf_client_get_password(url: str, username: str) -> str | None:
    from .login import prompt_password

    return prompt_password(url=url, username=username)
