"""`docent eval`: index a data set into a throwaway index, run its queries in each search mode, report quality.

The index lives in `<data_dir>/eval/<name>-<hash of the data set's path and models>/` and is reused: the ingest
pipeline's revision check skips documents that are already there, so a second run embeds nothing. Documents are
ranked by their best chunk, through the same `Retriever` as every other caller, with administrative access.

With `--answers` it measures answers on a QA set instead (`run_answer_eval`, scored by `answer.evaluation`):
the same throwaway index, then each question asked of the small model, the large one and the routed pair.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.documents import ParsedDocument
from ingest.parsing import text_blocks
from ingest.pipeline import TextDocument
from retrieval.access import ALL_ACCESS
from retrieval.edge_index import EdgeIndex
from retrieval.errors import ConfigError, PathNotFoundError
from retrieval.evaluation import EvalSet, evaluate, load_beir, load_beir_corpus, load_golden
from retrieval.search import Mode, Retriever, SearchRequest
from serve.cli import exits
from serve.settings import Settings

# Chunks fetched per query: enough distinct documents for recall@100 in every mode.
EVAL_DEPTH_CHUNKS = 200
TRANSLATED = "hybrid+translation"  # the mode label of `--translate`
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def run_eval(settings: Settings, args: argparse.Namespace) -> int:
    modes = [Mode(m.strip()) for m in args.modes.split(",") if m.strip()]
    console = Console(stderr=True)
    golden = args.queries is not None
    eval_set = _load_set(args, golden)
    translate = getattr(args, "translate", False)
    if translate and not settings.llm.base_url:
        raise ConfigError(
            "--translate needs a model server (the embedded CPU model cannot translate): set DOCENT_LLM__BASE_URL"
        )
    translations: dict[str, str | None] = {}
    with ExitStack() as stack:
        retriever = _eval_retriever(settings, args, eval_set, golden, stack, console, rerank=Mode.RERANK in modes)
        translator = _translator(settings, retriever.multilingual_embedder) if translate else None

        def search(mode: str, text: str) -> list[str]:
            translation = None
            if mode == TRANSLATED:  # the hybrid search, its BM25 side also given the model's translation
                assert translator is not None
                if text not in translations:
                    translations[text] = translator.translate(text)
                mode, translation = Mode.HYBRID.value, translations[text]
            request = SearchRequest(text, ALL_ACCESS, mode=Mode(mode), translation=translation)
            hits, _ = retriever.hits(request, limit=EVAL_DEPTH_CHUNKS)
            return [h.hit.source if golden else h.hit.document_id for h in hits]

        retriever.hits(SearchRequest("warm up", ALL_ACCESS), limit=1)
        names = [m.value for m in modes] + ([TRANSLATED] if translator is not None else [])
        total = len(names) * len(eval_set.queries)
        with _bar(console, "searching", args.json) as progress:
            task = progress.add_task("search", total=total)
            result = evaluate(eval_set, search, names, k=args.k, progress=lambda n: progress.update(task, completed=n))
    if translator is not None:
        usable = sum(t is not None for t in translations.values())
        note = f"translations: {usable} of {len(translations)} queries got a usable one"
        examples = [(q, t) for q, t in translations.items() if t is not None][:3]
        if args.json:
            data = result.to_dict()
            data["translations"] = {"usable": usable, "queries": len(translations), "examples": examples}
            print(json.dumps(data, ensure_ascii=False))
            return exits.OK
        console.print(note + "".join(f"\n  {q} → {t}" for q, t in examples))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return exits.OK
    table = Table(title=f"{result.dataset}: {result.queries} queries")
    for column in result.columns():
        table.add_column(column, justify="left" if column == "mode" else "right")
    for row in result.rows():
        table.add_row(*row)
    Console().print(table)
    return exits.OK


def _translator(settings: Settings, multilingual):
    """The model server's translator, as answers use it; the embedded CPU model cannot translate."""
    from answer.routing import AnswerChecks
    from answer.translation import QueryTranslator
    from serve.components import make_generator

    return QueryTranslator(make_generator(settings), embed=multilingual, min_cosine=AnswerChecks().min_cosine_across)


def _load_set(args: argparse.Namespace, golden: bool) -> EvalSet:
    dataset = Path(args.dataset).resolve()
    if not dataset.is_dir():
        raise PathNotFoundError(f"{args.dataset} is not a folder")
    eval_set = load_golden(dataset, args.queries) if golden else load_beir(dataset, max_queries=args.max_queries)
    if golden and args.max_queries:
        eval_set = EvalSet(eval_set.name, eval_set.corpus, eval_set.queries[: args.max_queries])
    return eval_set


