"""Retrieval evaluation: loaders on tiny data sets written here, metrics checked by hand, the timed runner."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from retrieval import evaluation
from retrieval.errors import PathNotFoundError
from retrieval.evaluation import (
    EvalQuery,
    EvalSet,
    QueryRun,
    evaluate,
    load_beir,
    load_golden,
    mrr_at,
    ndcg_at,
    recall_at,
    summarize,
)

REPO = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def beir_folder(tmp_path) -> Path:
    folder = tmp_path / "toy"
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "d1", "title": "One", "text": "first"},
            {"_id": "d2", "title": "", "text": "second"},
            {"_id": "d3", "text": "third, no title field"},
        ],
    )
    # File order q2, q1, ...: the loader keeps this order, not the qrels order.
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "q2", "text": "second question"},
            {"_id": "q1", "text": "first question"},
            {"_id": "q3", "text": "only a score-0 row"},
            {"_id": "q4", "text": "no qrels at all"},
        ],
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq1\td3\t0\nq2\td3\t1\nq3\td1\t0\n",
        encoding="utf-8",
    )
    return folder


# --- metrics on the toy qrels ----------------------------------------------------------------------------


def test_metrics_on_hand_checked_toy_qrels(beir_folder):
    q1 = next(query for query in load_beir(beir_folder).queries if query.query_id == "q1")
    assert q1.relevant == {"d1": 2, "d2": 1}  # the score-0 row for d3 is dropped
    ranked = ["d3", "d1", "d2"]

    # DCG@3  = 0/log2(2) + 2/log2(3) + 1/log2(4) = 0 + 1.26186 + 0.5 = 1.76186
    # IDCG@3 = 2/log2(2) + 1/log2(3)             = 2 + 0.63093       = 2.63093
    # nDCG@3 = 1.76186 / 2.63093 = 0.66967
    assert ndcg_at(ranked, q1.relevant, 3) == pytest.approx(0.66967, abs=1e-5)
    assert ndcg_at(ranked, q1.relevant, 10) == pytest.approx(0.66967, abs=1e-5)
    # nDCG@2 = (0 + 2/log2(3)) / (2 + 1/log2(3)) = 1.26186 / 2.63093 = 0.47963
    assert ndcg_at(ranked, q1.relevant, 2) == pytest.approx(0.47963, abs=1e-5)
    # nDCG@1 = 0 / 2
    assert ndcg_at(ranked, q1.relevant, 1) == 0.0
    assert ndcg_at(["d1", "d2"], q1.relevant, 10) == pytest.approx(1.0)

    assert recall_at(ranked, q1.relevant, 1) == 0.0
    assert recall_at(ranked, q1.relevant, 2) == 0.5
    assert recall_at(ranked, q1.relevant, 3) == 1.0

    assert mrr_at(ranked, q1.relevant, 1) == 0.0
    assert mrr_at(ranked, q1.relevant, 3) == 0.5


def test_no_relevant_document_found_scores_zero():
    relevant = {"d1": 1}
    for metric in (ndcg_at, recall_at, mrr_at):
        assert metric(["x", "y", "z"], relevant, 10) == 0.0
        assert metric([], relevant, 10) == 0.0
        assert metric(["d1"], {}, 10) == 0.0  # nothing is relevant: nothing to find
    assert recall_at(["d1"], {"d1": 0}, 10) == 0.0  # a grade-0 label is not relevant
    # The relevant document just past the cut-off does not count.
    assert mrr_at(["x", "d1"], relevant, 1) == 0.0
    assert recall_at(["x", "d1"], relevant, 1) == 0.0


def test_duplicates_after_the_first_occurrence_are_ignored():
    relevant = {"d1": 2, "d2": 1}
    # Distinct top 2 is [d3, d1]: d1 counts at rank 2, not rank 3.
    assert recall_at(["d3", "d3", "d1"], relevant, 2) == 0.5
    assert mrr_at(["d3", "d3", "d1"], relevant, 2) == 0.5
    # A repeated relevant document is found once and gains once: DCG = 2/1, IDCG = 2/1 + 1/log2(3).
    assert recall_at(["d1", "d1", "d1"], relevant, 3) == 0.5
    assert ndcg_at(["d1", "d1"], relevant, 2) == pytest.approx(2 / (2 + 1 / math.log2(3)))


def test_summarize_means_and_linear_percentiles():
    runs = [
        QueryRun("a", ["d1"], {"d1": 1}, latency_ms=1.0),
        QueryRun("b", ["x"], {"d1": 1}, latency_ms=2.0),
        QueryRun("c", ["x", "d1"], {"d1": 1}, latency_ms=3.0),
        QueryRun("d", ["d1"], {"d1": 1}, latency_ms=10.0),
    ]
    result = summarize(runs, k=1)
    assert result.k == 1
    assert result.queries == 4
    assert result.ndcg == 0.5  # (1 + 0 + 0 + 1) / 4 at k=1
    assert result.mrr == 0.5
    assert result.recall_5 == 0.75
    assert result.latency_p50_ms == pytest.approx(2.5)  # halfway between 2 and 3
    assert result.latency_p95_ms == pytest.approx(8.95)  # rank 0.95·3 = 2.85: 3 + 0.85·(10 - 3)
    with pytest.raises(ValueError):
        summarize([])


# --- load_beir -------------------------------------------------------------------------------------------


def test_load_beir_keeps_labelled_queries_in_file_order(beir_folder):
    eval_set = load_beir(beir_folder)
    assert eval_set.name == "toy"
    assert [(doc.doc_id, doc.title, doc.text) for doc in eval_set.corpus] == [
        ("d1", "One", "first"),
        ("d2", "", "second"),
        ("d3", "", "third, no title field"),
    ]
    # Header skipped; q3 (only a score-0 row) and q4 (no qrels) dropped.
    assert eval_set.queries == [
        EvalQuery("q2", "second question", {"d3": 1}),
        EvalQuery("q1", "first question", {"d1": 2, "d2": 1}),
    ]


def test_load_beir_max_queries(beir_folder):
    assert [query.query_id for query in load_beir(beir_folder, max_queries=1).queries] == ["q2"]
    assert len(load_beir(beir_folder, max_queries=10).queries) == 2
    with pytest.raises(ValueError):
        load_beir(beir_folder, max_queries=0)


def test_load_beir_reports_bad_folders_and_lines(beir_folder, tmp_path):
    with pytest.raises(PathNotFoundError, match=r"corpus\.jsonl"):
        load_beir(tmp_path)
    with (beir_folder / "qrels" / "test.tsv").open("a") as qrels:
        qrels.write("q1 d2 1\n")
    with pytest.raises(ValueError, match=r"test\.tsv:7"):
        load_beir(beir_folder)


# --- load_golden -----------------------------------------------------------------------------------------


@pytest.fixture
def documents(tmp_path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# A")
    (folder / "sub" / "b.txt").write_text("B")
    return folder


GOLDEN_ITEMS = [
    {"file": "a.md", "language": "en", "question": "What is A?", "answer": "A", "page": 1},
    {"files": ["a.md", "sub/b.txt"], "query": "A or B?"},
    {"id": "x", "text": "Mostly B?", "relevant": {"sub/b.txt": 2, "a.md": 0}},
]


def expected_golden(documents: Path) -> list[EvalQuery]:
    a, b = str(Path(documents, "a.md").resolve()), str(Path(documents, "sub/b.txt").resolve())
    return [
        EvalQuery("q1", "What is A?", {a: 1}),
        EvalQuery("q2", "A or B?", {a: 1, b: 1}),
        EvalQuery("x", "Mostly B?", {b: 2}),
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("list.json", json.dumps(GOLDEN_ITEMS)),
        ("facts.json", json.dumps({"facts": GOLDEN_ITEMS})),
        ("queries.json", json.dumps({"queries": GOLDEN_ITEMS})),
        ("lines.jsonl", "".join(json.dumps(item) + "\n\n" for item in GOLDEN_ITEMS)),
        ("lines-named.json", "".join(json.dumps(item) + "\n" for item in GOLDEN_ITEMS)),
    ],
)
def test_load_golden_shapes(documents, tmp_path, name, content):
    queries_file = tmp_path / name
    queries_file.write_text(content, encoding="utf-8")
    eval_set = load_golden(documents, queries_file)
    assert eval_set == EvalSet("docs", [], expected_golden(documents))


def test_load_golden_names_every_missing_file(documents, tmp_path):
    queries_file = tmp_path / "golden.json"
    queries_file.write_text(
        json.dumps(
            [
                {"file": "a.md", "question": "fine"},
                {"file": "missing.pdf", "question": "gone"},
                {"files": ["sub/b.txt", "other.docx"], "question": "half gone"},
                {"file": "../golden.json", "question": "exists, but outside the folder"},
            ]
        )
    )
    with pytest.raises(ValueError, match=r"\.\./golden\.json, missing\.pdf, other\.docx"):
        load_golden(documents, queries_file)


@pytest.mark.parametrize(
    "item",
    [
        {"file": "a.md"},  # no question
        {"question": "no label"},
        {"question": "bad grade", "relevant": {"a.md": "high"}},
        {"question": "only grade 0", "relevant": {"a.md": 0}},
    ],
)
def test_load_golden_rejects_malformed_items(documents, tmp_path, item):
    queries_file = tmp_path / "golden.json"
    queries_file.write_text(json.dumps([item]))
    with pytest.raises(ValueError, match="item 1"):
        load_golden(documents, queries_file)


def test_load_golden_reads_the_shipped_example():
    eval_set = load_golden(REPO / "examples" / "docs", REPO / "examples" / "facts.json")
    assert len(eval_set.queries) == len(json.loads((REPO / "examples" / "facts.json").read_text()))
    assert all(Path(doc_id).is_absolute() for query in eval_set.queries for doc_id in query.relevant)


# --- evaluate --------------------------------------------------------------------------------------------


def fillers(count: int) -> list[str]:
    return [f"x{i}" for i in range(count)]


# mode → query text → (ranking, milliseconds the fake search takes)
RANKINGS = {
    "dense": {
        "first": (["d1", "d2", "d1"], 2.0),  # perfect
        "second": ([*fillers(6), "d4"], 4.0),  # d4 at rank 7
    },
    "hybrid": {
        "first": (["d3", "d1", "d2"], 10.0),  # the hand-checked toy ranking
        "second": ([*fillers(49), "d4", *fillers(200)], 20.0),  # d4 at rank 50, more ids than depth
    },
}


@pytest.fixture
def fake_search(monkeypatch):
    """A search over canned rankings on a fake clock, so latencies are exact."""
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(evaluation, "time", SimpleNamespace(perf_counter=lambda: clock.now))

    def search(mode: str, text: str) -> list[str]:
        ranking, milliseconds = RANKINGS[mode][text]
        clock.now += milliseconds / 1000
        return ranking

    return search


TWO_QUERIES = EvalSet(
    "toy",
    [],
    [EvalQuery("q1", "first", {"d1": 2, "d2": 1}), EvalQuery("q2", "second", {"d4": 1})],
)


def test_evaluate_two_modes(fake_search):
    done = []
    report = evaluate(TWO_QUERIES, fake_search, ["dense", "hybrid"], progress=done.append)
    assert done == [1, 2, 3, 4]
    assert report.to_dict() == {
        "dataset": "toy",
        "queries": 2,
        "k": 10,
        "results": [
            {
                "mode": "dense",
                "ndcg@10": pytest.approx((1 + 1 / math.log2(8)) / 2),  # q2: 1/log2(7+1) over an ideal of 1
                "recall@5": 0.5,
                "recall@10": 1.0,
                "recall@100": 1.0,
                "mrr@10": pytest.approx((1 + 1 / 7) / 2),
                "latency_ms": {"p50": pytest.approx(3.0), "p95": pytest.approx(3.9)},
            },
            {
                "mode": "hybrid",
                "ndcg@10": pytest.approx(0.66967 / 2, abs=1e-5),  # q2 is past the top 10
                "recall@5": 0.5,
                "recall@10": 0.5,
                "recall@100": 1.0,
                "mrr@10": 0.25,
                "latency_ms": {"p50": pytest.approx(15.0), "p95": pytest.approx(19.5)},
            },
        ],
    }
    assert report.columns()[0] == "mode"
    assert report.rows()[1] == ["hybrid", "0.335", "0.500", "0.500", "1.000", "0.250", "15.0", "19.5"]


def test_evaluate_keys_follow_k(fake_search):
    result = evaluate(TWO_QUERIES, fake_search, ["hybrid"], k=2).to_dict()["results"][0]
    assert list(result) == ["mode", "ndcg@2", "recall@5", "recall@10", "recall@100", "mrr@2", "latency_ms"]
    assert result["ndcg@2"] == pytest.approx(0.47963 / 2, abs=1e-5)
    assert result["mrr@2"] == 0.25


def test_evaluate_rejects_bad_arguments(fake_search):
    with pytest.raises(ValueError):
        evaluate(TWO_QUERIES, fake_search, [])
    with pytest.raises(ValueError):
        evaluate(TWO_QUERIES, fake_search, ["dense", "dense"])
    with pytest.raises(ValueError):
        evaluate(TWO_QUERIES, fake_search, ["dense"], depth=50)  # recall@100 needs 100
    with pytest.raises(ValueError):
        evaluate(EvalSet("empty", [], []), fake_search, ["dense"])
