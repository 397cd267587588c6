"""The `docent` command: the composition root of the command-line process.

    docent ingest PATH... [--acl PRINCIPAL ...] [--public] [--tag TAG ...] [--prune] [--json]
                          [--queue | --server URL [--key KEY]] [--no-wait]
    docent sync SOURCE... [--acl PRINCIPAL ...] [--public] [--tag TAG ...] [--queue] [--json]
    docent worker [--concurrency N]
    docent search QUERY [--k N] [--user ID --group G ...] [filters] [--mode M] [--json]
    docent ask QUESTION [--user ID --group G ...] [filters] [--extractive] [--json]
    docent eval DATASET_DIR [--queries FILE] [--modes dense,sparse,hybrid,rerank] [--k 10] [--translate] [--json]
    docent eval DATASET_DIR --answers [--queries FILE] [--configs small,large,routed,extractive,default]
                                      [--report FILE] [--json]
    docent eval --feedback [--json]
    docent slack
    docent keys create --user ID [--groups G1,G2] [--admin] [--json]
    docent reindex [--server URL [--key KEY]] [--force] [--drop-old] [--json]
    docent reindex --status | --switch-to VERSION | --drop VERSION
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

from pydantic import ValidationError

from retrieval.errors import ConfigError, DocentError, ErrorCode
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

    where = ingest.add_mutually_exclusive_group()
    where.add_argument("--queue", action="store_true",
                       help="submit a job to the workers (DOCENT_REDIS_URL; the files must be on storage they see)")
    where.add_argument("--server", metavar="URL",
                       help="upload the files to a running `docent serve` (which owns its index) as a job")
    ingest.add_argument("--key", help="an admin API key for --server (default: $DOCENT_API_KEY)")
    ingest.add_argument("--no-wait", action="store_true", help="with --queue or --server: print the job id and exit")

    sync = commands.add_parser("sync", help="re-index folders incrementally: changed files only, deleted ones removed")
    sync.add_argument("paths", nargs="+", type=Path, metavar="SOURCE")
    sync.add_argument("--acl", action="append", default=[], metavar="PRINCIPAL")
    sync.add_argument("--public", action="store_true")
    sync.add_argument("--tag", action="append", default=[], metavar="TAG")
    sync.add_argument("--queue", action="store_true", help="as a job for the workers (DOCENT_REDIS_URL)")
    sync.add_argument("--no-wait", action="store_true", help="with --queue: print the job id and exit")
    sync.add_argument("--json", action="store_true")

    worker = commands.add_parser("worker", help="run indexing jobs from the queue (needs DOCENT_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, help="tasks at once (default DOCENT_QUEUE__CONCURRENCY)")

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
    evaluate.add_argument("dataset", type=Path, metavar="DATASET_DIR", nargs="?",
                          help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv), or a folder of documents with --queries")
    evaluate.add_argument("--feedback", action="store_true",
                          help="summarize the votes on the Slack bot's answers and print them as a golden set")
    evaluate.add_argument("--queries", type=Path, help="questions whose labels name files in DATASET_DIR (JSON or JSONL)")
    evaluate.add_argument("--modes", default="dense,sparse,hybrid", help="comma-separated: dense,sparse,hybrid,rerank")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of nDCG and MRR (default 10)")
    evaluate.add_argument("--max-queries", type=int, help="evaluate only the first N queries")
    evaluate.add_argument("--translate", action="store_true",
                          help="also search each query with its translation by the model server "
                               "(DOCENT_LLM__BASE_URL), as the mode hybrid+translation")
    evaluate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    evaluate.add_argument("--answers", action="store_true",
                          help="measure answers against gold ones (answers.jsonl, or `answer` in --queries): "
                               "each model alone, routed, extractive (no model) and default (the settings' ladder)")
    evaluate.add_argument("--configs", help="with --answers, comma-separated: small,large,routed,extractive,default "
                                            "(default: all that the configured tiers allow)")
    evaluate.add_argument("--report", type=Path, help="with --answers, also write the report with every answer "
                                                      "to this JSON file")

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key (shown once)")
    create.add_argument("--user", required=True, help="the user id the key searches as")
    create.add_argument("--groups", default="", help="comma-separated groups of that user")
    create.add_argument("--admin", action="store_true", help="may manage documents")
    create.add_argument("--json", action="store_true", help='print {"key": ...}')

    reindex = commands.add_parser("reindex", help="rebuild the index into a new version with the current settings, "
                                                  "then switch to it (the current version serves meanwhile)")
    reindex.add_argument("--server", metavar="URL", help="list the documents through a running `docent serve` "
                                                         "(needed while it owns the embedded index)")
    reindex.add_argument("--key", help="an admin API key for --server (default: $DOCENT_API_KEY)")
    reindex.add_argument("--force", action="store_true", help="switch even if the new version has fewer documents")
    reindex.add_argument("--drop-old", action="store_true", help="delete the previous version after the switch")
    reindex.add_argument("--json", action="store_true", help="print the report as one JSON object")
    what = reindex.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="list the versions and which one serves")
    what.add_argument("--switch-to", metavar="VERSION", help="point the index at an existing version (switch back)")
    what.add_argument("--drop", metavar="VERSION", help="delete a version that does not serve")

    commands.add_parser("slack", help="run the Slack bot over Socket Mode (no public URL needed)")

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
        if args.command in ("ingest", "sync"):
            from retrieval.access import acl_entries

            args.acl = list(acl_entries(args.acl))  # refused here, before a model loads or a file is sent
        if args.command == "ingest":
            if args.server:
                return _ingest_via_server(args)
            if args.queue:
                return _ingest_via_queue(settings, args, kind="ingest", prune=args.prune)
            return _ingest(settings, args)
        if args.command == "sync":
            if args.queue:
                return _ingest_via_queue(settings, args, kind="sync", prune=True)
            args.prune = True
            return _ingest(settings, args)
        if args.command == "worker":
            return _worker(settings, args)
        if args.command == "slack":
            return _slack(settings)
        if args.command == "eval":
            from serve.evaluate import run_answer_eval, run_eval, run_feedback

            if args.feedback:
                return run_feedback(settings, args)
            if args.dataset is None:
                raise ConfigError("docent eval needs DATASET_DIR (or --feedback)")
            return run_answer_eval(settings, args) if args.answers else run_eval(settings, args)
        if args.command == "keys":
            return _create_key(settings, args)
        if args.command == "reindex":
            from serve.reindexing import run_reindex

            return run_reindex(settings, args)
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "ask":
            return _ask(settings, args)
        return _search(settings, args)
    except DocentError as exc:
        print(f"docent: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ValidationError as exc:  # the settings: a DOCENT_* variable that does not parse
        print(f"docent: error [{ErrorCode.CONFIG_INVALID}]: invalid settings: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from serve.components import make_parsers, make_pipeline, start_writer
    from serve.progress import IngestProgress

    console = Console(stderr=True)
    parsers = make_parsers(settings)
    with ExitStack() as stack:
        with console.status("loading the embedding models and the parsers…"):
            parsers.start()  # the workers import their parsers while the model loads
            stack.callback(parsers.close)
            embedder, multilingual, index = start_writer(settings, when_locked=(
                "While `docent serve` owns the index, send it the files: `docent ingest PATH --server URL`, "
                "or `--queue` with DOCENT_REDIS_URL set"))
            stack.callback(index.close)
            parsers.wait_ready()
            pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers,
                                     multilingual=multilingual)
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


def _job_exit(jobs: list[dict]) -> int:
    return EXIT_OK if all(j["state"] == "succeeded" for j in jobs) else EXIT_FAILURES


def _ingest_via_queue(settings: Settings, args: argparse.Namespace, *, kind: str, prune: bool) -> int:
    """Submit a job to the Redis queue; the workers read the files, so they must see the same paths."""
    from rich.console import Console

    from ingest.jobs.store import Grant, JobStatus
    from ingest.jobs.queue import JobService
    from serve.components import make_celery_queue, make_job_store
    from serve.progress import JobProgress

    if not settings.redis_url:
        raise ConfigError("--queue needs a queue: set DOCENT_REDIS_URL (or send the files to a running server "
                          "with --server URL)")
    store = make_job_store(settings)
    store.ping()
    queue = make_celery_queue(settings)
    try:
        q = settings.queue
        service = JobService(store, queue, task_files=q.task_files, task_mb=q.task_mb, exclude=[settings.data_dir])
        status: JobStatus = service.submit(args.paths, Grant(tuple(args.acl), args.public, tuple(args.tag)),
                                           kind=kind, prune=prune)
        console = Console(stderr=True)
        job_id = status.job.job_id
        if args.no_wait:
            print(json.dumps(status.to_dict()) if args.json else job_id)
            return EXIT_OK
        console.print(f"job {job_id}: {status.job.total_files} files in {status.job.tasks} tasks, queued")
        jobs = JobProgress(console, quiet=args.json).follow(lambda: [service.status(job_id).to_dict()])
    finally:
        queue.close()
    if args.json:
        print(json.dumps(jobs[0], ensure_ascii=False))
    else:
        JobProgress.summary(console, jobs)
    return _job_exit(jobs)


def _ingest_via_server(args: argparse.Namespace) -> int:
    """Upload the files to a running server (one request per folder and batch); it indexes them as jobs."""
    import httpx
    from rich.console import Console

    from ingest.discovery import discover
    from serve.progress import JobProgress

    key = args.key or os.environ.get("DOCENT_API_KEY")
    if not key:
        raise ConfigError("--server needs an admin API key: --key KEY or DOCENT_API_KEY")
    if not args.acl and not args.public:
        raise ConfigError("say who may read the documents: --acl PRINCIPAL and/or --public")
    if args.prune:
        raise ConfigError("--prune needs the server to see the folder: use `docent sync SOURCE --queue`, or "
                          "delete documents with DELETE /v1/documents/{id}")
    console = Console(stderr=True)
    batches: dict[str, list[Path]] = {}
    for root in args.paths:
        root = root.expanduser().resolve()
        for path in discover([root]):
            folder = "" if root.is_file() else str(Path(root.name) / path.parent.relative_to(root))
            batches.setdefault(folder, []).append(path)
    base = args.server.rstrip("/")
    form = {"acl": ",".join(args.acl), "public": str(args.public).lower(), "tags": ",".join(args.tag)}
    job_ids: list[str] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        try:
            for folder, paths in batches.items():
                for start in range(0, len(paths), 20):
                    part = paths[start:start + 20]
                    files = [("files", (p.name, p.read_bytes())) for p in part]
                    response = client.post("/v1/documents", data={**form, "folder": folder}, files=files)
                    _raise_for_server(response)
                    job_ids.append(response.json()["job"]["id"])
            console.print(f"uploaded {sum(map(len, batches.values()))} files to {base} as {len(job_ids)} job(s)")
            if args.no_wait:
                print("\n".join(job_ids))
                return EXIT_OK

            def poll() -> list[dict]:
                statuses = []
                for job_id in job_ids:
                    response = client.get(f"/v1/jobs/{job_id}")
                    _raise_for_server(response)
                    statuses.append(response.json())
                return statuses

            jobs = JobProgress(console, quiet=args.json).follow(poll)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the server at {base}: {exc}") from exc
    if args.json:
        print(json.dumps(jobs, ensure_ascii=False))
    else:
        JobProgress.summary(console, jobs)
    return _job_exit(jobs)


def _raise_for_server(response) -> None:  # noqa: ANN001 - httpx.Response, imported lazily
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise ConfigError(f"the server answered {response.status_code}: {message}")


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """The composition root of a worker process: models and index once, then Celery consumes until SIGTERM."""
    from prometheus_client import CollectorRegistry, start_http_server

    from ingest.jobs.queue import ThreadPipelines
    from serve.components import (make_celery_queue, make_job_store, make_parsers, make_pipeline, make_reaper,
                                  make_runner, start_writer, worker_id)

    if not settings.redis_url:
        raise ConfigError("docent worker takes its jobs from a queue: set DOCENT_REDIS_URL (without one, "
                          "`docent serve` indexes uploads in its own process)")
    q = settings.queue
    concurrency = args.concurrency or q.concurrency
    store = make_job_store(settings)
    store.ping()
    embedder, multilingual, index = start_writer(settings, when_locked=(
        "The embedded index has one writer: `docent serve` runs the queue's tasks itself while it owns it. "
        "Workers in several processes need a Qdrant server (DOCENT_QDRANT__URL)"))
    pipelines = ThreadPipelines(make_pipeline(settings, index=index, embedder=embedder, parsers=None,
                                              multilingual=multilingual),
                                lambda: make_parsers(settings))
    pipelines.base.sparse.start()
    registry = CollectorRegistry()
    if q.metrics_port:
        start_http_server(q.metrics_port, registry=registry)
    queue = make_celery_queue(settings)
    runner = make_runner(settings, store, pipelines, registry)
    reaper = make_reaper(settings, store, queue)
    print(f"docent: worker {worker_id()} ready (concurrency {concurrency}; metrics on :{q.metrics_port})",
          file=sys.stderr, flush=True)
    try:
        queue.run_worker(runner, concurrency=concurrency, loglevel=settings.log_level.upper())
    finally:
        reaper.stop()
        pipelines.close()
        index.close()
    return EXIT_OK


def _slack(settings: Settings) -> int:
    """The composition root of the Socket Mode bot: the answering side of `serve`, then Slack's websocket."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from serve.components import make_answerer, make_slack_bot, start_generator, start_retriever
    from serve.feedback import FeedbackStore

    app_token = settings.slack.app_token
    if not app_token:
        raise ConfigError("docent slack uses Socket Mode: set DOCENT_SLACK__APP_TOKEN (xapp-...) and "
                          "DOCENT_SLACK__BOT_TOKEN (or serve the bot over HTTP with `docent serve`)")
    index, retriever = start_retriever(settings, rerank=True)
    generator = start_generator(settings)
    try:
        bot = make_slack_bot(settings, make_answerer(settings, retriever, generator),
                             FeedbackStore(settings.data_dir / "feedback.sqlite"), socket_mode=True)
        print("docent: Slack bot connecting over Socket Mode", file=sys.stderr, flush=True)
        SocketModeHandler(bot.app, app_token.get_secret_value()).start()
    finally:
        index.close()
        if generator is not None:
            generator.close()
    return EXIT_OK


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
    from answer.answerer import Answer, AskRequest, Delta
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
    assert answer is not None  # (the larger tiers' clients close with the process)
    how = {"generated": f"written by {answer.model}", "extractive": "quoted from the documents (no model)",
           "not_found": "not found in the documents", "chat": "a reply without searching",
           "out_of_scope": "not a question about the documents"}[answer.mode.value]
    if answer.route is not None and answer.route.escalated and answer.mode.value == "generated":
        how += f", handed on by the small model ({', '.join(answer.route.reasons)})"
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
    user, groups = record.principal.user_id, record.principal.groups
    if args.json:
        print(json.dumps({"key": key, "key_id": record.key_id, "user": user, "groups": list(groups),
                          "admin": args.admin}))
    else:
        print(f"{key}\n(key {record.key_id} for user {user!r}, groups {list(groups)}, admin {args.admin}; "
              "it is shown only once)")
    return EXIT_OK


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """The composition root of the server process: models, index and retriever, started once, then uvicorn."""
    import uvicorn

    from serve.app import create_app
    from prometheus_client import CollectorRegistry

    from serve.components import (make_answerer, make_pipeline, make_slack_bot, start_generator, start_jobs,
                                  start_retriever, uploads_dir)
    from serve.feedback import FeedbackStore
    from serve.documents import DocumentService
    from serve.keys import KeyStore
    from serve.ratelimit import RateLimiter

    limits = settings.limits
    with ExitStack() as stack:
        index, retriever = start_retriever(settings, rerank=True)
        stack.callback(index.close)
        generator = start_generator(settings)
        if generator is not None:
            stack.callback(generator.close)
        # Tasks run here when there is no Redis, or when this process owns the embedded index (no other process
        # may write it); with a Qdrant server and Redis they are left to `docent worker`s. A task's parser
        # process starts with the first task: idle, it would hold ~430 MiB (bench/serve.py).
        pipeline = make_pipeline(settings, index=index, embedder=retriever.embedder, parsers=None,
                                 multilingual=retriever.multilingual_embedder)
        pipeline.sparse.start()
        registry = CollectorRegistry()
        runtime = start_jobs(settings, pipeline, registry=registry,
                             consume=not (settings.redis_url and settings.qdrant.url))
        stack.callback(runtime.close)
        answerer = make_answerer(settings, retriever, generator)
        stack.callback(answerer.close)
        feedback = FeedbackStore(settings.data_dir / "feedback.sqlite")
        app = create_app(
            retriever=retriever,
            index=index,
            keys=KeyStore(settings.data_dir / "keys.sqlite"),
            answerer=answerer,
            documents=DocumentService(index, uploads_dir(settings), runtime.service),
            generator=generator,
            limiter=RateLimiter(limits.requests_per_minute, limits.burst),
            auth_failures=RateLimiter(limits.auth_failures_per_minute, limits.auth_failure_burst),
            max_upload_bytes=int(limits.max_upload_mb * 1024 * 1024),
            max_upload_files=limits.max_upload_files,
            anonymous=settings.auth.anonymous,
            jobs=runtime.service,
            max_upload_wait_s=settings.queue.wait_s,
            registry=registry,
            slack=make_slack_bot(settings, answerer, feedback) if settings.slack.bot_token else None,
            feedback=feedback,
        )
        model = generator.model if generator is not None else "none (extractive answers)"
        print(f"docent: serving http://{args.host}:{args.port} (API docs at /docs; generator: {model}; "
              f"anonymous access: {'on' if settings.auth.anonymous else 'off'})", file=sys.stderr, flush=True)
        uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level.lower())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
