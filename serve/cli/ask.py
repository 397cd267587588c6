"""`docent ask QUESTION`: answer in this process; the answer streams to stdout as it is written, then its sources."""

from __future__ import annotations

import argparse
import json

from serve.cli import exits, options
from serve.settings import Settings

HOW = {
    "generated": "written by {model}",
    "extractive": "quoted from the documents (no model)",
    "not_found": "not found in the documents",
    "chat": "a reply without searching",
    "out_of_scope": "not a question about the documents",
}


def register(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question from the documents, with sources")
    ask.add_argument("question", help="the question, in English or Chinese")
    options.add_principal(ask, "ask")
    options.add_filters(ask)
    ask.add_argument("--extractive", action="store_true", help="quote the best sentences; no model")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from answer.answerer import Answer, AskRequest, Delta
    from serve.composition import command
    from serve.presenting import CLI, sources_block

    answer: Answer | None = None
    with command(settings) as process:
        _, retriever = process.retriever(rerank=True)
        answerer = process.answerer(retriever, None if args.extractive else process.generator())
        request = AskRequest(args.question, options.access(args), options.filters(args), extractive=args.extractive)
        if args.json:
            print(json.dumps(answerer.answer(request).to_dict(), ensure_ascii=False))
            return exits.OK
        for event in answerer.stream(request):
            if isinstance(event, Delta):
                print(event.text, end="", flush=True)
            else:
                answer = event
    assert answer is not None
    how = HOW[answer.mode.value].format(model=answer.model)
    if answer.route is not None and answer.route.escalated and answer.mode.value == "generated":
        how += f", handed on by the small model ({', '.join(answer.route.reasons)})"
    if answer.fallback_reason:
        how += f"; the model failed: {answer.fallback_reason}"
    print(f"\n\n({how})")
    if answer.unsupported:
        print(f"warning: {len(answer.unsupported)} sentence(s) not supported by the cited passages")
    block = sources_block(answer, CLI)
    if block:
        print(block)
    return exits.OK
