"""Legacy Office files (.doc, .xls, .ppt) converted to their OOXML successors by LibreOffice, headless.

Docent parses only the OOXML formats; LibreOffice's import filters are the most faithful free reader of the old
binary formats, so a legacy file is converted (`soffice --convert-to docx`) and the copy parsed as that row of
formats.py. Each conversion gets its own LibreOffice profile folder: two `soffice` processes sharing a profile
block each other (the second hands its work to the first and exits), and parser workers convert in parallel.
The conversion runs inside the parser sandbox, under its memory cap, and is killed, with its child processes,
when it overruns its timeout. LibreOffice is optional: without it a legacy file is refused with the fix.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


class LibreOfficeMissing(Exception):
    """`soffice` is not on PATH: legacy Office files cannot be read here."""


class ConversionFailed(Exception):
    """LibreOffice ran but produced no file (a damaged or password-protected file), or overran its timeout."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


def soffice() -> str | None:
    """The LibreOffice binary on PATH, or None."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(path: Path, target: str, outdir: Path, *, timeout_s: float) -> Path:
    """Convert `path` to the format `target` ("docx", "xlsx", "pptx") in `outdir`; the converted file.

    Raises LibreOfficeMissing without LibreOffice, ConversionFailed when it produces nothing or times out.
    """
    binary = soffice()
    if binary is None:
        raise LibreOfficeMissing(f"no LibreOffice (soffice) on PATH: install LibreOffice or save it as .{target}")
    with tempfile.TemporaryDirectory(prefix="docent-lo-profile-") as profile:
        command = [
            binary,
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            str(path),
        ]
        # A session of its own, so that a timeout kills soffice.bin too, not only the oosplash launcher.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HOME": profile},
        )
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ConversionFailed(f"LibreOffice timed out after {timeout_s:g} s", transient=True) from None
    converted = sorted(outdir.glob(f"*.{target}"))
    if not converted:
        said = output.decode("utf-8", errors="replace").strip()[-300:]
        raise ConversionFailed(f"LibreOffice could not convert it to .{target} (exit {process.returncode}: {said})")
    return converted[0]