def _eval_retriever(
    settings: Settings,
    args: argparse.Namespace,
    eval_set: EvalSet,
    golden: bool,
    stack: ExitStack,
    console: Console,
    *,
    rerank: bool,
) -> Retriever:
    """The data set indexed into its throwaway embedded index (reused across runs), and a retriever over it."""
    from serve.components import (
        index_spec,
        make_embedder,
        make_multilingual_embedder,
        make_parsers,
        make_pipeline,
        make_reranker,
        make_retriever,
    )

    dataset = Path(args.dataset).resolve()
    embedder = make_embedder(settings)
    multilingual = make_multilingual_embedder(settings)
    reranker = make_reranker(settings) if rerank else None
    if rerank and reranker is None:
        raise ConfigError("the rerank mode needs a cross-encoder: set DOCENT_RETRIEVAL__RERANK_MODEL")
    with console.status("loading the models…"):
        embedder.start()
        if multilingual is not None:
            multilingual.start()
        if reranker is not None:
            reranker.start()
    # Always the embedded store: the evaluation index is throwaway, even when a Qdrant server is configured.
    index = EdgeIndex(
        _eval_dir(settings, dataset), index_spec(settings, embedder.dimension, multilingual, collection="eval")
    )
    index.start()
    stack.callback(index.close)
    parsers = make_parsers(settings) if golden else None
    if parsers is not None:
        parsers.start()
        stack.callback(parsers.close)
        parsers.wait_ready()
    pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual)
    pipeline.sparse.start()
    with _bar(console, "indexing", args.json) as progress:
        task = progress.add_task("index", total=len(eval_set.corpus) or None)
        tick = lambda done: progress.update(task, advance=1)  # noqa: E731
        if golden:
            report = pipeline.run([dataset], public=True, on_file=tick)
        else:
            report = pipeline.run_parsed(
                (_text_document(eval_set.name, d) for d in eval_set.corpus), public=True, on_file=tick
            )
    if not args.json:
        console.print(
            f"index: {report.indexed} documents indexed ({report.chunks} chunks), "
            f"{report.unchanged} unchanged, {len(report.failed)} failed, {report.seconds:.0f} s"
        )
    return make_retriever(settings, index=index, embedder=embedder, multilingual=multilingual, reranker=reranker)


def run_answer_eval(settings: Settings, args: argparse.Namespace) -> int:
    """`docent eval DATASET --answers`: answer accuracy of small-only, large-only and routed on a QA set."""
    from answer.answerer import Answerer, AskRequest
    from answer.evaluation import (
        TABLE_COLUMNS,
        evaluate_answers,
        load_beir_answers,
        load_golden_answers,
        table_rows,
        tier_lines,
    )
    from answer.routing import NO_CHECKS, EscalationBudget
    from serve.components import make_answerer, start_generator

    console = Console(stderr=True)
    golden = args.queries is not None
    dataset = Path(args.dataset).resolve()
    if not dataset.is_dir():
        raise PathNotFoundError(f"{args.dataset} is not a folder")
    items = (
        load_golden_answers(args.queries, args.max_queries) if golden else load_beir_answers(dataset, args.max_queries)
    )
    # Only the corpus is needed from the retrieval set (the questions come with their answers; no qrels needed).
    eval_set = load_golden(dataset, args.queries) if golden else EvalSet(dataset.name, load_beir_corpus(dataset), [])
    if settings.answer.mode == "extractive":
        raise ConfigError("docent eval --answers measures the models: unset DOCENT_ANSWER__MODE=extractive")
    with ExitStack() as stack:
        retriever = _eval_retriever(
            settings, args, eval_set, golden, stack, console, rerank=bool(settings.retrieval.rerank_model)
        )
        with console.status("loading the model…"):
            small = start_generator(settings)
        assert small is not None
        stack.callback(small.close)
        default = make_answerer(settings, retriever, small)
        stack.callback(default.close)
        default.budget = EscalationBudget(None, None)  # every due escalation happens: the policy is measured
        wanted = (
            [c.strip() for c in args.configs.split(",") if c.strip()]
            if args.configs
            else (
                ["small", "large", "routed", "extractive", "default"]
                if default.routing
                else ["small", "extractive", "default"]
            )
        )
        unknown = set(wanted) - set(CONFIGURATIONS)
        if unknown:
            raise ConfigError(f"unknown configuration(s) {sorted(unknown)}: choose from {', '.join(CONFIGURATIONS)}")
        if not default.routing and {"large", "routed"} & set(wanted):
            raise ConfigError("the large and routed configurations need a larger tier: set DOCENT_ROUTING__TIERS")
        answerers = {
            "small": _single_tier(default, 0),
            "large": _single_tier(default, 1) if default.routing else None,
            "routed": replace_checks(default, NO_CHECKS),
            "extractive": Answerer(retriever, None, default.options, planner=default.planner),
            "default": default,
        }

        def asker(answerer):
            return lambda question: answerer.answer(AskRequest(question, ALL_ACCESS, caller="eval"))

        configurations = {name: asker(answerers[name]) for name in wanted}
        with _bar(console, "answering", args.json) as progress:
            task = progress.add_task("answer", total=len(items) * len(configurations))
            results = evaluate_answers(items, configurations, progress=lambda n: progress.update(task, completed=n))
    report = {
        "dataset": dataset.name,
        "questions": len(items),
        "tiers": {t.name: t.generator.model for t in default.tiers},
        "planner": type(default.planner).__name__,
        "policy": asdict(default.policy),
        "checks": asdict(default.checks),
        "configurations": [r.to_dict(with_answers=bool(args.report)) for r in results],
    }
    if args.report:
        Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps({**report, "configurations": [r.to_dict() for r in results]}, ensure_ascii=False))
        return exits.OK
    table = Table(
        title=f"{dataset.name}: {len(items)} questions; " + ", ".join(f"{k} = {v}" for k, v in report["tiers"].items())
    )
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="left" if column in {"config", "tier mean/p95 ms"} else "right")
    for row in table_rows(results):
        table.add_row(*row)
    Console().print(table)
    out = Console()
    out.print("generation per tier: " + "; ".join(tier_lines(results)))
    for r in results:
        if r.reasons:
            out.print(f"{r.name}: escalation reasons " + ", ".join(f"{k} {v}" for k, v in r.reasons.items()))
    return exits.OK


