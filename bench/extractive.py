"""Choose the extractive answer's sentence rule: which sentences of the retrieved passages contain the answer.

    python -m bench.extractive [--data-dir bench/.cache/extractive] [--out bench/reports/extractive.json]

The sample docs are indexed once (`docent ingest`, into --data-dir); each question of examples/facts.json and of
its cross-lingual twin is searched once through the real `Answerer` (same passages as `/v1/ask`), and every
variant of `answer.extractive` (its weights, how many sentences, with and without the multilingual model, and the
term-overlap rule it replaced) picks sentences from the same passages. Scored by containment (the expected
answer inside the quoted sentences, citations removed), per golden file and question language.

Chosen: the variant with the best worst cell (file × language), ties to the shorter answer; its numbers when
chosen on one file and checked on the other (two folds) are reported beside it, so a rule that only fits one
file shows. Sentence vectors are cached per run: the grid costs no more model time than one pass.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import subprocess
import time
from pathlib import Path

import numpy as np

import answer.extractive as extractive
from answer.answerer import AskRequest
from answer.evaluation import contains
from bench.common import CACHE, DOCENT, FACTS, FACTS_CROSSLINGUAL, REPORTS, ROOT, SAMPLE_DOCS, docent_env, write_json
from retrieval.access import ALL_ACCESS
from retrieval.sentences import split_sentences
from retrieval.terms import terms
from serve.components import make_answerer, start_retriever
from serve.settings import Settings

FILES = {"facts": FACTS, "crosslingual": FACTS_CROSSLINGUAL}


class CachedEmbedder:
    """The multilingual model with a memo: every variant embeds the same sentences."""

    def __init__(self, model) -> None:
        self.model, self.cache = model, {}

    def embed_query(self, text: str) -> np.ndarray:
        if ("q", text) not in self.cache:
            self.cache["q", text] = self.model.embed_query(text)
        return self.cache["q", text]

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if ("d", t) not in self.cache]
        if missing:
            for text, vector in zip(missing, self.model.embed_documents(missing), strict=False):
                self.cache["d", text] = vector
        return np.vstack([self.cache["d", t] for t in texts])


def term_overlap(question: str, passages) -> str:
    wanted = set(terms(question))
    candidates = [
        (rank, s.strip(), set(terms(s)))
        for rank, p in enumerate(passages, 1)
        for s in split_sentences(p.text)
        if s.strip()
    ]
    if not wanted or not candidates:
        return ""
    df = {t: sum(t in words for _, _, words in candidates) for t in wanted}
    n = len(candidates)
    scored = sorted(
        (
            (sum(math.log(1 + n / df[t]) for t in wanted & w) / (1 + 0.1 * (r - 1)), i)
            for i, (r, _, w) in enumerate(candidates)
        ),
        key=lambda x: -x[0],
    )
    return " ".join(candidates[i][1] for s, i in sorted(scored[:3], key=lambda x: x[1]) if s > 0)


def questions(settings: Settings) -> list[dict]:
    """Every golden question with the passages the answerer retrieves for it."""
    index, retriever = start_retriever(settings, rerank=False)
    answerer = make_answerer(settings, retriever, None)
    items = []
    for name, path in FILES.items():
        for fact in json.loads(path.read_text(encoding="utf-8")):
            request = AskRequest(fact["question"], ALL_ACCESS, extractive=True)
            _plan, result, _ = answerer._prepare(request, answerer.deadline())
            items.append({**fact, "set": name, "relevant": answerer.relevant(result), "passages": result.passages})
    return items, retriever, index


def score_variant(items: list[dict], answer_of) -> dict[str, object]:
    cells: dict[str, list[float]] = {}
    lengths = []
    for item in items:
        text = answer_of(item["question"], item["passages"]) if item["relevant"] else ""
        text = re.sub(r"\s*\[\d{1,3}\]", "", text)
        lengths.append(len(text))
        cells.setdefault(f"{item['set']}/{item['language']}", []).append(contains(text, [item["answer"]]))
    scores = {k: round(sum(v) / len(v), 3) for k, v in sorted(cells.items())}
    return {"containment": scores, "worst": min(scores.values()), "mean_chars": round(sum(lengths) / len(lengths))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=CACHE / "extractive")
    parser.add_argument("--out", type=Path, default=REPORTS / "extractive.json")
    args = parser.parse_args()
    env = docent_env(args.data_dir)
    subprocess.run([*DOCENT, "ingest", str(SAMPLE_DOCS), "--public"], env=env, check=True, cwd=ROOT)
    settings = Settings(data_dir=args.data_dir)
    items, retriever, index = questions(settings)
    embed = CachedEmbedder(retriever.multilingual_embedder)
    chosen = (extractive.DENSE_WEIGHT, dict(extractive.WANTED_KIND_BONUS), extractive.RANK_PENALTY)
    started = time.perf_counter()
    variants = {"term_overlap (before)": score_variant(items, term_overlap)}
    variants["chosen, no multilingual model"] = score_variant(
        items, lambda q, p: extractive.extract(q, p, embed=None).text
    )
    grid = itertools.product([0.25, 0.5, 1.0], [0.0, 0.5, 1.0], [0.0, 0.25, 0.5, 1.0], [1, 2, 3])
    for dense, kind, rank, sentences in grid:
        extractive.DENSE_WEIGHT, extractive.RANK_PENALTY = dense, rank
        extractive.WANTED_KIND_BONUS = {"quantity": kind, "name": kind / 2}
        name = f"dense {dense}, kind {kind}, rank {rank}, {sentences} sentences"
        variants[name] = score_variant(
            items, lambda q, p, n=sentences: extractive.extract(q, p, embed=embed, max_sentences=n).text
        )
    extractive.DENSE_WEIGHT, extractive.WANTED_KIND_BONUS, extractive.RANK_PENALTY = chosen
    index.close()

    def best(names: list[str], cells: list[str]) -> str:
        return max(names, key=lambda n: (min(variants[n]["containment"][c] for c in cells), -variants[n]["mean_chars"]))

    grid_names = [n for n in variants if n.startswith("dense ")]
    all_cells = list(variants[grid_names[0]]["containment"])
    folds = {}
    for tuned, checked in (("facts", "crosslingual"), ("crosslingual", "facts")):
        pick = best(grid_names, [c for c in all_cells if c.startswith(tuned)])
        folds[f"tuned on {tuned}"] = {
            "variant": pick,
            "checked on " + checked: {c: v for c, v in variants[pick]["containment"].items() if c.startswith(checked)},
        }
    report = {
        "questions": len(items),
        "relevant": sum(i["relevant"] for i in items),
        "seconds": round(time.perf_counter() - started, 1),
        "shipped": f"dense {chosen[0]}, kind {chosen[1]['quantity']}, rank {chosen[2]}, 2 sentences",
        "best_worst_cell": best(grid_names, all_cells),
        "folds": folds,
        "variants": variants,
    }
    write_json(args.out, report)
    for name in [
        "term_overlap (before)",
        "chosen, no multilingual model",
        report["shipped"],
        report["best_worst_cell"],
    ]:
        print(f"{name:55s} {variants[name]}")
    print(json.dumps(folds, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
