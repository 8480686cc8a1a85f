"""The ``pyshelf-import-htpasswd`` command: move the users of an htpasswd file into pyshelf
once, for teams that would rather not keep the file (``--htpasswd``).

Each user keeps the hash the file has (passlib checks it as the server does), so nobody needs a
new password: a rehash would need the password itself. A user the file brought before (whose
password is still in the file) is moved in the same way; a user created through pyshelf keeps
the password pyshelf has. SHA1, apr1 MD5 and crypt hashes are as weak here as they were in the
file: the command names those users, who should set a new password (``devpi passwd``).
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

from ..cli.problems import fail
from ..dump.cli import add_server_options, open_app, server_settings
from .htpasswd import IN_HTPASSWD_FILE, HtpasswdError, parse_htpasswd
from .services import UserService

WEAK_SCHEMES = {"apr_md5_crypt": "apr1 MD5", "ldap_sha1": "SHA1", "des_crypt": "crypt"}


def import_htpasswd_main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    parser = argparse.ArgumentParser(
        prog="pyshelf-import-htpasswd",
        description="Create a pyshelf user for each user of an Apache htpasswd file, keeping "
        "their password hashes; safe while the server runs.",
    )
    add_server_options(parser)
    parser.add_argument("file", help="the htpasswd file")
    args = parser.parse_args(argv)
    # The lines the import leaves out are named on standard error.
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        fail(f"cannot read {args.file}: {error.strerror}")
    try:
        users = parse_htpasswd(data, args.file)
    except HtpasswdError as error:
        fail(f"nothing imported: {error}")
    from ..security import get_password_context

    context = get_password_context()
    app = open_app(server_settings(args), args.plugins)
    added, moved, kept, weak = [], [], [], []
    try:
        with app.database.writing() as uow:
            service = UserService(uow)
            for name, password_hash in users.items():
                user = service.get(name)
                if user is None:
                    service.create(name, {"password_hash": password_hash})
                    added.append(name)
                elif user.password_hash == IN_HTPASSWD_FILE:
                    user.password_hash = password_hash
                    # Cached password hashes belong to a users token (security.CredentialCache).
                    uow.changed(users=True)
                    moved.append(name)
                else:
                    kept.append(name)
                    continue
                scheme = context.identify(password_hash)
                if scheme in WEAK_SCHEMES:
                    weak.append(f"{name} ({WEAK_SCHEMES[scheme]})")
    finally:
        app.files.close()
        app.engine.dispose()
    if kept:
        print(f"kept the password pyshelf has for: {', '.join(kept)}")
    if weak:
        print(f"weak hashes kept, ask for a new password (devpi passwd): {', '.join(weak)}")
    print(f"imported {len(added)} new users, moved {len(moved)} users of the file in")
