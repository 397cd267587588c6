"""S3 and S3-compatible stores (MinIO, Ceph, ...) by bucket and prefix, with boto3.

boto3 rather than LlamaIndex's S3 reader: the reader downloads every object and hands back parsed text, while a
sync needs the listing's ETags to skip unchanged objects and the raw bytes for the sandboxed parsers. botocore's
"standard" retry mode retries throttling (503 SlowDown) and transient errors with backoff.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Self

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from retrieval.errors import ConfigError


class S3Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # MinIO, Ceph or another S3-compatible store; unset: AWS
    region: str = "us-east-1"
    access_key_id: str | None = None  # unset: boto3's own chain (environment, instance role, ~/.aws)
    secret_access_key: SecretStr | None = None
    path_style: bool = False  # https://host/bucket/key addressing, as most S3-compatible stores want
    url: str = ""  # a link template for citations, e.g. "https://files.corp.com/{key}"; "" = s3://bucket/key
    timeout_s: float = Field(30.0, gt=0)


class S3Connector:
    def __init__(self, options: S3Options) -> None:
        self.options = options
        secret = options.secret_access_key.get_secret_value() if options.secret_access_key else None
        self.client = boto3.client(
            "s3",
            endpoint_url=options.endpoint_url,
            region_name=options.region,
            aws_access_key_id=options.access_key_id,
            aws_secret_access_key=secret,
            config=Config(
                connect_timeout=min(options.timeout_s, 10),
                read_timeout=options.timeout_s,
                retries={"max_attempts": 4, "mode": "standard"},
                s3={"addressing_style": "path" if options.path_style else "auto"},
            ),
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            return cls(S3Options.model_validate(options))
        except ValidationError as exc:
            raise ConfigError(f"s3 source: {exc}") from exc

    def documents(self) -> Iterator[SourceDocument]:
        bucket = self.options.bucket
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=self.options.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"]
                    name = key.rsplit("/", 1)[-1]
                    if key.endswith("/") or not name or name.startswith((".", "~$")):  # folders, hidden files
                        continue
                    yield SourceDocument(
                        key=key,
                        marker=str(item["ETag"]).strip('"'),
                        name=name,
                        url=self._url(key),
                        modified_at=item["LastModified"],
                        size=int(item["Size"]),
                    )
        except ClientError as exc:
            raise SourceUnavailableError(f"s3://{bucket}/{self.options.prefix}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceUnavailableError(f"s3://{bucket}/{self.options.prefix}: {exc}") from exc

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        try:
            # A range one byte past the limit: an object grown since the listing is refused without downloading it.
            response = self.client.get_object(
                Bucket=self.options.bucket, Key=document.key, Range=f"bytes=0-{max_bytes}"
            )
            data: bytes = response["Body"].read()
            return data
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise FetchError(_reason(exc), transient=status >= 500 or status == 429) from exc
        except BotoCoreError as exc:
            raise FetchError(str(exc), transient=True) from exc

    def close(self) -> None:
        self.client.close()

    def _url(self, key: str) -> str:
        if self.options.url:
            return self.options.url.format(key=key, bucket=self.options.bucket)
        return f"s3://{self.options.bucket}/{key}"


def _reason(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '') or exc}"
