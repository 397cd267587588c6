"""Uploaded files that could not be indexed, kept apart for a while and then deleted.

An upload is saved under `DATA_DIR/uploads` before its job indexes it. A file that fails for good (corrupt, a
bomb, unsupported, empty, dead-lettered) must not stay there: it would sit among the documents for ever, and
every later run over the folder would try it again. It is moved to `DATA_DIR/quarantine/<job id>/`, keeping
its path under the uploads folder, so that an administrator can look at what was sent; folders older than the
retention (`DOCENT_LIMITS__QUARANTINE_DAYS`, 0: delete at once) are deleted whenever a file is quarantined.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Quarantine:
    def __init__(self, uploads: Path, root: Path, *, retention_days: float = 7.0) -> None:
        self.uploads = Path(uploads).resolve()
        self.root = Path(root).resolve()
        self.retention_s = retention_days * 86400

    def keep(self, path: Path | str, job_id: str) -> Path | None:
        """Take `path` out of the uploads folder; where it went (None: not an upload, gone, or deleted at once)."""
        path = Path(path).resolve()
        if not path.is_relative_to(self.uploads) or not path.is_file():
            return None
        if self.retention_s <= 0:
            path.unlink(missing_ok=True)
            return None
        target = self.root / _safe_part(job_id) / path.relative_to(self.uploads)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        log.info("upload quarantined path=%s to=%s", path, target)
        self.purge()
        return target

    def purge(self, now: float | None = None) -> int:
        """Delete the job folders older than the retention; how many were deleted."""
        if not self.root.is_dir():
            return 0
        cutoff = (now if now is not None else time.time()) - self.retention_s
        removed = 0
        for folder in self.root.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed


def _safe_part(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "job"
