"""The web page people use: ask (answers streamed with their sources), search, feedback, and for admin keys the
documents and their upload jobs.

Served by `docent serve` itself at `/`: one server-rendered template (the page's text in the reader's language)
and small dependency-free JavaScript modules under `/static`, with Markdown (marked) and its sanitizer
(DOMPurify) vendored as files, so the page works offline and needs no Node build. The page only calls the public
API with the reader's key, so it can do nothing a key could not do with curl.
"""
