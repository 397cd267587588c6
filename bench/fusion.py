"""How to fuse the three lists of a hybrid search, chosen so that it holds on data it was not tuned on.

    python -m bench.fusion [--datasets ../shared/datasets] [--max-queries 300] [--out bench/reports/fusion.json]

Each data set is indexed once (the `docent eval` index, reused between runs). For every query the three lists
a hybrid search fuses are fetched separately, 200 chunks deep with their raw scores: the main dense model, the
multilingual dense model and BM25. Every fusion rule is then scored on the same lists (nDCG@10 of documents
ranked by their best chunk), and the choice is checked leave-one-set-out: for each set, the rule that is best
on the *other* sets is scored on it. The rule Docent uses is `retrieval.fusion`'s; the others are the
alternatives it was measured against.
"""

from __future__ import annotations

import argparse
import json
import os
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from bench.common import CACHE, DATASETS, FACTS, FACTS_CROSSLINGUAL, REPORTS, SAMPLE_DOCS, write_json
from retrieval.access import ALL_ACCESS
from retrieval.evaluation import load_beir, load_golden, ndcg_at
from retrieval.fusion import Candidate, Fusion, RankedList, fuse
from retrieval.index import DENSE, DENSE_MULTI, IndexQuery
from retrieval.terms import detect_language
from serve.evaluate import _eval_retriever
from serve.settings import Settings

DEPTH = 200


def collect(
    settings: Settings, name: str, dataset: Path, queries: Path | None, max_queries: int, console: Console
) -> list[dict]:
    """Per query: its language, its relevant ids and the three raw lists (id, chunk language, score)."""
    golden = queries is not None
    eval_set = load_golden(dataset, queries) if golden else load_beir(dataset, max_queries=max_queries)
    args = SimpleNamespace(dataset=str(dataset), json=False)
    with ExitStack() as stack:
        retriever = _eval_retriever(settings, args, eval_set, golden, stack, console, rerank=False)
        rows = []
        for query in eval_set.queries[:max_queries]:
            text = query.text
            lists = {}
            for key, vector, embedder in (
                ("dense", DENSE, retriever.embedder),
                ("multi", DENSE_MULTI, retriever.multilingual_embedder),
            ):
                hits = retriever.index.search(
                    IndexQuery(limit=DEPTH, dense=embedder.embed_query(text), dense_vector=vector, access=ALL_ACCESS)
                )
                lists[key] = [(h.id, h.source if golden else h.document_id, h.language, h.score) for h in hits]
            hits = retriever.index.search(
                IndexQuery(limit=DEPTH, sparse=retriever.sparse.encode_query(text), access=ALL_ACCESS)
            )
            lists["sparse"] = [(h.id, h.source if golden else h.document_id, h.language, h.score) for h in hits]
            rows.append({"language": detect_language(text), "relevant": query.relevant, "lists": lists})
    return rows


def score(rows: list[dict], rule: Fusion, sides: dict[str, tuple[frozenset[str], bool]]) -> float:
    """Mean nDCG@10 of `rule` fusing the lists named in `sides` (name → the languages its model knows)."""
    total = 0.0
    for row in rows:
        document = {}
        lists = []
        for name, (languages, crosses) in sides.items():
            candidates = []
            for key, doc, lang, s in row["lists"][name]:
                document[key] = doc
                candidates.append(Candidate(key, lang, s))
            lists.append(RankedList(name, candidates, languages, crosses))
        if len(lists) == 1:  # one side alone: its own ranking (what `docent eval` reports for that mode)
            ranked = [c.key for c in lists[0].candidates if lists[0].judges(row["language"], c.language)]
        else:
            ranked = [c.key for c in fuse(lists, query_language=row["language"], rule=rule)]
        total += ndcg_at([document[key] for key in ranked], row["relevant"], 10)
    return round(total / len(rows), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--max-queries", type=int, default=300)
    parser.add_argument("--sets", default="scifact,cmrc2018,xquad-zh2en,xquad-en2zh,golden,golden-crosslingual")
    parser.add_argument("--cache", type=Path, default=CACHE / "fusion")
    parser.add_argument("--out", type=Path, default=REPORTS / "fusion.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before the first model loads
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    console = Console(stderr=True)
    settings = Settings(data_dir=args.cache)
    golden = {"golden": FACTS, "golden-crosslingual": FACTS_CROSSLINGUAL}
    data = {}
    for name in args.sets.split(","):
        cached = args.cache / f"lists-{name}-{args.max_queries}.json"
        if cached.exists():
            data[name] = json.loads(cached.read_text())
            continue
        dataset = SAMPLE_DOCS if name in golden else args.datasets / name
        data[name] = collect(settings, name, dataset, golden.get(name), args.max_queries, console)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(data[name]))
    everything = (frozenset(), True)
    # MiniLM knows English only; BM25 matches words, so it knows every language but cannot cross between them.
    sides = {"dense": (frozenset({"en"}), False), "multi": everything, "sparse": (frozenset(), False)}
    # A stress test for the fusion alone, like a held-out set where one side is far weaker than the other:
    # CMRC2018 with only MiniLM (which knows little Chinese) and BM25, and no language rule to drop MiniLM.
    stress = {"cmrc2018~weak-dense": ("cmrc2018", {"dense": everything, "sparse": everything})}
    table = {}
    for rule in Fusion:
        table[rule.value] = {name: score(rows, rule, sides) for name, rows in data.items()}
        for name, (base, its_sides) in stress.items():
            if base in data:
                table[rule.value][name] = score(data[base], rule, its_sides)
    for side in sides:  # each side alone, for the "hybrid is at least its better half" check
        table[f"{side} alone"] = {name: score(rows, Fusion.DBSF, {side: sides[side]}) for name, rows in data.items()}
    table["dense alone"]["cmrc2018~weak-dense"] = (
        score(data["cmrc2018"], Fusion.DBSF, {"dense": everything}) if "cmrc2018" in data else float("nan")
    )
    table["sparse alone"]["cmrc2018~weak-dense"] = table["sparse alone"].get("cmrc2018", float("nan"))
    data.update({name: [] for name, (base, _) in stress.items() if base in data})
    held_out = {}
    for name in data:
        others = [n for n in data if n != name]
        best = max(Fusion, key=lambda r: sum(table[r][n] for n in others) / len(others))
        held_out[name] = {"chosen_on_others": best.value, "ndcg@10": table[best][name]}
    report = {"depth": DEPTH, "max_queries": args.max_queries, "ndcg@10": table, "leave_one_set_out": held_out}
    write_json(args.out, report)
    names = list(data)
    print(f"{'rule':28}" + "".join(f"{n[:13]:>14}" for n in names) + f"{'mean':>8}")
    for rule in table:
        values = [table[rule].get(n, float("nan")) for n in names]
        print(f"{rule:28}" + "".join(f"{v:14.3f}" for v in values) + f"{sum(values) / len(values):8.3f}")
    for name, choice in held_out.items():
        print(f"held out {name}: {choice['chosen_on_others']} -> {choice['ndcg@10']}")


if __name__ == "__main__":
    main()
