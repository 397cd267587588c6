"""`docent eval`: retrieval quality on a data set, answer quality (`--answers`), or the Slack votes (`--feedback`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from retrieval.errors import ConfigError
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="measure retrieval quality on a data set")
    evaluate.add_argument(
        "dataset",
        type=Path,
        metavar="DATASET_DIR",
        nargs="?",
        help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), or a folder of documents with --queries",
    )
    evaluate.add_argument(
        "--feedback",
        action="store_true",
        help="summarize the votes on the Slack bot's answers and print them as a golden set",
    )
    evaluate.add_argument(
        "--queries", type=Path, help="questions whose labels name files in DATASET_DIR (JSON or JSONL)"
    )
    evaluate.add_argument("--modes", default="dense,sparse,hybrid", help="comma-separated: dense,sparse,hybrid,rerank")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of nDCG and MRR (default 10)")
    evaluate.add_argument("--max-queries", type=int, help="evaluate only the first N queries")
    evaluate.add_argument(
        "--translate",
        action="store_true",
        help="also search each query with its translation by the model server "
        "(DOCENT_LLM__BASE_URL), as the mode hybrid+translation",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    evaluate.add_argument(
        "--answers",
        action="store_true",
        help="measure answers against gold ones (answers.jsonl, or `answer` in --queries): "
        "each model alone, routed, extractive (no model) and default (the settings' ladder)",
    )
    evaluate.add_argument(
        "--configs",
        help="with --answers, comma-separated: small,large,routed,extractive,default "
        "(default: all that the configured tiers allow)",
    )
    evaluate.add_argument(
        "--report", type=Path, help="with --answers, also write the report with every answer to this JSON file"
    )
    evaluate.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from serve.evaluate import run_answer_eval, run_eval, run_feedback

    if args.feedback:
        return run_feedback(settings, args)
    if args.dataset is None:
        raise ConfigError("docent eval needs DATASET_DIR (or --feedback)")
    return run_answer_eval(settings, args) if args.answers else run_eval(settings, args)
