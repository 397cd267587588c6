"""Time to first token of the embedded default, by context size, and what packing and the prompt cache buy.

    python -m bench.ttft [--data-dir bench/.cache/ttft] [--out bench/reports/ttft.json] [--limit N] [--no-sweep]

The sample docs are indexed with the embedded defaults (`docent ingest`, into --data-dir). Every question of
examples/facts.json is then answered through the real `Answerer` (plan, retrieval, packing, the local model,
the checks and the extractive rung, as `/v1/ask` answers it) once under each configuration, the
configurations taking turns question by question so that the machine's load falls on all of them alike. The
questions alternate English and Chinese, as a mixed company's traffic does, so the prompt's fixed rules change
language from one answer to the next.

- `before`: every retrieved passage whole, as many as fit the local context, no prompt cache (llama.cpp
  reuses only the previous prompt's prefix), and the prompt read with llama.cpp's default threads (every
  core): main's generator.
- `focused`: the local-model settings' passages, cut to their best sentences and bounded in tokens, the
  prompt read with one thread, no cache.
- `after`: the shipped defaults: `focused` with llama.cpp's prompt cache, the prompt read by every core the
  process may use.
- `prompt1`, `prompt2`, `ctx128` (`--configs` names them): `after` with the prompt read by one or two threads
  (`DOCENT_LLM__LOCAL_PROMPT_THREADS`), or with 128 context tokens instead of 192.

Each configuration loads its own copy of the model, so one's cache and KV prefix never serve another.

Measured per answer: **ttft** (from the question to the model's first token: planning, retrieval, packing and
the model reading its prompt), the model's own share of it (**prompt read**), the prompt's tokens, and
**containment** (the expected answer inside the text, citations removed) of the answer the client gets (after
the checks, which may replace it by quotes) and of the model's own text. The sweep (`--no-sweep` skips it)
reads each question's whole prompt afresh (one token generated, nothing reused) with the 1, 2, 3 and 6 best
passages whole: time to first token by context size.

Caveat: on a shared 2-core machine other work adds noise; the configurations are compared within one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from answer.answerer import Answerer, AnswerMode, AskRequest
from answer.deadline import Deadline
from answer.evaluation import contains
from answer.focus import Focus
from answer.generation import ChatMessage
from answer.local_model import LlamaCppGenerator, packaged_model_path
from answer.prompts import LOCAL_STOPS
from bench.common import (
    CACHE,
    DOCENT,
    FACTS,
    REPORTS,
    ROOT,
    SAMPLE_DOCS,
    docent_env,
    new_report,
    percentiles,
    stderr_console,
    write_report,
)
from retrieval.access import ALL_ACCESS
from serve.components import make_answerer, start_retriever
from serve.settings import LLMSettings, Settings

BEFORE = {"local_passages": 0, "local_sentences": 0, "local_context_tokens": 0, "local_prompt_cache_mb": 0}
CONFIGS: dict[str, dict[str, int]] = {
    "before": BEFORE,
    "focused": {"local_prompt_cache_mb": 0, "local_prompt_threads": 1},
    "after": {},
    # beside the shipped defaults: the prompt read by one thread (the default until 2026-12-07), or 2, or a
    # smaller context
    "prompt1": {"local_prompt_threads": 1},
    "prompt2": {"local_prompt_threads": 2},
    "ctx128": {"local_context_tokens": 128},
}
SWEEP_PASSAGES = (1, 2, 3, 6)


@dataclass(slots=True)
class Call:
    started: float
    first: float | None
    text: str


class TimedModel(LlamaCppGenerator):
    """The local model, noting when each call began, when its first token came and what it wrote."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[Call] = []

    def _chunks(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        deadline: Deadline,
    ) -> Generator[dict[str, Any], None, None]:
        call = Call(time.perf_counter(), None, "")
        parts: list[str] = []
        try:
            for chunk in super()._chunks(messages, max_tokens, temperature, stop, deadline):
                choices = chunk.get("choices") or [{}]  # llama.cpp's server ends a stream with a usage-only chunk
                content = choices[0].get("delta", {}).get("content")
                if content and call.first is None:
                    call.first = time.perf_counter()
                parts.append(content or "")
                yield chunk
        finally:
            call.text = "".join(parts)
            self.calls.append(call)


