"""Docent inside other programs: a Python client of the HTTP API (`docent.client`) and retrievers for LlamaIndex
and LangChain (`docent.integrations`, the `integrations` extra).

Nothing here imports the server's packages (answer, ingest, retrieval, serve): a client installs and runs without
the models (tests/unit/test_architecture.py holds it to that).
"""
