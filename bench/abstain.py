"""Calibrate the "nothing relevant was retrieved" thresholds: per query language, the best cosines below which the
answer API can say "not found in the documents" without calling the model.

    python -m bench.abstain [--data-dir /tmp/evaldata] [--datasets ../shared/datasets] [--out FILE]

A query has two scores over the top 5 passages of a hybrid search through the real `Retriever` (0 without
passages): the best cosine of the main model (MiniLM, English queries and passages only) and the best cosine of
the multilingual model (USE, any language, across languages too). The answer goes on when either reaches its
threshold, so each language gets a pair: (MiniLM, USE) for English, USE alone for Chinese. Answerable: SciFact
test queries on the SciFact index, the first 500 CMRC2018 queries on the CMRC2018 index, examples/facts.json and
its cross-lingual twin on the sample docs, and 300 questions of each XQuAD direction; counted "retrieval
succeeded" when the top 5 holds a relevant document. Unanswerable: the first 300 SciFact and 300
CMRC2018 queries against the sample docs, and the hand-written off-topic questions below, grouped by the dense
vector each query searched (topics checked absent from examples/docs; parking is left out, both office guides
cover it, and food appears only as a canteen menu: Shanghai has a pantry and a meal allowance, no canteen).
The indexes are `docent eval`'s throwaway ones under --data-dir, opened in place; a missing one is built by
`docent eval` first. Recommended, per language: the pair that abstains on the most unanswerable questions
while abstaining on at most 2 % of the retrieval-succeeded answerable queries (pooled over that language's sets).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from bench.common import (
    DATASETS,
    DOCENT,
    FACTS,
    FACTS_CROSSLINGUAL,
    REPORTS,
    ROOT,
    SAMPLE_DOCS,
    docent_env,
    percentiles,
    write_json,
)
from retrieval.access import ALL_ACCESS
from retrieval.edge_index import EdgeIndex
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.evaluation import load_beir, load_golden
from retrieval.index import DENSE, DENSE_MULTI
from retrieval.search import Mode, SearchRequest
from serve.components import MultilingualModel, index_spec, make_embedder, make_multilingual_embedder, make_retriever
from serve.evaluate import _eval_dir
from serve.settings import Settings

OFF_TOPIC_EN = [
    "When do my stock options start vesting?",
    "How much does the company match on 401(k) contributions?",
    "Is there a referral bonus for recommending a candidate who gets hired?",
    "Does the company reimburse gym memberships?",
    "What is the dress code in the office?",
    "Can I bring my dog to the office?",
    "How many days of paid jury duty leave do I get?",
    "Does Brightkelp offer a relocation package for new hires?",
    "Am I eligible for a paid sabbatical after five years of service?",
    "Does the company match charitable donations?",
    "How many paid volunteer days do employees get each year?",
    "Where can I order company swag like hoodies and water bottles?",
    "Is there a childcare subsidy or on-site daycare?",
    "How do I change the bank account for my direct deposit?",
    "Does the company sponsor H-1B visas or green cards?",
    "Where is the lost and found?",
    "How do I nominate a colleague for the employee of the month award?",
    "How do I update the beneficiary of my life insurance?",
    "When is the next company hackathon?",
    "Which employee resource groups can I join?",
    "Where is the designated smoking area?",
    "Is there a lactation room for nursing mothers?",
    "How is the sales commission calculated for account executives?",
    "May I contribute to open source projects in my free time?",
    "How do I enroll in the employee stock purchase plan?",
    "Does the company offer student loan repayment assistance?",
    "Can I get a free flu shot at work?",
    "Does the company offer pet insurance?",
    "Do employees get free legal advice services?",
    "When and where is this year's holiday party?",
]
OFF_TOPIC_ZH = [
    "今年的公司年会在哪里举办？",
    "公司食堂今天中午的菜单是什么？",
    "员工股票期权的行权价格是多少？",
    "公司有没有提供员工宿舍？",
    "内推成功入职的话有多少内推奖金？",
    "公司有上下班班车吗？班车路线怎么查？",
    "健身房会员费可以找公司报销吗？",
    "可以带宠物狗来办公室吗？",
    "公司能帮员工办理上海落户吗？",
    "公司对员工着装有什么要求？",
    "年终奖一般什么时候发，发几个月？",
    "新员工有没有租房补贴？",
    "员工子女可以参加公司组织的夏令营吗？",
    "办公室有没有母婴室？",
    "公司有羽毛球或篮球俱乐部吗？",
    "如何申请上海市居住证积分？",
    "办公楼的吸烟区在哪里？",
    "公司会组织免费接种流感疫苗吗？",
    "办公室的失物招领处在哪里？",
    "员工购买公司产品有内部折扣吗？",
    "公司为员工提供免费的法律咨询吗？",
    "员工过生日公司有什么福利？",
    "怎么开收入证明去办理签证？",
    "员工可以在业余时间给开源项目贡献代码吗？",
    "销售人员的提成比例是怎么计算的？",
    "员工持股计划什么时候开放认购？",
    "怎么报名参加公司的公益志愿者活动？",
    "公司今年会举办黑客马拉松吗？",
    "办公室有没有午休室或者睡眠舱？",
    "公司有工会吗？怎么加入？",
]
THRESHOLDS = [round(0.01 * i, 2) for i in range(81)]
MAX_FALSE_ABSTAIN = 0.02
K = 5


def ensure_index(dataset: Path, data_dir: Path, queries: Path | None) -> None:
    """Build the eval index with `docent eval` (one query, dense only) unless it is already there."""
    if (_eval_dir(Settings(data_dir=data_dir), dataset) / "qdrant-edge" / "eval").exists():
        return
    env = docent_env(data_dir)
    command = [*DOCENT, "eval", str(dataset), "--max-queries", "1", "--modes", "dense", "--json"]
    command += ["--queries", str(queries)] if queries else []
    print(f"building {dataset.name} index: {' '.join(command[2:])}", flush=True)
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def score_queries(
    settings: Settings,
    embedder: SentenceTransformerEmbedder,
    multilingual: MultilingualModel | None,
    dataset: Path,
    sets: dict[str, list[tuple[str, set[str] | None]]],
    *,
    golden: bool,
) -> tuple[list[dict], int]:
    """Search each set's (question, relevant ids or None) on `dataset`'s eval index; one record per query."""
    spec = index_spec(settings, embedder.dimension, multilingual, collection="eval")
    index = EdgeIndex(_eval_dir(settings, dataset), spec)
    index.start()
    try:
        documents = sum(1 for _ in index.documents())
        retriever = make_retriever(settings, index=index, embedder=embedder, multilingual=multilingual)
        records = []
        for name, queries in sets.items():
            for text, relevant in queries:
                result = retriever.search(SearchRequest(text, ALL_ACCESS, k=K, mode=Mode.HYBRID))
                found = {p.source if golden else p.document_id for p in result.passages}
                records.append(
                    {
                        "set": name,
                        "lang": "zh" if result.language == "zh" else "en",
                        "dense": max((p.scores.get(DENSE, 0.0) for p in result.passages), default=0.0),
                        "multi": max((p.scores.get(DENSE_MULTI, 0.0) for p in result.passages), default=0.0),
                        "hit": None if relevant is None else bool(found & relevant),
                    }
                )
        return records, documents
    finally:
        index.close()


def beir(folder: Path, n: int | None = None, *, answerable: bool = True) -> list[tuple[str, set[str] | None]]:
    """The first n queries of a BEIR set with their relevant ids (None: asked of another index)."""
    return [(q.text, set(q.relevant) if answerable else None) for q in load_beir(folder, max_queries=n).queries]


def abstains(records: list[dict], dense: float | None, multi: float) -> float | None:
    """The share of `records` refused: neither cosine reaches its threshold (dense None: not consulted)."""
    if not records:
        return None
    refused = [not ((dense is not None and r["dense"] >= dense) or r["multi"] >= multi) for r in records]
    return round(float(np.mean(refused)), 4)


def spread(records: list[dict]) -> dict[str, float] | None:
    """p5, p50 and p95 of the multilingual cosines of `records`."""
    return percentiles([r["multi"] for r in records], (5, 50, 95), digits=3)


def abstain_curve(records: list[dict], dense: float | None) -> list[float | None]:
    return [abstains(records, dense, t) for t in THRESHOLDS]


def summarize(records: list[dict], *, with_dense: bool) -> dict:
    """One language's records: pooled curves, the recommended thresholds, and each set's numbers.

    With `with_dense` (English) the main model's threshold is chosen together with the multilingual one."""
    answerable = [r for r in records if r["hit"] is not None]
    succeeded = [r for r in records if r["hit"]]
    negatives = [r for r in records if r["hit"] is None]
    choices = []
    for dense in THRESHOLDS if with_dense else [None]:
        for i, multi in enumerate(THRESHOLDS):
            false = abstains(succeeded, dense, multi)
            if false is not None and false <= MAX_FALSE_ABSTAIN:
                choices.append((abstains(negatives, dense, multi) or 0.0, -false, dense, i))
    _, _, dense, best = max(choices, default=(0.0, 0.0, 0.0 if with_dense else None, 0))
    curves = {
        "false_abstain": abstain_curve(succeeded, dense),
        "false_abstain_all": abstain_curve(answerable, dense),
        "unanswerable_abstain": abstain_curve(negatives, dense),
    }
    sets = {}
    for name in dict.fromkeys(r["set"] for r in records):
        rows = [r for r in records if r["set"] == name]
        kind = "unanswerable" if rows[0]["hit"] is None else "answerable"
        entry = sets[name] = {
            "kind": kind,
            "queries": len(rows),
            "percentiles": spread(rows),
            "abstain": abstain_curve(rows, dense),
        }
        if entry["kind"] == "answerable":
            hits = [r for r in rows if r["hit"]]
            entry.update(
                retrieval_succeeded=len(hits),
                percentiles_succeeded=spread(hits),
                abstain_succeeded=abstain_curve(hits, dense),
            )
        entry["at_recommended"] = entry.get("abstain_succeeded", entry["abstain"])[best]
        entry["scores"] = [[round(r["dense"], 4), round(r["multi"], 4)] for r in rows]
    return {
        "recommended": {"dense": dense, "threshold": THRESHOLDS[best], **{k: v[best] for k, v in curves.items()}},
        "answerable_succeeded": len(succeeded),
        "answerable": len(answerable),
        "unanswerable": len(negatives),
        "percentiles": {
            name: spread(rows)
            for name, rows in (
                ("answerable_succeeded", succeeded),
                ("answerable", answerable),
                ("unanswerable", negatives),
            )
        },
        "curves": curves,
        "sets": sets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("/tmp/evaldata"),
        help="DOCENT_DATA_DIR of the `docent eval` runs whose indexes are reused",
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--cmrc-queries", type=int, default=500, help="answerable CMRC2018 questions (default 500)")
    parser.add_argument(
        "--foreign-queries",
        type=int,
        default=300,
        help="SciFact and CMRC2018 questions asked of the sample docs (default 300 each)",
    )
    parser.add_argument("--out", type=Path, default=REPORTS / "abstain.json")
    parser.add_argument("--reuse", action="store_true", help="reuse the scores of the last run (FILE.records.json)")
    args = parser.parse_args()
    started = time.perf_counter()
    docs, facts, crossing = SAMPLE_DOCS.resolve(), FACTS, FACTS_CROSSLINGUAL
    scifact, cmrc = (args.datasets / "scifact").resolve(), (args.datasets / "cmrc2018").resolve()
    zh2en, en2zh = (args.datasets / "xquad-zh2en").resolve(), (args.datasets / "xquad-en2zh").resolve()
    for dataset, queries in ((scifact, None), (cmrc, None), (docs, facts), (zh2en, None), (en2zh, None)):
        ensure_index(dataset, args.data_dir, queries)

    settings = Settings(data_dir=args.data_dir)
    embedder, multilingual = make_embedder(settings), make_multilingual_embedder(settings)
    embedder.start()
    if multilingual is not None:
        multilingual.start()
    plan = [  # (dataset, golden, {set name: queries})
        (
            docs,
            True,
            {
                "facts": [(q.text, set(q.relevant)) for q in load_golden(docs, facts).queries],
                "facts-crosslingual": [(q.text, set(q.relevant)) for q in load_golden(docs, crossing).queries],
                "scifact→docs": beir(scifact, args.foreign_queries, answerable=False),
                "cmrc2018→docs": beir(cmrc, args.foreign_queries, answerable=False),
                "off-topic-en": [(q, None) for q in OFF_TOPIC_EN],
                "off-topic-zh": [(q, None) for q in OFF_TOPIC_ZH],
            },
        ),
        (scifact, False, {"scifact": beir(scifact)}),
        (cmrc, False, {"cmrc2018": beir(cmrc, args.cmrc_queries)}),
        (zh2en, False, {"xquad-zh2en": beir(zh2en, args.foreign_queries)}),
        (en2zh, False, {"xquad-en2zh": beir(en2zh, args.foreign_queries)}),
    ]
    records, indexes = [], {}
    cached = args.out.with_suffix(".records.json")
    if args.reuse and cached.exists():  # the scores of an earlier run: only the thresholds are chosen again
        records, indexes = json.loads(cached.read_text())
    for dataset, golden, sets in [] if records else plan:
        found, documents = score_queries(settings, embedder, multilingual, dataset, sets, golden=golden)
        records += found
        indexes[dataset.name] = {"path": str(_eval_dir(settings, dataset)), "documents": documents}
        print(f"{dataset.name}: {len(found)} queries scored, {time.perf_counter() - started:.0f} s", flush=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps([records, indexes]))

    report = {
        "k": K,
        "mode": "hybrid",
        "model": settings.embedding.model,
        "multilingual_model": settings.embedding.multilingual_model,
        "max_false_abstain": MAX_FALSE_ABSTAIN,
        "thresholds": THRESHOLDS,
        "indexes": indexes,
        "languages": {
            lang: summarize([r for r in records if r["lang"] == lang], with_dense=lang == "en") for lang in ("en", "zh")
        },
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, report)

    print("\n| lang | set | kind | queries | p5 | p50 | p95 | abstains at the recommended threshold |")
    print("|---|---|---|---|---|---|---|---|")
    for lang, entry in report["languages"].items():
        for name, s in entry["sets"].items():
            answerable = s["kind"] == "answerable"
            p = (s["percentiles_succeeded"] if answerable else s["percentiles"]) or dict.fromkeys(("p5", "p50", "p95"))
            count = f"{s['retrieval_succeeded']} of {s['queries']}" if answerable else s["queries"]
            print(
                f"| {lang} | {name} | {s['kind']} | {count} | {p['p5']} | {p['p50']} | {p['p95']} | "
                f"{s['at_recommended']:.1%} |"
            )
    for lang, entry in report["languages"].items():
        r = entry["recommended"]
        print(
            f"{lang}: thresholds MiniLM {r['dense']}, USE {r['threshold']:.2f}: "
            f"false abstain {r['false_abstain']:.1%} of "
            f"{entry['answerable_succeeded']} retrieval-succeeded ({r['false_abstain_all']:.1%} of all "
            f"{entry['answerable']} answerable); abstains on {r['unanswerable_abstain']:.1%} of "
            f"{entry['unanswerable']} unanswerable"
        )
    print(f"{report['seconds']:.0f} s; report: {args.out}")


if __name__ == "__main__":
    main()