def settings_of(data_dir: Path, changes: dict[str, int]) -> Settings:
    return Settings(data_dir=data_dir, llm=LLMSettings(**changes))


def model_of(settings: Settings, *, before: bool) -> TimedModel:
    llm = settings.llm
    model = TimedModel(
        packaged_model_path(),
        context_length=llm.local_context_length,
        threads=llm.local_threads,
        prompt_cache_mb=llm.local_prompt_cache_mb,
        max_turn_s=600,
        # before: llama-cpp-python's default (every core), which main kept
        prompt_threads=os.cpu_count() if before else (llm.local_prompt_threads or len(os.sched_getaffinity(0))),
    )
    model.start()
    return model


def interleaved(facts: list[dict]) -> list[dict]:
    """English and Chinese questions taking turns (the rest of the longer list at the end)."""
    en = [f for f in facts if f["language"] != "zh"]
    zh = [f for f in facts if f["language"] == "zh"]
    pairs = itertools.zip_longest(en, zh)
    return [f for pair in pairs for f in pair if f is not None]


def uncited(text: str) -> str:
    return re.sub(r"\s*\[\d{1,3}\]", "", text)


def ask(answerer: Answerer, model: TimedModel, fact: dict) -> dict[str, object]:
    """One golden question answered whole, with when the model's first token came."""
    model.calls.clear()
    started = time.perf_counter()
    answer = answerer.answer(AskRequest(fact["question"], ALL_ACCESS), Deadline(600))
    total = time.perf_counter() - started
    call = model.calls[0] if model.calls else None
    first = call.first if call is not None and call.first is not None else None
    t = answer.timings_ms
    own = call.text if call is not None else ""
    return {
        "question": fact["question"],
        "language": fact["language"],
        "mode": answer.mode.value,
        "ttft_s": round(first - started, 3) if first is not None else None,
        "prompt_read_s": round(first - call.started, 3) if call is not None and first is not None else None,
        "sources_s": round(sum(t.get(k, 0.0) for k in ("condense", "plan", "retrieve", "pack")) / 1000, 3),
        "pack_ms": t.get("pack"),
        "total_s": round(total, 3),
        "prompt_tokens": answer.usage.get("prompt_tokens", 0),
        "contains": contains(uncited(answer.text), [fact["answer"]]),
        "model_contains": contains(uncited(own), [fact["answer"]]) if call is not None else None,
        "replaced": answer.mode is AnswerMode.EXTRACTIVE,
    }


def sweep(answerer: Answerer, model: TimedModel, facts: list[dict], console) -> list[dict]:
    """Each question's prompt with the k best passages whole, read alone (one token): ttft by context size."""
    rows = []
    for fact in facts:
        plan, result, _ = answerer._prepare(AskRequest(fact["question"], ALL_ACCESS), Deadline(600))
        if result is None or not answerer.relevant(result):
            continue
        for k in SWEEP_PASSAGES:
            _, messages = answerer.pack(plan.query, result.passages[:k], result.language)
            tokens = sum(model.count_tokens([m.content for m in messages]))
            model._loaded().reset()  # the whole prompt read, not only what differs from the last one
            model.calls.clear()
            started = time.perf_counter()
            list(model.stream(messages, max_tokens=1, stop=LOCAL_STOPS))
            rows.append(
                {"passages": k, "language": fact["language"], "tokens": tokens, "s": time.perf_counter() - started}
            )
        console.print(f"sweep: {fact['question'][:60]}")
    return rows