# `docent eval --answers` configurations: one tier's model alone (its answers as written), the routed tiers
# without the extractive rung, no model at all, and whatever the settings give (the whole ladder).
CONFIGURATIONS = ("small", "large", "routed", "extractive", "default")


def _single_tier(answerer, number: int):
    """The same answerer (planner, retrieval, options) with one tier only and no checks: the model's own answers."""
    from answer.answerer import Answerer
    from answer.routing import NO_CHECKS

    return Answerer(
        answerer.retriever,
        None,
        answerer.options,
        tiers=[answerer.tiers[number]],
        planner=answerer.planner,
        policy=answerer.policy,
        checks=NO_CHECKS,
    )


def replace_checks(answerer, checks):
    """The same answerer with other answer checks (its tiers, planner, policy and budget)."""
    from answer.answerer import Answerer

    return Answerer(
        answerer.retriever,
        None,
        answerer.options,
        tiers=answerer.tiers,
        planner=answerer.planner,
        policy=answerer.policy,
        budget=answerer.budget,
        checks=checks,
    )


def _eval_dir(settings: Settings, dataset: Path) -> Path:
    """One index per data set and model pair, so switching the multilingual model does not clash with an old index."""
    key = f"{dataset}|{settings.embedding.model}|{settings.embedding.multilingual_model}"
    return settings.data_dir / "eval" / f"{dataset.name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _text_document(name: str, doc) -> TextDocument:
    """A corpus entry as a parsed document: its title, and its text read like a plain-text file."""
    content_hash = hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()
    parsed = ParsedDocument(title=doc.title, doc_type="txt", blocks=text_blocks(doc.text))
    return TextDocument(doc.doc_id, f"/{name}/{doc.doc_id}", parsed, content_hash, EPOCH)


def _bar(console: Console, label: str, quiet: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    )


def run_feedback(settings: Settings, args: argparse.Namespace) -> int:
    """The votes on answers (the Slack bot's and the web page's): a summary, the up-voted questions as a golden
    set (the shape of `--queries`, with the cited files as relevant) and the down-voted ones to review, with the
    channel each came from and the voter's comment."""
    from serve.composition import command

    with command(settings) as process:
        votes = process.feedback().votes(limit=100_000)
    if not votes:
        raise PathNotFoundError("no feedback yet: no answer has a vote")
    up = [v for v in votes if v["vote"] == "up"]
    down = [v for v in votes if v["vote"] == "down"]
    golden = [
        {"question": v["question"], "files": sorted({s["source"] for s in v["sources"]}), "answer": v["answer"]}
        for v in up
        if v["sources"]
    ]
    review = [
        {
            "question": v["question"],
            "answer": v["answer"],
            "mode": v["mode"],
            "user": v["user"],
            "channel": v["channel"],
            "comment": v.get("comment"),
        }
        for v in down
    ]
    by_mode: dict[str, dict[str, int]] = {}
    for v in votes:
        by_mode.setdefault(v["mode"], {"up": 0, "down": 0})[v["vote"]] += 1
    summary = {
        "votes": len(votes),
        "up": len(up),
        "down": len(down),
        "helpful": round(len(up) / len(votes), 3) if votes else None,
        "by_mode": by_mode,
    }
    if args.json:
        print(json.dumps({"summary": summary, "golden": golden, "review": review}, ensure_ascii=False))
        return exits.OK
    console = Console()
    console.print(
        f"{summary['votes']} votes: {summary['up']} 👍, {summary['down']} 👎"
        + (f" ({summary['helpful']:.0%} helpful)" if votes else "")
    )
    for mode, counts in sorted(by_mode.items()):
        console.print(f"  {mode}: {counts['up']} 👍, {counts['down']} 👎")
    if review:
        console.print("\nTo review (👎):")
        for item in review:
            console.print(f"  - {escape(item['question'])}  [dim]({escape(item['channel'])})[/dim]", highlight=False)
            if item["comment"]:
                console.print(f"      “{item['comment']}”", markup=False, highlight=False)
    console.print(
        f"\nGolden set from 👍 answers ({len(golden)}; save with --json and pass its `golden` list "
        "to `docent eval FOLDER --queries`):"
    )
    for item in golden:
        console.print(f"  - {item['question']}  ->  {', '.join(item['files'])}")
    return exits.OK
