"""Choose when an answer written in one language is supported by passages written in the other.

    python -m bench.support [--datasets ../shared/datasets] [--out bench/reports/support.json]

Within one language, a generated sentence is supported when its terms overlap a passage's (answer.grounding).
Across languages no term is shared, so the answering ladder asks the multilingual model instead: a sentence is
supported when its cosine to some sentence of the passages reaches `answer.routing.AnswerChecks.min_cosine_across`.
This chooses that threshold on XQuAD, whose paragraphs exist in both languages, sentence for sentence:

- supported: the sentence of the question-language paragraph that holds the answer (what a model that
  translates well writes), against the sentences of the document-language paragraph plus two other paragraphs
  of the same article (what retrieval hands the model);
- supported, short: the same sentence cut to the answer and a few words around it (a model's answer is
  shorter than the document's sentence: "The port is 8443.");
- unsupported: the question-language sentence most like the question (by the same model) among the article's
  *other* paragraphs — on topic, plausible, and not in the passages: what a model that invents writes.

Both directions (a Chinese answer over English passages, an English one over Chinese), one threshold for both:
the one whose worse direction has the best balanced accuracy (the mean of supported kept and invented caught);
chosen on one direction and checked on the other, beside it, to show what a threshold fitted to one costs. Data
from ../shared (not used by any test).

`shipped_with_invented_names` adds the names rule of `answer.grounding.invented_facts` (a name that is in no
passage nor the question fails the answer) on every sentence, and on those that are not close translations
(`AnswerChecks.min_cosine_translation`): what it costs on faithful translations, whose names the other
language may write differently, and what more it catches.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from answer.evaluation import load_beir_answers
from answer.grounding import unknown_names
from bench.common import DATASETS, REPORTS, percentiles, write_json
from retrieval.embedding import UniversalSentenceEncoder
from retrieval.evaluation import load_beir, load_beir_corpus
from retrieval.sentences import split_sentences

DIRECTIONS = {"zh2en": ("xquad-zh2en", "xquad-en2zh"), "en2zh": ("xquad-en2zh", "xquad-zh2en")}


class Sentences:
    """Each paragraph's sentences and their vectors, embedded once."""

    def __init__(self, model: UniversalSentenceEncoder, corpus: dict[str, str]) -> None:
        self.of = {pid: [s.strip() for s in split_sentences(text) if s.strip()] for pid, text in corpus.items()}
        flat = [s for sentences in self.of.values() for s in sentences]
        vectors = model.embed_documents(flat)
        self.vectors, at = {}, 0
        for pid, sentences in self.of.items():
            self.vectors[pid] = vectors[at : at + len(sentences)]
            at += len(sentences)


def pairs(
    datasets: Path, direction: str, model: UniversalSentenceEncoder, limit: int
) -> list[tuple[float, bool, bool]]:
    """(best cosine against the passages, supported, names known) for each question's true and invented answer
    sentence; "names known": every name the sentence carries is written in the passages or the question
    (`answer.grounding.unknown_names`: `invented_facts` fails a sentence with a name in no passage, in any
    language, so a faithful translation that transliterates a name is replaced by the quotes too)."""
    docs_set, parallel_set = DIRECTIONS[direction]
    docs = {d.doc_id: d.text for d in load_beir_corpus(datasets / docs_set)}
    parallel = {d.doc_id: d.text for d in load_beir_corpus(datasets / parallel_set)}
    asked = load_beir(datasets / docs_set).queries  # XQuAD: one relevant paragraph per question
    queries = {q.query_id: q.text for q in asked}
    relevant = {q.query_id: next(iter(q.relevant)) for q in asked}
    answers = {a.query_id: list(a.answers) for a in load_beir_answers(datasets / docs_set)}
    doc_sentences, own_sentences = Sentences(model, docs), Sentences(model, parallel)
    article = defaultdict(list)
    for pid in docs:
        article[pid.split("p")[0]].append(pid)
    found: list[tuple[float, bool, bool]] = []
    for qid in list(queries)[:limit]:
        pid = relevant.get(qid)
        if pid is None or pid not in parallel:
            continue
        siblings = [p for p in article[pid.split("p")[0]] if p != pid]
        retrieved, elsewhere = [pid, *siblings[:2]], siblings[2:]
        truth = [i for i, s in enumerate(own_sentences.of[pid]) if any(a in s for a in answers.get(qid, []))]
        if not truth or not elsewhere:
            continue
        passages = np.vstack([doc_sentences.vectors[p] for p in retrieved])
        known = (queries[qid] + "\n" + "\n".join(docs[p] for p in retrieved)).lower()
        true_sentence = own_sentences.of[pid][truth[0]]
        found.append(
            (
                float(np.max(passages @ own_sentences.vectors[pid][truth[0]])),
                True,
                not unknown_names(true_sentence, known),
            )
        )
        answer = next(a for a in answers[qid] if a in true_sentence)
        short_text = clause(true_sentence, answer)
        short = model.embed_documents([short_text])[0]
        found.append((float(np.max(passages @ short)), True, not unknown_names(short_text, known)))
        question = model.embed_query(queries[qid])
        candidates = [(p, i) for p in elsewhere for i in range(len(own_sentences.of[p]))]
        vectors = np.vstack([own_sentences.vectors[p] for p in elsewhere])
        best = int(np.argmax(vectors @ question))
        p, i = candidates[best]
        found.append((float(np.max(passages @ vectors[best])), False, not unknown_names(own_sentences.of[p][i], known)))
    return found


