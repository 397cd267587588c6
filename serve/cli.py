"""The `docent` command: the composition root of the command-line process.

    docent ingest PATH... [--acl PRINCIPAL ...] [--public] [--tag TAG ...] [--prune] [--json]
    docent search QUERY [--k N] [--user ID --group G ...] [filters] [--mode M] [--json]
    docent ask QUESTION [--user ID --group G ...] [filters] [--extractive] [--json]
    docent eval DATASET_DIR [--queries FILE] [--modes dense,sparse,hybrid,rerank] [--k 10] [--json]
    docent keys create --user ID [--groups G1,G2] [--admin] [--json]
    docent serve [--host H] [--port P]

Exit status: 0 success, 1 some documents failed (the rest were indexed), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from datetime import UTC, datetime

from retrieval.errors import ConfigError, DocentError
from retrieval.search import Mode
from serve.settings import Settings

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docent", description="Enterprise document question answering.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="index files and folders")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--acl", action="append", default=[], metavar="PRINCIPAL",
                        help="a user or group allowed to read these documents (repeatable)")
    ingest.add_argument("--public", action="store_true", help="readable by everyone")
    ingest.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag to filter by (repeatable)")
    ingest.add_argument("--prune", action="store_true", help="remove indexed documents whose files are gone")
    ingest.add_argument("--json", action="store_true", help="print the report as one JSON object")

    search = commands.add_parser("search", help="hybrid search over the index")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5, help="number of passages (default 5)")
    search.add_argument("--user", help="search as this user (default: the operator, who sees every document)")
    search.add_argument("--group", action="append", default=[], help="a group of --user (repeatable)")
    _filter_arguments(search)
    search.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.HYBRID.value)
    search.add_argument("--neighbours", type=int, help="chunks to add on each side of a hit")
    search.add_argument("--json", action="store_true", help="print passages as a JSON list")

    ask = commands.add_parser("ask", help="answer a question from the documents, with sources")
    ask.add_argument("question")
    ask.add_argument("--user", help="ask as this user (default: the operator, who sees every document)")
    ask.add_argument("--group", action="append", default=[], help="a group of --user (repeatable)")
    _filter_arguments(ask)
    ask.add_argument("--extractive", action="store_true", help="quote the best sentences; no model")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")

    evaluate = commands.add_parser("eval", help="measure retrieval quality on a data set")
    evaluate.add_argument("dataset", type=Path, metavar="DATASET_DIR",
                          help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), or a folder of documents with --queries")
    evaluate.add_argument("--queries", type=Path, help="questions whose labels name files in DATASET_DIR (JSON or JSONL)")
    evaluate.add_argument("--modes", default="dense,sparse,hybrid", help="comma-separated: dense,sparse,hybrid,rerank")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of nDCG and MRR (default 10)")
    evaluate.add_argument("--max-queries", type=int, help="evaluate only the first N queries")
    evaluate.add_argument("--json", action="store_true", help="print the report as one JSON object")

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key (shown once)")
    create.add_argument("--user", required=True, help="the user id the key searches as")
    create.add_argument("--groups", default="", help="comma-separated groups of that user")
    create.add_argument("--admin", action="store_true", help="may manage documents")
    create.add_argument("--json", action="store_true", help='print {"key": ...}')

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


def _filter_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--prefix", help="only documents under this folder")
    command.add_argument("--type", action="append", default=[], dest="doc_types", help="document type, e.g. pdf")
    command.add_argument("--lang", action="append", default=[], dest="languages", help="en or zh")
    command.add_argument("--tag", action="append", default=[], dest="tags")
    command.add_argument("--after", type=_date, help="modified on or after (ISO date)")
    command.add_argument("--before", type=_date, help="modified on or before (ISO date)")


def _filters(args: argparse.Namespace):  # noqa: ANN202 - SearchFilters, imported lazily
    from retrieval.filters import SearchFilters

    return SearchFilters(
        source_prefix=args.prefix,
        doc_types=tuple(args.doc_types),
        languages=tuple(args.languages),
        tags=tuple(args.tags),
        modified_after=args.after,
        modified_before=args.before,
    )


def _access(args: argparse.Namespace):  # noqa: ANN202 - Access, imported lazily
    """The operator owns the data folder and so reads every document; --user/--group narrow that."""
    from retrieval.access import ALL_ACCESS, Principal

    return Principal(args.user, tuple(args.group)) if args.user or args.group else ALL_ACCESS


def _date(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        settings = Settings()
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
            stream=sys.stderr,
        )
        if args.command == "ingest":
            return _ingest(settings, args)
        if args.command == "eval":
            from serve.evaluate import run_eval

            return run_eval(settings, args)
        if args.command == "keys":
            return _create_key(settings, args)
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "ask":
            return _ask(settings, args)
        return _search(settings, args)
    except DocentError as exc:
        print(f"docent: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_ERROR


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from serve.components import make_cjk_embedder, make_embedder, make_index, make_parsers, make_pipeline
    from serve.progress import IngestProgress

    console = Console(stderr=True)
    embedder = make_embedder(settings)
    cjk = make_cjk_embedder(settings)
    parsers = make_parsers(settings)
    with ExitStack() as stack:
        with console.status("loading the embedding models and the parsers…"):
            parsers.start()  # the workers import their parsers while the model loads
            stack.callback(parsers.close)
            embedder.start()
            if cjk is not None:
                cjk.start()
            index = make_index(settings, embedder.dimension, cjk)
            index.start()
            stack.callback(index.close)
            parsers.wait_ready()
            pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers, cjk=cjk)
            pipeline.sparse.start()
        with IngestProgress(console, quiet=args.json) as progress:
            report = pipeline.run(
                args.paths,
                acl=args.acl,
                public=args.public,
                tags=args.tag,
                prune=args.prune,
                on_start=progress.start,
                on_file=progress.advance,
            )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        IngestProgress.summary(console, report)
    return EXIT_OK if report.ok else EXIT_FAILURES


def _search(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.search import SearchRequest
    from serve.components import start_retriever

    mode = Mode(args.mode)
    if mode is Mode.RERANK and not settings.retrieval.rerank_model:
        raise ConfigError("--mode rerank needs a cross-encoder: set DOCENT_RETRIEVAL__RERANK_MODEL")
    index, retriever = start_retriever(settings, rerank=mode is Mode.RERANK)
    try:
        request = SearchRequest(args.query, _access(args), k=args.k, filters=_filters(args), mode=mode,
                                neighbours=args.neighbours)
        passages = retriever.search(request).passages
    finally:
        index.close()
    if args.json:
        print(json.dumps([asdict(p) for p in passages], ensure_ascii=False))
        return EXIT_OK
    if not passages:
        print("no results")
    for rank, passage in enumerate(passages, 1):
        snippet = " ".join(passage.text.split())[:200]
        print(f"{rank}. [{passage.score:.3f}] {passage.source}\n   {passage.citation}\n   {snippet}\n")
    return EXIT_OK


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    """Answer in-process: the answer streams to stdout as it is written, then its sources."""
    from serve.answer import Answer, AskRequest, Delta
    from serve.components import make_answerer, start_generator, start_retriever

    index, retriever = start_retriever(settings, rerank=True)
    generator = None if args.extractive else start_generator(settings)
    try:
        answerer = make_answerer(settings, retriever, generator)
        request = AskRequest(args.question, _access(args), _filters(args), extractive=args.extractive)
        if args.json:
            print(json.dumps(answerer.answer(request).to_dict(), ensure_ascii=False))
            return EXIT_OK
        answer: Answer | None = None
        for event in answerer.stream(request):
            if isinstance(event, Delta):
                print(event.text, end="", flush=True)
            else:
                answer = event
    finally:
        index.close()
        if generator is not None:
            generator.close()
    assert answer is not None
    how = {"generated": f"written by {answer.model}", "extractive": "quoted from the documents (no model)",
           "not_found": "not found in the documents"}[answer.mode.value]
    if answer.fallback_reason:
        how += f"; the model failed: {answer.fallback_reason}"
    print(f"\n\n({how})")
    if answer.unsupported:
        print(f"warning: {len(answer.unsupported)} sentence(s) not supported by the cited passages")
    if answer.citations:
        print("Closest sources:" if answer.mode == "not_found" else "Sources:")
        for c in answer.citations:
            print(f"  {c.label}")
    return EXIT_OK


def _create_key(settings: Settings, args: argparse.Namespace) -> int:
    from serve.keys import KeyStore

    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    key, record = KeyStore(settings.data_dir / "keys.sqlite").create(args.user, groups, admin=args.admin)
    if args.json:
        print(json.dumps({"key": key, "key_id": record.key_id, "user": args.user, "groups": list(groups),
                          "admin": args.admin}))
    else:
        print(f"{key}\n(key {record.key_id} for user {args.user!r}, groups {list(groups)}, admin {args.admin}; "
              "it is shown only once)")
    return EXIT_OK


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """The composition root of the server process: models, index and retriever, started once, then uvicorn."""
    import uvicorn

    from serve.app import create_app
    from serve.components import make_answerer, make_parsers, make_pipeline, start_generator, start_retriever
    from serve.documents import DocumentService
    from serve.keys import KeyStore
    from serve.ratelimit import RateLimiter

    limits = settings.limits
    with ExitStack() as stack:
        # The parser worker starts with the first upload: idle, it would hold ~430 MiB (bench/serve.py).
        parsers = make_parsers(settings)
        stack.callback(parsers.close)
        index, retriever = start_retriever(settings, rerank=True)
        stack.callback(index.close)
        generator = start_generator(settings)
        if generator is not None:
            stack.callback(generator.close)
        pipeline = make_pipeline(settings, index=index, embedder=retriever.embedder, parsers=parsers,
                                 cjk=retriever.cjk_embedder)
        pipeline.sparse.start()
        app = create_app(
            retriever=retriever,
            index=index,
            keys=KeyStore(settings.data_dir / "keys.sqlite"),
            answerer=make_answerer(settings, retriever, generator),
            documents=DocumentService(pipeline, index, settings.data_dir / "uploads"),
            generator=generator,
            limiter=RateLimiter(limits.requests_per_minute, limits.burst),
            max_upload_bytes=int(limits.max_upload_mb * 1024 * 1024),
            max_upload_files=limits.max_upload_files,
            anonymous=settings.auth.anonymous,
        )
        model = generator.model if generator is not None else "none (extractive answers)"
        print(f"docent: serving http://{args.host}:{args.port} (API docs at /docs; generator: {model}; "
              f"anonymous access: {'on' if settings.auth.anonymous else 'off'})", file=sys.stderr, flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level.lower())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
