"""A client of a running `docent serve` for uploads: files go up as indexing jobs, whose status it polls.

Used by `docent ingest --server URL`, which cannot write the index itself while the server owns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import httpx

from ingest.discovery import discover
from retrieval.errors import ConfigError

FILES_PER_REQUEST = 20


def upload_batches(roots: Iterable[Path]) -> dict[str, list[Path]]:
    """The files under `roots` grouped by the folder they keep on the server (`""` for a file named alone)."""
    batches: dict[str, list[Path]] = {}
    for root in roots:
        root = root.expanduser().resolve()
        for path in discover([root]):
            folder = "" if root.is_file() else str(Path(root.name) / path.parent.relative_to(root))
            batches.setdefault(folder, []).append(path)
    return batches


class UploadClient:
    """Uploads files with an admin key and follows the jobs they became. A context manager (closes its client).

    Every failure, an HTTP error status or an unreachable server, raises `ConfigError` with the server's message."""

    def __init__(self, base_url: str, key: str, *, timeout_s: float = 120) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s
        )

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def upload(self, batches: dict[str, list[Path]], *, acl: list[str], public: bool, tags: list[str]) -> list[str]:
        """Send each folder's files, FILES_PER_REQUEST at a time; returns the ids of the jobs they became."""
        form = {"acl": ",".join(acl), "public": str(public).lower(), "tags": ",".join(tags)}
        job_ids = []
        for folder, paths in batches.items():
            for start in range(0, len(paths), FILES_PER_REQUEST):
                files = [("files", (p.name, p.read_bytes())) for p in paths[start : start + FILES_PER_REQUEST]]
                response = self._request("POST", "/v1/documents", data={**form, "folder": folder}, files=files)
                job_ids.append(response.json()["job"]["id"])
        return job_ids

    def statuses(self, job_ids: list[str]) -> list[dict]:
        """Each job's status as the API renders it (`GET /v1/jobs/{id}`)."""
        return [self._request("GET", f"/v1/jobs/{job_id}").json() for job_id in job_ids]

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ConfigError(f"the server answered {response.status_code}: {message}")
        return response
