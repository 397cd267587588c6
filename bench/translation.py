"""Does translating the question help retrieval across languages? Measured before it can be a default.

    python -m bench.translation [--datasets ../shared/datasets] [--max-queries 300] [--model-url URL --model NAME]
                                [--data-dir bench/.cache/fusion] [--out bench/reports/translation.json]

`SearchRequest.translation` gives BM25 the question in the other language, as a list of its own. What it can
add at best is measured with *perfect* translations, which these sets have: XQuAD's questions exist in both
languages (the Chinese question of xquad-zh2en is a translation of the English question of xquad-en2zh, same
id), and examples/facts-crosslingual.json asks each question of examples/facts.json in the other language, in
the same order. Three modes per set, side by side on the same index:

- hybrid              today's search (the multilingual vector carries the question across languages)
- hybrid+oracle       plus BM25 on the human translation: the ceiling of any translating model
- hybrid+model        plus BM25 on what the model at --model-url writes, through `QueryTranslator` as answers
                      use it (with its check that the reply means the question); only with --model-url

nDCG@10 with Docent's own evaluation (`retrieval.evaluation`), on the indexes `docent eval` builds (cached).
"""

from __future__ import annotations

import argparse
import os
import time
from argparse import Namespace
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bench.common import CACHE, DATASETS, FACTS, FACTS_CROSSLINGUAL, REPORTS, SAMPLE_DOCS, write_json
from retrieval.access import ALL_ACCESS
from retrieval.evaluation import EvalSet, evaluate, load_beir, load_golden
from retrieval.search import Mode, Retriever, SearchRequest
from serve.evaluate import EVAL_DEPTH_CHUNKS, _eval_retriever, _translator
from serve.settings import Settings

if TYPE_CHECKING:
    from answer.translation import QueryTranslator


def oracle_beir(datasets: Path, name: str, parallel: str, limit: int) -> tuple[EvalSet, dict[str, str]]:
    eval_set = load_beir(datasets / name, max_queries=limit)
    other = {q.query_id: q.text for q in load_beir(datasets / parallel).queries}
    return eval_set, {q.text: other[q.query_id] for q in eval_set.queries if q.query_id in other}


def oracle_golden(limit: int) -> tuple[EvalSet, dict[str, str]]:
    docs = SAMPLE_DOCS
    crossing = load_golden(docs, FACTS_CROSSLINGUAL)
    original = load_golden(docs, FACTS)
    pairs = {q.text: o.text for q, o in zip(crossing.queries, original.queries, strict=False)}
    return EvalSet(crossing.name, crossing.corpus, crossing.queries[:limit]), pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--max-queries", type=int, default=300)
    parser.add_argument("--model-url", help="an OpenAI-compatible server to translate with (hybrid+model)")
    parser.add_argument("--model", default="", help="its model name")
    parser.add_argument("--data-dir", type=Path, default=CACHE / "fusion")
    parser.add_argument("--out", type=Path, default=REPORTS / "translation.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    console = Console(stderr=True)
    sets = {
        "xquad-zh2en": lambda: oracle_beir(args.datasets, "xquad-zh2en", "xquad-en2zh", args.max_queries),
        "xquad-en2zh": lambda: oracle_beir(args.datasets, "xquad-en2zh", "xquad-zh2en", args.max_queries),
        "golden-crosslingual": lambda: oracle_golden(args.max_queries),
    }
    llm = {"base_url": args.model_url, "model": args.model, "read_timeout_s": 60} if args.model_url else {}
    settings = Settings(data_dir=args.data_dir, llm=llm)
    report: dict[str, object] = {"max_queries": args.max_queries, "model": args.model or None, "sets": {}}
    started = time.perf_counter()
    for name, load in sets.items():
        eval_set, oracle = load()
        golden = name.startswith("golden")
        dataset = SAMPLE_DOCS if golden else args.datasets / name
        namespace = Namespace(dataset=str(dataset), json=True)
        with ExitStack() as stack:
            retriever = _eval_retriever(settings, namespace, eval_set, golden, stack, console, rerank=False)
            translator = _translator(settings, retriever.multilingual_embedder) if args.model_url else None
            if translator is not None:
                translator.turn_s = 60.0  # a CPU model's turn; the measure is quality, not latency
            written: dict[str, str | None] = {}

            # The loop's values bound as defaults: `evaluate` calls `search` within this iteration only.
            def search(
                mode: str,
                text: str,
                oracle: dict[str, str] = oracle,
                written: dict[str, str | None] = written,
                translator: QueryTranslator | None = translator,
                retriever: Retriever = retriever,
                golden: bool = golden,
            ) -> list[str]:
                translation = None
                if mode == "hybrid+oracle":
                    translation = oracle.get(text)
                elif mode == "hybrid+model":
                    if text not in written:
                        written[text] = translator.translate(text)
                    translation = written[text]
                request = SearchRequest(text, ALL_ACCESS, mode=Mode.HYBRID, translation=translation)
                hits, _ = retriever.hits(request, limit=EVAL_DEPTH_CHUNKS)
                return [h.hit.source if golden else h.hit.document_id for h in hits]

            modes = ["hybrid", "hybrid+oracle"] + (["hybrid+model"] if translator is not None else [])
            with console.status(f"{name}: {len(eval_set.queries)} queries × {len(modes)} modes"):
                result = evaluate(eval_set, search, modes, k=10).to_dict()
        entry = {
            "queries": len(eval_set.queries),
            "ndcg@10": {r["mode"]: r["ndcg@10"] for r in result["results"]},
            "report": result,
        }
        if translator is not None:
            entry["model_translations_usable"] = sum(t is not None for t in written.values())
            entry["model_examples"] = [[q, t] for q, t in list(written.items())[:5]]
        report["sets"][name] = entry
        console.print(f"{name}: {entry['ndcg@10']}")
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
