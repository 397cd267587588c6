"""A real PostgreSQL server on a free port, for the store contract tests and the replica tests.

`.ci/run` installs Debian's `postgresql` package; this starts a throwaway cluster from its binaries (`initdb`,
`pg_ctl`) in a temporary folder, as the `postgres` system user when the tests run as root (PostgreSQL refuses to
run as root), and stops it afterwards. Without the package the tests fail, loudly."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.redis_server import free_port


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    assert found, "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
    return Path(found[-1]).parent


class PostgresServer:
    """`with PostgresServer(folder) as pg: pg.url` — a SQLAlchemy URL (psycopg 3) to a fresh database."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://docent@127.0.0.1:{self.port}/docent"
        self._bin = _binaries()
        self._as_root = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{argv[0]} failed: {result.stdout}\n{result.stderr}"

    def __enter__(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.folder, "postgres", "postgres")
            os.chmod(self.folder, 0o700)
            # runuser needs to reach the folder: its parents (pytest's tmp folders are 0700) get traverse rights
            for parent in self.folder.parents:
                if parent == Path("/") or parent == Path("/tmp"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o711)
        self._run("initdb", "-D", str(self.data), "-U", "docent", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "docent", "docent")
        return self

    def create_database(self, name: str) -> str:
        """A second, empty database on the same server; returns its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "docent", name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start the server (again, after `stop`: the outage tests)."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def __exit__(self, *exc: object) -> None:
        deadline = time.monotonic() + 30
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            try:
                self.stop()
            except AssertionError:
                time.sleep(0.5)
