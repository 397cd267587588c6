"""Retrieval quality of each fusion choice, side by side: `docent eval` under several settings, one report.

    python -m bench.quality [--datasets ../shared/datasets] [--cmrc-queries 1000] [--out bench/reports/quality.json]

For SciFact (English), CMRC2018 (Chinese) and both XQuAD directions (questions in one language, paragraphs in the
other) it runs dense, sparse and hybrid search with the default fusion and with Qdrant's DBSF and RRF, and on
CMRC2018 and XQuAD without the multilingual vector, so the table shows what each choice buys. (bench/fusion.py
compares the fusion rules on the same lists, faster; this runs the real command.)
Every variant runs through the real command in a subprocess, with its own throwaway index under --data-dir
(reused between runs: the second run of this script embeds nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from bench.common import CACHE, DATASETS, DOCENT, REPORTS, ROOT, docent_env, write_json

# (data set, label, settings); the first variant of each data set is Docent's default.
NO_MULTILINGUAL = {"DOCENT_EMBEDDING__MULTILINGUAL_MODEL": "", "DOCENT_EMBEDDING__LANGUAGES": "*"}
VARIANTS = [
    ("scifact", "adaptive (default)", {}),
    ("scifact", "DBSF", {"DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("scifact", "RRF", {"DOCENT_RETRIEVAL__FUSION": "rrf"}),
    ("cmrc2018", "adaptive (default)", {}),
    ("cmrc2018", "DBSF", {"DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("cmrc2018", "RRF", {"DOCENT_RETRIEVAL__FUSION": "rrf"}),
    ("cmrc2018", "DBSF, MiniLM only", {**NO_MULTILINGUAL, "DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("xquad-zh2en", "adaptive (default)", {}),
    ("xquad-zh2en", "DBSF", {"DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("xquad-zh2en", "DBSF, MiniLM only", {**NO_MULTILINGUAL, "DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("xquad-en2zh", "adaptive (default)", {}),
    ("xquad-en2zh", "DBSF", {"DOCENT_RETRIEVAL__FUSION": "dbsf"}),
    ("xquad-en2zh", "DBSF, MiniLM only", {**NO_MULTILINGUAL, "DOCENT_RETRIEVAL__FUSION": "dbsf"}),
]


def run_variant(dataset: Path, settings: dict[str, str], *, data_dir: Path, max_queries: int | None) -> dict:
    env = docent_env(data_dir, drop="DOCENT_", **settings)
    command = [*DOCENT, "eval", str(dataset), "--modes", "dense,sparse,hybrid", "--json"]
    if max_queries:
        command += ["--max-queries", str(max_queries)]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--cmrc-queries", type=int, default=1000, help="first N CMRC2018 questions (default 1000)")
    parser.add_argument("--xquad-queries", type=int, default=300, help="first N XQuAD questions (default 300)")
    parser.add_argument("--data-dir", type=Path, default=CACHE / "quality")
    parser.add_argument("--out", type=Path, default=REPORTS / "quality.json")
    args = parser.parse_args()

    rows = []
    for dataset, label, settings in VARIANTS:
        limit = args.cmrc_queries if dataset == "cmrc2018" else args.xquad_queries if "xquad" in dataset else None
        report = run_variant(args.datasets / dataset, settings, data_dir=args.data_dir, max_queries=limit)
        by_mode = {r["mode"]: r for r in report["results"]}
        better_half = max(by_mode["dense"]["ndcg@10"], by_mode["sparse"]["ndcg@10"])
        rows.append(
            {
                "dataset": dataset,
                "variant": label,
                "settings": settings,
                "queries": report["queries"],
                "results": report["results"],
                "hybrid_minus_better_half": by_mode["hybrid"]["ndcg@10"] - better_half,
                "seconds": report["seconds"],
            }
        )
        print(f"{dataset:9} {label:28} " + "  ".join(f"{m} {by_mode[m]['ndcg@10']:.3f}" for m in by_mode), flush=True)
    write_json(args.out, {"load_avg_at_start": os.getloadavg(), "variants": rows})

    print(
        "\n| data set | variant | dense | sparse | hybrid | hybrid − better half | R@100 hybrid | p50 / p95 ms hybrid |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        r = {x["mode"]: x for x in row["results"]}
        h = r["hybrid"]
        print(
            f"| {row['dataset']} | {row['variant']} | {r['dense']['ndcg@10']:.3f} | {r['sparse']['ndcg@10']:.3f} | "
            f"{h['ndcg@10']:.3f} | {row['hybrid_minus_better_half']:+.3f} | {h['recall@100']:.3f} | "
            f"{h['latency_ms']['p50']:.0f} / {h['latency_ms']['p95']:.0f} |"
        )


if __name__ == "__main__":
    main()