def clause(sentence: str, answer: str, words: int = 5, chars: int = 10) -> str:
    """`answer` with about `words` words (or, in Chinese, `chars` characters) either side of it in `sentence`."""
    at = sentence.find(answer)
    before, after = sentence[:at], sentence[at + len(answer) :]
    if " " in sentence:
        return " ".join([*before.split()[-words:], answer, *after.split()[:words]])
    return before[-chars:] + answer + after[:chars]


def rates(
    scored: list[tuple[float, bool, bool]], threshold: float, *, names_below: float | None = None
) -> dict[str, float]:
    """Supported sentences kept and invented ones caught at `threshold`; with `names_below`, a sentence under
    that cosine (not a close translation) is vouched for only when its names are known as well."""

    def vouched(c: float, known: bool) -> bool:
        return c >= threshold and (names_below is None or known or c >= names_below)

    kept = [vouched(c, known) for c, ok, known in scored if ok]
    caught = [not vouched(c, known) for c, ok, known in scored if not ok]
    return {
        "supported_kept": round(sum(kept) / len(kept), 3),
        "invented_caught": round(sum(caught) / len(caught), 3),
        "balanced": round((sum(kept) / len(kept) + sum(caught) / len(caught)) / 2, 3),
    }


def best_threshold(*directions: list[tuple[float, bool, bool]]) -> float:
    """The threshold with the best worst balanced accuracy over `directions` (ties: the lower)."""
    grid = [round(t, 2) for t in np.arange(0.20, 0.80, 0.01)]
    return max(grid, key=lambda t: (min(rates(d, t)["balanced"] for d in directions), -t))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--limit", type=int, default=632, help="questions per direction")
    parser.add_argument("--out", type=Path, default=REPORTS / "support.json")
    args = parser.parse_args()
    from answer.routing import AnswerChecks

    model = UniversalSentenceEncoder()
    model.start()
    started = time.perf_counter()
    scored = {d: pairs(args.datasets, d, model, args.limit) for d in DIRECTIONS}
    shipped = AnswerChecks().min_cosine_across
    report: dict[str, object] = {
        "pairs": {d: len(ps) for d, ps in scored.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    folds = {}
    for tuned, checked in (("zh2en", "en2zh"), ("en2zh", "zh2en")):
        t = best_threshold(scored[tuned])
        folds[f"tuned on {tuned}"] = {"threshold": t, f"checked on {checked}": rates(scored[checked], t)}
    chosen = best_threshold(*scored.values())
    report["folds"] = folds
    report["chosen_on_both"] = {"threshold": chosen, **{d: rates(ps, chosen) for d, ps in scored.items()}}
    report["shipped"] = {"threshold": shipped, **{d: rates(ps, shipped) for d, ps in scored.items()}}
    translation = AnswerChecks().min_cosine_translation
    report["shipped_with_invented_names"] = {
        "names of every sentence": {d: rates(ps, shipped, names_below=1.01) for d, ps in scored.items()},
        f"names unless a translation (cosine >= {translation})": {
            d: rates(ps, shipped, names_below=translation) for d, ps in scored.items()
        },
        "translation threshold, balanced accuracy of the worse direction": {
            str(t): min(rates(ps, shipped, names_below=t)["balanced"] for ps in scored.values())
            for t in (0.54, 0.55, 0.57, 0.6, 0.65, 0.7, 0.8, 1.01)
        },
    }
    report["percentiles"] = {
        d: {
            kind: percentiles([c for c, ok, _ in ps if ok is truth], (5, 25, 50, 75, 95), digits=3)
            for kind, truth in (("supported", True), ("invented", False))
        }
        for d, ps in scored.items()
    }
    write_json(args.out, report)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