def summary(rows: list[dict]) -> dict[str, object]:
    def values(key: str) -> list[float]:
        return [r[key] for r in rows if r[key] is not None]

    return {
        "ttft_s": percentiles(values("ttft_s"), digits=3),
        "prompt_read_s": percentiles(values("prompt_read_s"), digits=3),
        "sources_s": percentiles(values("sources_s"), digits=3),
        "prompt_tokens": percentiles(values("prompt_tokens"), digits=0),
        "total_s": percentiles(values("total_s"), digits=3),
        "containment": round(sum(values("contains")) / len(rows), 3),
        "model_containment": round(sum(values("model_contains")) / max(1, len(values("model_contains"))), 3),
        "replaced_by_quotes": sum(bool(r["replaced"]) for r in rows),
        "by_language": {
            lang: {
                "ttft_s_p50": (
                    percentiles([r["ttft_s"] for r in rows if r["language"] == lang and r["ttft_s"]]) or {}
                ).get("p50"),
                "containment": round(
                    sum(r["contains"] for r in rows if r["language"] == lang)
                    / max(1, sum(r["language"] == lang for r in rows)),
                    3,
                ),
            }
            for lang in sorted({r["language"] for r in rows})
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=CACHE / "ttft")
    parser.add_argument("--out", type=Path, default=REPORTS / "ttft.json")
    parser.add_argument("--limit", type=int, default=0, help="the first N questions (0: all)")
    parser.add_argument("--configs", default="before,focused,after", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--sweep-limit", type=int, default=12, help="questions the sweep reads (0: all)")
    args = parser.parse_args()
    console = stderr_console()
    started = time.perf_counter()
    subprocess.run(
        [*DOCENT, "ingest", str(SAMPLE_DOCS), "--public"],
        env=docent_env(args.data_dir, drop="DOCENT_"),
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    facts = interleaved(json.loads(FACTS.read_text(encoding="utf-8")))
    facts = facts[: args.limit] if args.limit else facts
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    base = Settings(data_dir=args.data_dir)
    index, retriever = start_retriever(base, rerank=False)
    try:
        runs = {}
        for name in names:
            settings = settings_of(args.data_dir, CONFIGS[name])
            model = model_of(settings, before=name == "before")
            runs[name] = (make_answerer(settings, retriever, model), model)
        rows: dict[str, list[dict]] = {name: [] for name in names}
        for fact in facts:
            for name, (answerer, model) in runs.items():
                row = ask(answerer, model, fact)
                rows[name].append(row)
                console.print(
                    f"{name:8} ttft {row['ttft_s']} s  tokens {row['prompt_tokens']:4}  "
                    f"contains {row['contains']:.0f}  {fact['question'][:50]}"
                )
        swept: list[dict] = []
        if not args.no_sweep:
            settings = settings_of(args.data_dir, BEFORE)
            model = model_of(settings, before=False)  # the shipped generator's one thread, no cache
            swept = sweep(make_answerer(settings, retriever, model), model, facts[: args.sweep_limit or None], console)
            model.close()
        for _, model in runs.values():
            model.close()
    finally:
        index.close()
    by_size = {
        k: {
            "tokens": percentiles([r["tokens"] for r in swept if r["passages"] == k], digits=0),
            "ttft_s": percentiles([r["s"] for r in swept if r["passages"] == k], digits=3),
        }
        for k in SWEEP_PASSAGES
        if any(r["passages"] == k for r in swept)
    }
    report = new_report(
        "ttft",
        questions=len(facts),
        order="English and Chinese alternating",
        configs={n: {**LLMSettings().model_dump(include={*BEFORE, *CONFIGS[n]}), **CONFIGS[n]} for n in names},
        summary={n: summary(rows[n]) for n in names},
        by_context_size=by_size,
        answers=rows,
        sweep=swept,
        focus_default=str(Focus()),
    )
    write_report(report, args.out, started)
    print(
        "| configuration | ttft p50 / p95 s | prompt read p50 s | sources p50 s | prompt tokens p50 | containment "
        "(answer) | containment (model's own) |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in names:
        s = report["summary"][n]
        print(
            f"| {n} | {s['ttft_s']['p50']} / {s['ttft_s']['p95']} | {s['prompt_read_s']['p50']} | "
            f"{s['sources_s']['p50']} | {s['prompt_tokens']['p50']:.0f} | {s['containment']} | "
            f"{s['model_containment']} |"
        )
    if by_size:
        print("\n| passages (whole) | prompt tokens p50 | ttft p50 / p95 s |\n|---|---|---|")
        for k, v in by_size.items():
            print(f"| {k} | {v['tokens']['p50']:.0f} | {v['ttft_s']['p50']} / {v['ttft_s']['p95']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
