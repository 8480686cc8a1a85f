"""``pyshelf-init``: create a new server directory, or join one more server process to the
database and store of a running pyshelf."""

from __future__ import annotations

import argparse
import os
import secrets
import warnings

from ..settings import DEFAULT_SERVERDIR, ServerSettings
from .options import add_option
from .problems import fail, storage_problem


def init_main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from ..serverdir import ServerDirError, initialise, join

    parser = argparse.ArgumentParser(
        prog="pyshelf-init", description="Create a new pyshelf server directory."
    )
    add_option(parser, "--serverdir", str(DEFAULT_SERVERDIR), "the server directory to create")
    add_option(parser, "--db-url", "", "database URL (default: SQLite in the server directory)")
    add_option(
        parser,
        "--storage-url",
        "",
        "the file store: a directory, or s3://BUCKET/PREFIX "
        "(default: files in the server directory)",
    )
    add_option(
        parser,
        "--s3-endpoint-url",
        "",
        "endpoint of an S3-compatible store (default: AWS_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="set up a server directory for one more server process on the existing database "
        "(--db-url) and store (--storage-url) of a running pyshelf; changes nothing in them",
    )
    parser.add_argument(
        "--root-passwd",
        # From the environment too, so that scripts (the container's entrypoint) need not put
        # it in an argument list, where every process could read it.
        default=os.environ.get("PYSHELF_ROOT_PASSWORD") or None,
        help="password of the root user [PYSHELF_ROOT_PASSWORD] "
        "(default: a random one, printed once and stored in SERVERDIR/.root-password)",
    )
    parser.add_argument(
        "--mirror-url",
        default=None,
        help="upstream of the root/pypi mirror "
        "(default: the index pip uses here: PIP_INDEX_URL, pip's global.index-url, "
        "else pip's built-in default)",
    )
    parser.add_argument(
        "--no-root-pypi", action="store_true", help="do not create the root/pypi mirror"
    )
    args = parser.parse_args(argv)
    settings = ServerSettings(
        serverdir=args.serverdir,
        db_url=args.db_url or None,
        storage_url=args.storage_url or None,
        s3_endpoint_url=args.s3_endpoint_url or None,
    )
    problem = storage_problem(settings)
    if problem:
        fail(problem)
    if args.join:
        if not settings.db_url:
            fail("--join needs the --db-url of the database to join")
        try:
            join(settings)
        except ServerDirError as error:
            fail(str(error))
        except Exception as error:  # e.g. an unreachable database
            fail(f"could not join {settings.database_url!r}: {error}")
        print(f"server directory {settings.serverdir} joins the pyshelf server on that database")
        return
    mirror_url, web_url_fmt = None, None
    if not args.no_root_pypi:
        from ..mirror.pipconfig import PipConfigError, pip_index_url, web_url_format

        try:
            mirror_url = args.mirror_url or pip_index_url()
        except PipConfigError as error:
            fail(str(error))
        if not mirror_url.startswith(("http://", "https://")):
            fail(f"the mirror URL must be an http(s) URL, not {mirror_url!r}; pass --mirror-url")
        web_url_fmt = web_url_format(mirror_url)
    password = args.root_passwd
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    try:
        initialise(
            settings, root_password=password, mirror_url=mirror_url, mirror_web_url_fmt=web_url_fmt
        )
    except ServerDirError as error:
        fail(str(error))
    except Exception as error:  # e.g. an unreachable database
        fail(f"could not initialise {settings.serverdir}: {error}")
    if generated:
        from ..serverdir import ROOT_PASSWORD_FILE, write_private

        stored = settings.serverdir / ROOT_PASSWORD_FILE
        write_private(stored, password + "\n")
        print(f"root password: {password}")
        print(f"(stored in {stored}, readable only by you)")
    print(f"initialised pyshelf server directory {settings.serverdir}")

