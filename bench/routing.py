"""Tune the escalation thresholds on data: which signals of the small model's answer predict that the large model
would do better, and what each policy buys for the questions it hands on.

    python -m bench.routing [--cmrc 60] [--target 0.3] [--data-dir /tmp/evaldata] [--out FILE] [--reuse]

The two tiers are the ones that run here: the small model is the embedded default (SmolLM2-135M-Instruct in
process), the large one a real llama.cpp server with Gemma 3 270M (the packaged GGUF of the tests). Each QA set
is answered once by each tier alone (`docent eval --answers --configs small,large --report`), which records the
evidence the policy sees on every small answer. A policy's routed result is then exact, not estimated: a question
it hands on gets the large model's answer to the same messages (temperature 0), else the small model's. So every
policy on the grid is scored without asking the models again, and the chosen one is run for real as `routed`
to check that the simulation matches.

The extractive rung: the same runs also answer every question extractively (no model), and a grid of
`AnswerChecks` decides which generated answers the quotes replace. For each checks point: the accuracy of the
embedded default's ladder (the small model's answer, or the quotes where it fails the checks), and how often the
checks would replace the *large* model's answers (the stand-in for a good model, whose answers should rarely be
replaced: counted over its answers that contain the expected answer, with the checks that fired). Chosen: the
most accurate ladder; the share of the large model's right answers it would replace is reported beside it.

Data: examples/facts.json on the sample documents (38 questions, English and Chinese) and the first --cmrc
questions of ../shared/datasets/cmrc2018 (Chinese reading comprehension). Accuracy is the mean of token F1 and
containment. Chosen: the most accurate policy that hands on at most --target of the questions (the premise is
that the small model answers most of them), ties to fewer escalations.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import time
from dataclasses import fields
from pathlib import Path

from answer.answerer import han_share, prose
from answer.planner import QuestionType
from answer.routing import AnswerChecks, EscalationPolicy, Evidence
from bench.common import DATASETS, DOCENT, FACTS, REPORTS, ROOT, SAMPLE_DOCS, docent_env, write_json
from tests.support.llama_servers import gemma3_server

GRID = {
    "max_unsupported": [0.0, 0.25, 0.5, 0.75, 1.0],
    "escalate_uncited": [False, True],
    "min_confidence_en": [0.0, 0.45, 0.5, 0.55, 0.6, 0.65],
    "min_confidence_zh": [0.0, 0.3, 0.35, 0.4, 0.45],
    "missed_above": [None, 0.45, 0.55, 0.65],
    "escalate_truncated": [False, True],
    "min_fused": [None, 2.0, 2.25, 2.5, 2.75],  # DBSF sums two normalized scores: 1.2-3.2 here
}


CHECKS_GRID = {
    "max_unsupported": [0.34, 0.5, 1.0],
    "max_invented": [None, 0],
    "truncated": [False, True],
    "markup": [False, True],
}


def ladder(triples: list[tuple[dict, dict, dict]], point: dict) -> dict:
    """The embedded default's ladder under these checks (small, or extractive where small fails); the share of
    the large model's answers the same checks would replace, and of its *right* answers (those containing the
    expected answer): what the checks cost a better model."""
    checks = AnswerChecks(**point)

    def fails(answer: dict) -> bool:
        if not answer["evidence"] or answer["mode"] != "generated":
            return False
        text = prose(answer["answer"])  # the language measure as it is now (reports may predate it)
        evidence = {**answer["evidence"], "han_share": han_share(text), "letters": sum(c.isalpha() for c in text)}
        return bool(checks.failures(evidence_of(evidence)))

    answers = [quoted if fails(small) else small for small, _, quoted in triples]
    right = [large for _, large, _ in triples if large["contains"] == 1.0]
    n = len(triples)
    return {
        "checks": point,
        "accuracy": round(sum(map(accuracy, answers)) / n, 4),
        "containment": round(sum(a["contains"] for a in answers) / n, 4),
        "replaced_small": round(sum(fails(s) for s, _, _ in triples) / n, 4),
        "replaced_large": round(sum(fails(big) for _, big, _ in triples) / n, 4),
        "replaced_large_right": round(sum(map(fails, right)) / len(right), 4) if right else None,
    }


def policy_of(point: dict) -> EscalationPolicy:
    missed = point["missed_above"]
    return EscalationPolicy(
        min_confidence={"en": point["min_confidence_en"], "zh": point["min_confidence_zh"]},
        max_unsupported=point["max_unsupported"],
        escalate_uncited=point["escalate_uncited"],
        missed_above={} if missed is None else {"en": missed, "zh": missed},
        escalate_truncated=point["escalate_truncated"],
        min_fused=point["min_fused"],
    )


def env_of(point: dict) -> dict[str, str]:
    """The settings that make `docent` use this policy."""
    missed = point["missed_above"]
    return {
        "DOCENT_ROUTING__MAX_UNSUPPORTED": str(point["max_unsupported"]),
        "DOCENT_ROUTING__ESCALATE_UNCITED": str(point["escalate_uncited"]).lower(),
        "DOCENT_ROUTING__MIN_CONFIDENCE_EN": str(point["min_confidence_en"]),
        "DOCENT_ROUTING__MIN_CONFIDENCE_ZH": str(point["min_confidence_zh"]),
        "DOCENT_ROUTING__MISSED_ABOVE_EN": "2" if missed is None else str(missed),  # > 1: never
        "DOCENT_ROUTING__MISSED_ABOVE_ZH": "2" if missed is None else str(missed),
        "DOCENT_ROUTING__ESCALATE_TRUNCATED": str(point["escalate_truncated"]).lower(),
        **({} if point["min_fused"] is None else {"DOCENT_ROUTING__MIN_FUSED": str(point["min_fused"])}),
    }


def evidence_of(data: dict) -> Evidence:
    known = {f.name for f in fields(Evidence)}
    return Evidence(
        **{**{k: v for k, v in data.items() if k in known}, "question_type": QuestionType(data["question_type"])}
    )


def accuracy(answer: dict) -> float:
    return (answer["f1"] + answer["contains"]) / 2


def run_eval(args: list[str], env: dict[str, str], report: Path, *, reuse: bool = False) -> dict:
    if reuse and report.is_file():
        return json.loads(report.read_text())
    started = time.perf_counter()
    subprocess.run(
        [*DOCENT, "eval", *args, "--answers", "--report", str(report)],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    data = json.loads(report.read_text())
    data["seconds"] = round(time.perf_counter() - started, 1)
    return data


def simulate(pairs: list[tuple[dict, dict]], point: dict) -> dict:
    policy = policy_of(point)
    routed, escalated = [], 0
    for small, large in pairs:
        if small["evidence"] and policy.reasons(evidence_of(small["evidence"])):
            escalated += 1
            routed.append(large)
        else:
            routed.append(small)
    n = len(pairs)
    return {
        "escalated": round(escalated / n, 4),
        "accuracy": round(sum(map(accuracy, routed)) / n, 4),
        "f1": round(sum(a["f1"] for a in routed) / n, 4),
        "containment": round(sum(a["contains"] for a in routed) / n, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cmrc", type=int, default=60, help="CMRC2018 questions (0: none)")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--target", type=float, default=0.3, help="the largest share of questions to hand on")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/evaldata"))
    parser.add_argument("--out", type=Path, default=REPORTS / "routing.json")
    parser.add_argument("--reuse", action="store_true", help="reuse the small/large runs of an earlier run")
    args = parser.parse_args()

    sets = [("facts", [str(SAMPLE_DOCS), "--queries", str(FACTS)])]
    if args.cmrc and (args.datasets / "cmrc2018").is_dir():
        sets.append(("cmrc2018", [str(args.datasets / "cmrc2018"), "--max-queries", str(args.cmrc)]))
    work = args.data_dir / "routing"
    work.mkdir(parents=True, exist_ok=True)
    server = gemma3_server(n_ctx=2048)
    try:
        # A base model answers, then writes the next "Question:" of its own: stop there.
        tiers = json.dumps(
            [
                {
                    "base_url": server.url,
                    "model": "gemma3",
                    "context_length": 2048,
                    "max_answer_tokens": 160,
                    "stop": ["\nQuestion:", "\n问题：", "\n\n"],
                }
            ]
        )
        # A measurement of answers, not of speed: no answer may fall back for lack of time.
        base_env = docent_env(args.data_dir, DOCENT_ROUTING__TIERS=tiers, DOCENT_ANSWER__DEADLINE_S="300")
        runs, pairs, triples = {}, [], []
        for name, eval_args in sets:
            data = run_eval(
                [*eval_args, "--configs", "small,large,extractive"], base_env, work / f"{name}.json", reuse=args.reuse
            )
            by_config = {c["name"]: c for c in data["configurations"]}
            runs[name] = {
                "seconds": data.get("seconds"),
                **{k: {m: v for m, v in c.items() if m != "answers"} for k, c in by_config.items()},
            }
            pairs += list(zip(by_config["small"]["answers"], by_config["large"]["answers"], strict=True))
            triples += list(
                zip(
                    by_config["small"]["answers"],
                    by_config["large"]["answers"],
                    by_config["extractive"]["answers"],
                    strict=True,
                )
            )
            print(
                f"{name}: small {by_config['small']['f1']:.3f} F1, large {by_config['large']['f1']:.3f} F1 "
                f"({data.get('seconds', 0):.0f} s)",
                flush=True,
            )

        keys = list(GRID)
        grid = []
        for values in itertools.product(*(GRID[k] for k in keys)):
            point = dict(zip(keys, values, strict=False))
            grid.append({"policy": point, **simulate(pairs, point)})
        small_only = simulate(
            pairs,
            {
                **grid[0]["policy"],
                "max_unsupported": 1.0,
                "escalate_uncited": False,
                "min_confidence_en": 0.0,
                "min_confidence_zh": 0.0,
                "missed_above": None,
                "escalate_truncated": False,
                "min_fused": None,
            },
        )
        large_only = {
            "accuracy": round(sum(accuracy(large) for _, large in pairs) / len(pairs), 4),
            "f1": round(sum(large["f1"] for _, large in pairs) / len(pairs), 4),
        }
        allowed = [g for g in grid if g["escalated"] <= args.target]
        chosen = max(allowed, key=lambda g: (g["accuracy"], -g["escalated"]))
        # The frontier: for each escalation share, the best accuracy any policy reached.
        frontier: dict[float, dict] = {}
        for g in sorted(grid, key=lambda g: (g["escalated"], -g["accuracy"])):
            if not frontier or g["accuracy"] > max(f["accuracy"] for f in frontier.values()):
                frontier[g["escalated"]] = g
        # Each signal alone: how often it fires and how much better the large answer is where it does.
        signals = {}
        for name, point in {
            "unsupported > 0": {"max_unsupported": 0.0},
            "no citations": {"escalate_uncited": True},
            "truncated": {"escalate_truncated": True},
            "missed answer (cos >= 0.55)": {"missed_above": 0.55},
            "low confidence (en < 0.55, zh < 0.4)": {"min_confidence_en": 0.55, "min_confidence_zh": 0.4},
            "low fused score (< 2.5)": {"min_fused": 2.5},
        }.items():
            base = {
                "max_unsupported": 1.0,
                "escalate_uncited": False,
                "min_confidence_en": 0.0,
                "min_confidence_zh": 0.0,
                "missed_above": None,
                "escalate_truncated": False,
                "min_fused": None,
            }
            policy = policy_of({**base, **point})
            fired = [(s, big) for s, big in pairs if s["evidence"] and policy.reasons(evidence_of(s["evidence"]))]
            signals[name] = {
                "fires": round(len(fired) / len(pairs), 4),
                "small_accuracy_where_fired": round(sum(accuracy(s) for s, _ in fired) / len(fired), 4)
                if fired
                else None,
                "large_accuracy_where_fired": round(sum(accuracy(b) for _, b in fired) / len(fired), 4)
                if fired
                else None,
            }

        # The extractive rung: which checks make the embedded default's ladder most accurate, replacing few
        # of a better model's answers.
        rungs = [
            ladder(triples, dict(zip(CHECKS_GRID, values, strict=False)))
            for values in itertools.product(*CHECKS_GRID.values())
        ]
        chosen_rung = max(rungs, key=lambda r: (r["accuracy"], -(r["replaced_large_right"] or 0)))
        extractive_only = {
            "accuracy": round(sum(accuracy(q) for *_, q in triples) / len(triples), 4),
            "containment": round(sum(q["contains"] for *_, q in triples) / len(triples), 4),
        }
        shipped_rung = ladder(triples, {k: getattr(AnswerChecks(), k) for k in CHECKS_GRID})

        # The chosen policy for real, on the sample documents' questions.
        check = run_eval(
            [*sets[0][1], "--configs", "routed"], {**base_env, **env_of(chosen["policy"])}, work / "check.json"
        )
        measured = check["configurations"][0]
        facts_pairs = pairs[: runs["facts"]["small"]["questions"]]
        simulated = simulate(facts_pairs, chosen["policy"])
    finally:
        server.stop()

    report = {
        "bench": "routing",
        "tiers": {
            "small": "SmolLM2-135M-Instruct Q4_1 (in process, 1 thread)",
            "large": "Gemma 3 270M Q4_K_M (llama.cpp server, 1 thread)",
        },
        "questions": len(pairs),
        "runs": runs,
        "small_only": small_only,
        "large_only": large_only,
        "target_escalated": args.target,
        "chosen": chosen,
        "chosen_settings": env_of(chosen["policy"]),
        "check_on_facts": {
            "simulated": simulated,
            "measured": {k: measured[k] for k in ("escalated", "f1", "containment", "reasons")},
        },
        "signals": signals,
        "frontier": list(frontier.values()),
        "grid_points": len(grid),
        "extractive_rung": {
            "extractive_only": extractive_only,
            "chosen": chosen_rung,
            "shipped": shipped_rung,
            "grid": rungs,
        },
    }
    write_json(args.out, report)
    print(
        json.dumps(
            {k: report[k] for k in ("small_only", "large_only", "chosen", "check_on_facts", "signals")},
            indent=1,
            ensure_ascii=False,
        )
    )
    print(json.dumps({k: v for k, v in report["extractive_rung"].items() if k != "grid"}, indent=1))


if __name__ == "__main__":
    main()
