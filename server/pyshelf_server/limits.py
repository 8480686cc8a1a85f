"""Bounds on what a client may make the server store or work through, in one place.

Each is far above what a real team uses, and each exists because without it one request could
hold the database's write lock, or the process's memory, for as long as its input was large.
A request over a bound is refused with 400 naming the field and the bound, before any write
transaction begins. docs/server.md ("Limits") lists them.
"""

from __future__ import annotations

# -- names (the lengths of their columns) ---------------------------------------------------

MAX_NAME_LENGTH = 200  # a user, index or project name
MAX_VERSION_LENGTH = 200
MAX_FILENAME_LENGTH = 400

# -- users and indexes ---------------------------------------------------------------------

# Entries of an index's ``bases``.
MAX_BASES = 64
# Entries of ``acl_upload`` and ``acl_toxresult_upload`` (user names, group names, :ANONYMOUS:).
MAX_ACL_ENTRIES = 1_000
# Entries of ``mirror_whitelist`` (project names, or "*").
MAX_WHITELIST_ENTRIES = 10_000
# Characters of one list entry: a user, group, index ("user/index") or project name.
MAX_LIST_ENTRY_LENGTH = 2 * MAX_NAME_LENGTH + 1
# Characters of a user's or an index's title.
MAX_TITLE_LENGTH = 256
# Characters of a user's or an index's description.
MAX_DESCRIPTION_LENGTH = 64 * 1024
# Bytes of ``custom_data`` serialised as JSON, and of any other index option (plugin options
# included) that has no bound of its own.
MAX_CUSTOM_DATA_BYTES = 64 * 1024
MAX_OPTION_BYTES = 64 * 1024
# RFC 5321's limit on an address.
MAX_EMAIL_LENGTH = 254
# passlib refuses longer passwords itself; checked up front so that the answer is a 400.
MAX_PASSWORD_LENGTH = 4096
# Operations (``key=value``, ``key+=value``, ``key-=value``) of one index change.
MAX_INDEX_OPERATIONS = 1_000
# Entries of ``trusted_publishers``, projects of one entry, characters of one entry's field.
MAX_TRUSTED_PUBLISHERS = 100
MAX_PUBLISHER_PROJECTS = 1_000
MAX_PUBLISHER_FIELD_LENGTH = 255
# Bytes of a trusted publishing mint request (an ID token is a few KiB).
MAX_MINT_BODY_BYTES = 64 * 1024
# Bytes of the JSON body of a user or index change (every field at its bound fits).
MAX_CONFIG_BODY_BYTES = 4 * 1024 * 1024

# -- release files ---------------------------------------------------------------------------

# Members of a release file (sdist or wheel). Reading the listing of an archive holds a few
# hundred bytes per member in memory.
MAX_ARCHIVE_MEMBERS = 100_000
# Bytes a tar sdist may unpack to: listing a compressed tar decompresses all of it.
MAX_TAR_UNPACKED_BYTES = 4 * 1024 * 1024 * 1024
# Bytes of a zip's central directory (the listing read into memory on opening it).
MAX_ZIP_DIRECTORY_BYTES = 64 * 1024 * 1024
# Bytes of metadata files (PKG-INFO candidates) read in all from one sdist.
MAX_METADATA_READ_BYTES = 16 * 1024 * 1024
# Characters of ``requires_python`` (its column); longer is refused, on SQLite as on PostgreSQL.
MAX_REQUIRES_PYTHON_LENGTH = 400
# Characters of a stored password hash (its column).
MAX_PWHASH_LENGTH = 400
