"""A Git repository's documentation at one branch as a source, read with the `git` command.

The branch is fetched shallow (its tip only) into a bare repository in `cache_dir`; a later sync fetches into
the same repository rather than cloning again. Keys are paths in the repository and markers are blob ids from
`git ls-tree -r`, so a commit that changes one file changes exactly one marker, and `fetch()` reads the listed
blob by its id (`git cat-file`), the very bytes the marker names.

A token is sent as an HTTP Authorization header (basic, `token_username` and the token: what GitHub, GitLab,
Bitbucket and Azure DevOps accept for an access token) through the environment of the git process
(GIT_CONFIG_COUNT/KEY/VALUE), never in the URL, the command line (visible to `ps`) or git's configuration
files; git's messages are shown with any credentials removed.

The `git` command rather than LlamaIndex's GitHub reader: that reader speaks only GitHub's REST API and returns
parsed text without blob ids or raw bytes; the `git` command reads any host, a local path or file:// URL, and
gives blob ids for free.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ingest.connectors.base import FetchError, SourceDocument, SourceUnavailableError
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = [".md", ".markdown", ".rst", ".txt", ".html", ".htm", ".pdf", ".docx"]
_REMOTE = "refs/docent/{branch}"  # where the fetched tip is kept, apart from any branch of the cache repository
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")  # "user:password@" in a URL


class GitOptions(BaseModel):
    """A Git source's options."""

    model_config = ConfigDict(extra="forbid")

    url: str  # any URL git clones: https://, ssh://, git@host:path, file://, or a local path
    branch: str = "main"
    paths: list[str] = Field(default_factory=list)  # prefixes ("docs/") or globs ("docs/**/*.md"); default: all
    extensions: list[str] = Field(default_factory=lambda: list(DEFAULT_EXTENSIONS))
    cache_dir: Path | None = None  # default: a temporary folder, removed by close()
    web_url: str | None = None  # "https://git.corp/docs/blob/{branch}/{path}": where a reader opens a file
    token: SecretStr | None = None
    token_username: str = "x-access-token"
    timeout_s: float = Field(default=600.0, gt=0)  # for one git command (a first fetch of a large repository)


