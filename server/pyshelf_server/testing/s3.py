"""An S3-compatible server for the tests of the S3 store, and a bucket per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


class S3Server:
    """An S3-compatible server on a free loopback port: moto's, in a thread of the test
    process, started once per test session (``s3_server``). SeaweedFS, which the issue names,
    has no Debian or PyPI package that brings its ``weed`` binary (docs/cluster.md)."""

    REGION = "us-east-1"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._numbers = iter(range(1, 1_000_000))
        self.endpoint = ""

    def start(self) -> S3Server:
        import logging

        # One line per request otherwise, in every failing test's report.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables a pyshelf process reads to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": "pyshelf-test",
            "AWS_SECRET_ACCESS_KEY": "pyshelf-test-secret",
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> Any:
        import boto3

        env = self.env
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"pyshelf-test-{os.getpid()}-{next(self._numbers)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_store(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A new bucket for one test, and this process's AWS variables pointing at it:
    ``{"url": "s3://BUCKET/PREFIX", "bucket", "prefix", "env", "server"}``."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    prefix = "pyshelf/blobs"
    return {
        "url": f"s3://{bucket}/{prefix}",
        "bucket": bucket,
        "prefix": prefix,
        "env": s3_server.env,
        "server": s3_server,
    }
