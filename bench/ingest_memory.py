"""Ingest memory against corpus size: peak RSS at a series of corpus sizes, and where the memory goes.

    python -m bench.ingest_memory [--chunks 2000 8000 20000] [--limit-mib N] [--profile [CHUNKS]] [--out FILE]

For each target, a generated corpus (bench/corpus.py) of about that many chunks is ingested by `docent ingest`'s
pipeline in a fresh subprocess (bench/ingest_runs.py, as bench/ingest_speed.py runs it), the RSS of its process tree
sampled every 50 ms. The report gives peak RSS per size and the growth per chunk between sizes: memory that
grows with the corpus is a leak or a store held in RAM, and the growth per chunk says which.

Peak RSS is split into its private (anonymous) part and its file-backed part: the index's segments are
memory-mapped files, and pages of them that the run touched count in RSS while being page cache, which the
kernel takes back when memory is short. `--limit-mib N` proves which is which: the largest size runs once more
inside a memory cgroup of N MiB (v1 or v2, where this machine lets root create one); if the growth were held
memory, a limit under the unlimited peak would kill the run; if it is cache, the run completes at about the
same speed.

With `--profile`, one size (the largest unless named) runs once more under memray (native frames included), and the
report lists the allocation sites holding the most memory at the high-water mark, Python and native, so the growth
has a name.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from bench.common import MIB, REPORTS, ROOT, SAMPLE_DOCS, docent_env, new_report, write_report
from bench.corpus import write_corpus
from bench.ingest_speed import run_measured

CHUNKS_PER_FILE = 7.0  # the generated corpus's mean (measured: a first size corrects it for the next ones)


def profile(corpus: Path, work: Path, top: int) -> dict[str, object]:
    """Ingest `corpus` under memray; the allocation sites holding the most at the high-water mark."""
    from memray import FileReader

    capture = work / "ingest.memray"
    env = docent_env(work / "data", DOCENT_QDRANT__URL="")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "memray",
            "run",
            "--native",
            "--quiet",
            "-o",
            str(capture),
            "-m",
            "bench.ingest_runs",
            "docent",
            "--corpus",
            str(corpus),
            "--work",
            str(work),
            "--result",
            str(work / "profiled.json"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    reader = FileReader(capture)
    sites: dict[str, int] = {}
    for record in reader.get_high_watermark_allocation_records(merge_threads=True):
        frames = record.hybrid_stack_trace(max_stacks=12)
        ours = next((f for f in frames if "/docent" in f[1] or f"{ROOT}" in f[1]), None)
        leaf = frames[0] if frames else ("?", "?", 0)
        key = f"{leaf[0]} ({Path(leaf[1]).name}:{leaf[2]})"
        if ours is not None and ours is not leaf:
            key += f" <- {ours[0]} ({Path(ours[1]).name}:{ours[2]})"
        sites[key] = sites.get(key, 0) + record.size
    total = sum(sites.values())
    ranked = sorted(sites.items(), key=lambda kv: -kv[1])[:top]
    return {
        "peak_heap_mib": round(reader.metadata.peak_memory / 2**20, 1),
        "tracked_at_peak_mib": round(total / 2**20, 1),
        "top_sites": [{"site": site, "mib": round(size / 2**20, 1)} for site, size in ranked],
    }


PEAKS = ("peak_rss_mib", "peak_private_mib", "peak_file_backed_mib")


def _measured(result: dict[str, object]) -> dict[str, object]:
    return {
        "chunks": result["chunks"],
        **{key: result[key] for key in PEAKS},
        "seconds": result["seconds"],
        "chunks_per_s": result["chunks_per_s"],
    }


def _charged(group: Path) -> dict[str, object]:
    """What the cgroup was charged at most (each page once, unlike a sum of RSS over processes) and how often
    it hit its limit (each time the kernel had to reclaim pages to go on)."""
    v1 = (group / "memory.max_usage_in_bytes").exists()
    peak_file = group / ("memory.max_usage_in_bytes" if v1 else "memory.peak")
    peak = int(peak_file.read_text()) if peak_file.exists() else None
    if v1:
        hits = int((group / "memory.failcnt").read_text())
    else:
        events = dict(line.split() for line in (group / "memory.events").read_text().splitlines())
        hits = int(events.get("max", 0))
    return {"cgroup_peak_mib": round(peak / MIB, 1) if peak is not None else None, "times_at_limit": hits}


@contextlib.contextmanager
def memory_cgroup(limit_mib: int) -> Iterator[Path | None]:
    """A fresh memory cgroup limited to `limit_mib`, removed afterwards; None where none can be made (not
    root, no writable hierarchy)."""
    v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
    if (v1 / "memory.limit_in_bytes").exists():
        parent, limit_file = v1, "memory.limit_in_bytes"
    elif (v2 / "cgroup.controllers").exists() and "memory" in (v2 / "cgroup.controllers").read_text().split():
        parent, limit_file = v2, "memory.max"
    else:
        yield None
        return
    group = parent / f"docent-bench-{os.getpid()}"
    try:
        group.mkdir()
        (group / limit_file).write_text(str(limit_mib * 2**20))
    except OSError:
        if group.exists():
            group.rmdir()
        yield None
        return
    try:
        yield group
    finally:
        for _ in range(20):  # the run has exited; the kernel lets the group go shortly after
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2000, 8000, 20000])
    parser.add_argument(
        "--profile",
        type=int,
        metavar="CHUNKS",
        nargs="?",
        const=-1,
        help="run one size again under memray (default: the largest)",
    )
    parser.add_argument("--limit-mib", type=int, help="run the largest size again inside a memory cgroup of this size")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPORTS / "ingest_memory.json")
    args = parser.parse_args(argv)

    console = Console(stderr=True)
    started = time.perf_counter()
    report = new_report("ingest_memory", sizes=[])
    temp = Path(tempfile.mkdtemp(prefix="docent-memory-"))
    per_file = CHUNKS_PER_FILE
    try:
        for target in sorted(args.chunks):
            files = max(10, round(target / per_file))
            corpus = temp / f"corpus-{target}"
            write_corpus(corpus, files, source=SAMPLE_DOCS, seed=args.seed)
            work = temp / f"work-{target}"
            work.mkdir()
            result = run_measured("docent", corpus, work, console, f"{target} chunks · docent")
            if "error" in result:
                report["sizes"].append({"target": target, "files": files, **result})
                continue
            per_file = result["chunks"] / result["files"]
            report["sizes"].append({"target": target, "files": files, **_measured(result)})
            shutil.rmtree(work / "data", ignore_errors=True)
        sizes = [s for s in report["sizes"] if "chunks" in s]
        report["growth_kib_per_chunk"] = [
            {
                "from": a["chunks"],
                "to": b["chunks"],
                **{
                    key.removesuffix("_mib"): round((b[key] - a[key]) * 1024 / (b["chunks"] - a["chunks"]), 2)
                    for key in PEAKS
                },
            }
            for a, b in itertools.pairwise(sizes)
        ]
        if args.limit_mib and sizes:
            largest = sizes[-1]
            work = temp / "limited"
            work.mkdir()
            with memory_cgroup(args.limit_mib) as group:
                if group is None:
                    report["limited"] = {"limit_mib": args.limit_mib, "error": "no memory cgroup can be made here"}
                else:
                    result = run_measured(
                        "docent",
                        temp / f"corpus-{largest['target']}",
                        work,
                        console,
                        f"{largest['target']} chunks · docent in {args.limit_mib} MiB",
                        cgroup=group,
                    )
                    report["limited"] = {
                        "limit_mib": args.limit_mib,
                        "target": largest["target"],
                        **(_measured(result) if "error" not in result else result),
                        **_charged(group),
                    }
        if args.profile is not None and sizes:
            size = next((s for s in sizes if s["target"] == args.profile), sizes[-1])
            work = temp / "profile"
            work.mkdir()
            with console.status(f"profiling {size['chunks']} chunks under memray"):
                report["profile"] = {
                    "chunks": size["chunks"],
                    **profile(temp / f"corpus-{size['target']}", work, args.top),
                }
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    write_report(report, args.out, started)
    console.print_json(json.dumps({k: v for k, v in report.items() if k != "machine"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
