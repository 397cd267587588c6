"""`docent search QUERY`: hybrid search over the index, as the operator or as a given user."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from retrieval.errors import ConfigError
from retrieval.search import Mode
from serve.cli import exits, options
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser("search", help="hybrid search over the index")
    search.add_argument("query", help="what to search for")
    search.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    options.add_principal(search, "search")
    options.add_filters(search)
    search.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.HYBRID.value,
        help="dense, sparse, hybrid (default) or rerank (needs DOCENT_RETRIEVAL__RERANK_MODEL)",
    )
    search.add_argument("--neighbours", type=int, help="chunks to add on each side of a hit")
    search.add_argument("--json", action="store_true", help="print passages as a JSON list")
    search.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.search import SearchRequest
    from serve.composition import command

    mode = Mode(args.mode)
    if mode is Mode.RERANK and not settings.retrieval.rerank_model:
        raise ConfigError("--mode rerank needs a cross-encoder: set DOCENT_RETRIEVAL__RERANK_MODEL")
    with command(settings) as process:
        _, retriever = process.retriever(rerank=mode is Mode.RERANK)
        request = SearchRequest(
            args.query,
            options.access(args),
            k=args.k,
            filters=options.filters(args),
            mode=mode,
            neighbours=args.neighbours,
        )
        passages = retriever.search(request).passages
    if args.json:
        print(json.dumps([asdict(p) for p in passages], ensure_ascii=False))
        return exits.OK
    if not passages:
        print("no results")
    for rank, passage in enumerate(passages, 1):
        snippet = " ".join(passage.text.split())[:200]
        print(f"{rank}. [{passage.score:.3f}] {passage.source}\n   {passage.citation}\n   {snippet}\n")
    return exits.OK