class GitConnector:
    """Lists and fetches a Git branch's documentation files (see the module docstring)."""

    Options = GitOptions

    def __init__(self, options: GitOptions) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", options.branch) or options.branch.startswith(("-", "/")):
            raise ConfigError(f"git source option 'branch': not a branch name: {options.branch!r}")
        if options.web_url is not None:
            try:
                options.web_url.format(branch="main", path="a.md")
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(
                    f"git source option 'web_url': only {{branch}} and {{path}} may appear: {exc}"
                ) from exc
        self.options = options
        self._extensions = {extension.lower() for extension in options.extensions}
        self._temporary: Path | None = None
        self._repository: Path | None = None  # set by the first documents(): constructors do no I/O
        self._batch: subprocess.Popen[bytes] | None = None  # `git cat-file --batch` for fetch()
        self._lock = threading.Lock()  # one request at a time on the batch process's pipes

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        try:
            parsed = GitOptions.model_validate(dict(options))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            raise ConfigError(f"git source option {field!r}: {error['msg']}") from exc
        return cls(parsed)

    def close(self) -> None:
        with self._lock:
            self._stop_batch()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None
            self._repository = None

    def documents(self) -> Iterator[SourceDocument]:
        with self._lock:
            self._stop_batch()  # a new one sees what this listing fetched
        repository = self._update()
        listing = self._git(repository, "ls-tree", "-r", "-z", "--long", "--full-tree", self._ref)
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, kind, blob, size = meta.decode().split()
            path = raw_path.decode("utf-8", errors="surrogateescape")
            if kind != "blob" or mode == "120000" or not self._wanted(path):  # submodules and symlinks are not files
                continue
            yield SourceDocument(
                key=path,
                marker=blob,
                name=PurePosixPath(path).name,
                url=self._web_url(path),
                size=int(size),
            )

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        if self._repository is None:
            raise FetchError("list the repository (documents()) before fetching from it")
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", document.marker):
            raise FetchError(f"not a blob id: {document.marker!r}")
        if document.size is not None and document.size > max_bytes:
            raise FetchError(f"larger than {max_bytes} bytes ({document.size})")
        with self._lock:
            return self._read_blob(self._repository, document.marker, max_bytes)

    def _read_blob(self, repository: Path, blob: str, max_bytes: int) -> bytes:
        """The blob's bytes from one long-lived `git cat-file --batch` (a process per file would cost more than
        reading it)."""
        if self._batch is None or self._batch.poll() is not None:
            self._batch = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self._environment(repository),
                cwd=repository,
            )
        assert self._batch.stdin is not None and self._batch.stdout is not None
        try:
            self._batch.stdin.write(blob.encode() + b"\n")
            self._batch.stdin.flush()
            header = self._batch.stdout.readline().split()  # "<id> blob <size>", or "<id> missing"
            if len(header) != 3 or header[1] != b"blob":
                raise FetchError(f"{blob} is not a blob of the repository (any more)")
            size = int(header[2])
            content = self._batch.stdout.read(size)
            self._batch.stdout.read(1)  # the newline after each object
        except (OSError, ValueError) as exc:
            self._stop_batch()
            raise FetchError(f"git cat-file failed: {exc}", transient=True) from exc
        if len(content) != size:
            self._stop_batch()
            raise FetchError("git cat-file stopped early", transient=True)
        if size > max_bytes:
            raise FetchError(f"larger than {max_bytes} bytes ({size})")
        return content

    def _stop_batch(self) -> None:
        if self._batch is not None:
            if self._batch.stdin is not None:
                self._batch.stdin.close()
            self._batch.kill()
            self._batch.wait()
            if self._batch.stdout is not None:
                self._batch.stdout.close()
            self._batch = None

    @property
    def _ref(self) -> str:
        return _REMOTE.format(branch=self.options.branch)

    def _update(self) -> Path:
        """The cache repository with the branch's tip fetched (created on first use)."""
        if self._repository is None:
            root = self.options.cache_dir
            if root is None:
                self._temporary = Path(tempfile.mkdtemp(prefix="docent-git-"))
                root = self._temporary
            # One repository per URL (not per token): a second source of the same URL shares the cache.
            name = hashlib.sha256(self.options.url.encode()).hexdigest()[:16]
            self._repository = root / name
        if not (self._repository / "HEAD").exists():
            self._repository.mkdir(parents=True, exist_ok=True)
            self._git(self._repository, "init", "--bare", "--quiet")
        branch = self.options.branch
        self._git(
            self._repository,
            "fetch", "--quiet", "--depth=1", "--no-tags", "--force", "--",
            self.options.url, f"+refs/heads/{branch}:{self._ref}",
        )  # fmt: skip
        return self._repository

    def _environment(self, repository: Path) -> dict[str, str]:
        environment = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # fail rather than wait for a password nobody types
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_DIR": str(repository),
            "LC_ALL": "C",
        }
        if self.options.token is not None:
            pair = f"{self.options.token_username}:{self.options.token.get_secret_value()}"
            environment |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": "Authorization: Basic " + base64.b64encode(pair.encode()).decode(),
            }
        return environment

    def _git(self, repository: Path, *args: str) -> bytes:
        """git's standard output for `args` in `repository`; its failure as SourceUnavailableError with its
        (redacted) message."""
        environment = self._environment(repository)
        try:
            completed = subprocess.run(
                ["git", *args],
                env=environment,
                cwd=repository,
                capture_output=True,
                timeout=self.options.timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SourceUnavailableError("the git command is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise SourceUnavailableError(f"git {args[0]} took longer than {self.options.timeout_s:g} s") from exc
        if completed.returncode != 0:
            message = self._redact(completed.stderr.decode("utf-8", errors="replace").strip())
            raise SourceUnavailableError(f"git {args[0]} of {self._redact(self.options.url)} failed: {message}")
        return completed.stdout

    def _redact(self, text: str) -> str:
        text = _USERINFO.sub("***@", text)
        if self.options.token is not None:
            secret = self.options.token.get_secret_value()
            if secret:
                text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
        return text

    def _wanted(self, path: str) -> bool:
        if PurePosixPath(path).suffix.lower() not in self._extensions:
            return False
        if not self.options.paths:
            return True
        return any(_matches(path, pattern) for pattern in self.options.paths)

    def _web_url(self, path: str) -> str | None:
        if self.options.web_url is None:
            return None
        return self.options.web_url.format(branch=quote(self.options.branch), path=quote(path))


def _matches(path: str, pattern: str) -> bool:
    """`pattern` a prefix ("docs/", "README") or an fnmatch glob ("docs/*.md": `*` crosses folders; "**/" may
    also match no folder at all, so "docs/**/*.md" takes docs/index.md too)."""
    if not any(character in pattern for character in "*?["):
        return path.startswith(pattern)
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))
