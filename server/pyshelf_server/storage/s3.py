"""Blobs in an S3-compatible object store (``--storage-url s3://BUCKET/PREFIX``), via boto3.

Keys are laid out as in a directory store, ``PREFIX/ab/<sha256>``. Endpoint and credentials
come from boto3's usual sources (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, the shared config files) and
``--s3-endpoint-url``.

Writes: a blob is spooled to this process's temporary directory while it is received and
hashed (as for a directory store), then sent with boto3's managed upload (one PUT, or a
multipart upload for large files). S3 makes an object visible only when its PUT or its
multipart upload completed, so a key never holds part of a blob. The spooled file then becomes
this process's local copy of the blob (below), so checks that read an upload back after it was
stored read the local disk, not the bucket.

Reads: downloads stream from the bucket through the server (one ranged GET per answer, never
the whole file in memory) or, with ``--s3-redirect``, answer with a redirect to a presigned
URL. Readers that need a file on disk (a zip opened at random places, the mirror's name list,
which is mapped) get a node-local copy, fetched once and kept in a bounded cache in the
temporary directory, least recently used first out. Blobs never change, so a copy is never
stale; a copy removed from the cache while in use stays readable through the handles open on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..settings import S3Location
from .files import BlobStore, StorageError, StoredBlob, _is_blob_name

CHUNK = 1024 * 1024
# Blobs above this go up as a multipart upload, in parts of this size (a 256 MiB upload,
# the default limit, is 16 parts).
PART_SIZE = 16 * 1024 * 1024
# The local copies one process keeps (bytes); the copy just made stays even when larger.
LOCAL_COPIES_BYTES = 1024 * 1024 * 1024
# How long a presigned download URL is valid, and how long a client may reuse the redirect.
PRESIGNED_SECONDS = 300
REDIRECT_MAX_AGE = 60


def _missing(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return False
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Store(BlobStore):
    def __init__(
        self,
        client: Any,
        location: S3Location,
        *,
        spool_root: Path,
        redirect: bool = False,
        copies_bytes: int = LOCAL_COPIES_BYTES,
    ) -> None:
        super().__init__(spool_root)
        from boto3.s3.transfer import TransferConfig

        self.client = client
        self.bucket = location.bucket
        self.prefix = f"{location.prefix}/" if location.prefix else ""
        self.redirect = redirect
        self.transfer = TransferConfig(
            multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, use_threads=False
        )
        self.copies = LocalCopies(self, copies_bytes)

    @classmethod
    def connect(
        cls,
        location: S3Location,
        *,
        spool_root: Path,
        endpoint_url: str | None,
        redirect: bool,
        connections: int,
    ) -> S3Store:
        """The store at ``location``, after checking that the bucket can be reached."""
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise StorageError(
                "an s3:// --storage-url needs boto3: install pyshelf-server[s3]"
            ) from None
        try:
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                config=Config(max_pool_connections=connections, retries={"mode": "standard"}),
            )
            client.head_bucket(Bucket=location.bucket)
        except (BotoCoreError, ClientError, ValueError) as error:
            raise StorageError(f"cannot use the S3 store {location}: {error}") from None
        return cls(client, location, spool_root=spool_root, redirect=redirect)

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def _head(self, sha256: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as error:
            if _missing(error):
                return None
            raise

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(self.key(sha256))
        return int(head["ContentLength"])

    def touch(self, sha256: str) -> bool:
        # A copy onto itself is how S3 renews an object's LastModified (the sweep's clock);
        # boto3's managed copy takes objects of any size.
        key = self.key(sha256)
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": key},
                self.bucket,
                key,
                # A copy onto itself must change something: the time of the claim.
                ExtraArgs={
                    "MetadataDirective": "REPLACE",
                    "Metadata": {"pyshelf-touched": f"{time.time():.0f}"},
                },
                Config=self.transfer,
            )
        except Exception as error:
            if _missing(error):
                return False
            raise
        return True

    def adopt(self, path: Path, *, sha256: str, size: int, durable: bool = True) -> StoredBlob:
        # ``durable`` asks for nothing here: S3 answers a PUT once the object is stored.
        if self.touch(sha256):
            self.copies.take(sha256, path)
            return StoredBlob(sha256, size, created=False)
        self.client.upload_file(str(path), self.bucket, self.key(sha256), Config=self.transfer)
        self.copies.take(sha256, path)
        return StoredBlob(sha256, size, created=True)

    def local_path(self, sha256: str) -> Path:
        return self.copies.path(sha256)

    def download_to(self, sha256: str, target: Path) -> None:
        try:
            self.client.download_file(
                self.bucket, self.key(sha256), str(target), Config=self.transfer
            )
        except Exception as error:
            if _missing(error):
                raise FileNotFoundError(self.key(sha256)) from None
            raise

    def response(self, request: Any, sha256: str, content_type: str, filename: str) -> Any:
        from pyramid.httpexceptions import HTTPFound
        from pyramid.response import Response

        if self.redirect:
            # The caller checked the reader's rights and If-None-Match already.
            params = {
                "Bucket": self.bucket,
                "Key": self.key(sha256),
                "ResponseContentType": content_type,
                "ResponseCacheControl": "max-age=365000000, immutable, public",
            }
            if _plain_filename(filename):
                params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
            url = self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=PRESIGNED_SECONDS
            )
            response = HTTPFound(location=url)
            response.headers["Cache-Control"] = f"private, max-age={REDIRECT_MAX_AGE}"
            return response
        size = self.size(sha256)
        response = Response(
            status=200,
            app_iter=ObjectBody(self, self.key(sha256)),
            content_type=None,
            conditional_response=True,
        )
        response.headers["Content-Type"] = content_type
        response.content_length = size
        response.accept_ranges = "bytes"
        return response

    def remove(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        self.copies.drop(sha256)

    def remove_if_older(self, sha256: str, cutoff: float) -> bool:
        head = self._head(sha256)
        if head is None or head["LastModified"].timestamp() >= cutoff:
            return False
        self.remove(sha256)
        return True

    def _names_older_than(self, cutoff: float) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                fan_out, _slash, name = item["Key"][len(self.prefix) :].partition("/")
                if _is_blob_name(name) and fan_out == name[:2]:
                    if item["LastModified"].timestamp() < cutoff:
                        yield name

    def clean_temporary(self, grace_seconds: float, now: float) -> int:
        """Also abort multipart uploads begun before the grace period (a process killed while
        sending a large blob leaves its parts, invisible but stored)."""
        removed = super().clean_temporary(grace_seconds, now)
        cutoff = now - grace_seconds
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for upload in page.get("Uploads", ()):
                if upload["Initiated"].timestamp() < cutoff:
                    with contextlib.suppress(Exception):  # finished or aborted meanwhile
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        return removed


def _plain_filename(filename: str) -> bool:
    return bool(filename) and all(c.isalnum() or c in "._+-~" for c in filename)


class ObjectBody:
    """The body of a stored object, fetched when the answer is sent: WebOb asks
    :meth:`app_iter_range` for a requested range (its conditional response handles Range and
    If-Range), and a HEAD request never fetches it."""

    def __init__(self, store: S3Store, key: str, byte_range: str | None = None) -> None:
        self.store = store
        self.key = key
        self.byte_range = byte_range
        self.body: Any = None

    def __iter__(self) -> Iterator[bytes]:
        extra = {"Range": self.byte_range} if self.byte_range else {}
        self.body = self.store.client.get_object(
            Bucket=self.store.bucket, Key=self.key, **extra
        )["Body"]
        return self.body.iter_chunks(CHUNK)

    def app_iter_range(self, start: int, stop: int) -> ObjectBody:
        return ObjectBody(self.store, self.key, f"bytes={start}-{stop - 1}")

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


class LocalCopies:
    """Blobs copied to this process's disk, at most ``budget`` bytes of them."""

    def __init__(self, store: S3Store, budget: int) -> None:
        self.store = store
        self.budget = budget
        self.directory = store.tmpdir / "copies"
        self.lock = threading.Lock()
        self.sizes: OrderedDict[str, int] = OrderedDict()
        self.total = 0

    def _place(self, sha256: str) -> Path:
        return self.directory / sha256

    def path(self, sha256: str) -> Path:
        with self.lock:
            if sha256 in self.sizes:
                self.sizes.move_to_end(sha256)
                place = self._place(sha256)
                if place.exists():
                    return place
        fetched = self.store.temporary(prefix="copy-")
        try:
            self.store.download_to(sha256, fetched)
        except BaseException:
            fetched.unlink(missing_ok=True)
            raise
        return self.take(sha256, fetched)

    def take(self, sha256: str, path: Path) -> Path:
        """Keep ``path`` (a complete file in the temporary directory) as the copy of
        ``sha256``."""
        place = self._place(sha256)
        size = path.stat().st_size
        with self.lock:
            self.directory.mkdir(exist_ok=True)
            os.replace(path, place)
            self.total += size - self.sizes.pop(sha256, 0)
            self.sizes[sha256] = size
            while self.total > self.budget and len(self.sizes) > 1:
                oldest, oldest_size = self.sizes.popitem(last=False)
                self.total -= oldest_size
                self._place(oldest).unlink(missing_ok=True)
        return place

    def drop(self, sha256: str) -> None:
        with self.lock:
            size = self.sizes.pop(sha256, None)
            if size is not None:
                self.total -= size
                self._place(sha256).unlink(missing_ok=True)
