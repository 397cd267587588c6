"""A real S3-compatible server process (moto's server mode) on a free port, for the S3 source's tests.

It speaks S3's REST protocol over HTTP as MinIO or AWS would; the tests reach it with boto3 like any client."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from tests.support.redis_server import free_port

ACCESS_KEY = "docent-test"
SECRET_KEY = "docent-test-secret"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> S3Server:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def client(self):  # a boto3 S3 client of this server
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def options(self, bucket: str, **more: object) -> dict[str, object]:
        """The S3 source's options for `bucket` on this server."""
        return {
            "bucket": bucket,
            "endpoint_url": self.url,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "path_style": True,
            **more,
        }
