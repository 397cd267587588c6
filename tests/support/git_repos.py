"""Git repositories built by a test: a bare "remote" and a working copy that commits and pushes to it, and the
remote served over real smart HTTP by `git http-backend` (CGI) behind basic authentication, as a Git host
serves it to a holder of an access token.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Docent Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Docent Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_IDENTITY}, capture_output=True, text=True, check=True
    )
    return completed.stdout


class GitRemote:
    """A bare repository at `root/remote.git` and a working copy at `root/work` that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        self.work.mkdir()
        git(self.bare, "init", "--quiet", "--bare", "--initial-branch=main")
        git(self.work, "init", "--quiet", "--initial-branch=main")

    def write(self, path: str, content: str | bytes) -> None:
        file = self.work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            file.write_text(content, encoding="utf-8")
        else:
            file.write_bytes(content)

    def remove(self, path: str) -> None:
        git(self.work, "rm", "--quiet", path)

    def commit_and_push(self, message: str, branch: str = "main") -> None:
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "--no-gpg-sign", "-m", message)
        git(self.work, "push", "--quiet", str(self.bare), f"HEAD:refs/heads/{branch}")

    def blob(self, path: str, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}:{path}").strip()


class GitHttpServer:
    """Serves the repositories under `root` at http://127.0.0.1:PORT/<name>.git to a client whose basic
    credentials are `username`:`password`; 401 to anyone else. `requests` logs (path with query, Authorization)."""

    def __init__(self, root: Path, username: str, password: str) -> None:
        expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                authorization = self.headers.get("Authorization", "")
                owner.requests.append((self.path, authorization))
                if authorization != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                environment = {
                    "PATH": os.environ.get("PATH", ""),
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": url.path,
                    "QUERY_STRING": url.query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_USER": username,
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull,
                }
                output = subprocess.run(
                    ["git", "http-backend"], input=body, env=environment, capture_output=True, check=False
                ).stdout
                head, _, payload = output.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode("latin-1").split("\r\n") if ":" in line]
                status = next((int(value.split()[0]) for name, value in headers if name.lower() == "status"), 200)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "status":
                        self.send_header(name, value.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="git-http-server"
        )

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
