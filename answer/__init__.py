"""The answering domain: plan a question, route it through model tiers, check the answer against the passages.

It sits beside `serve` and below it: it imports `retrieval` and nothing from `serve` or `ingest`, so the
answerer can be used and tested without a web server, a CLI or settings (the architecture test enforces it).
"""
