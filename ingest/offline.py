"""Make unstructured work offline and quietly.

unstructured 0.27 downloads spaCy's `en_core_web_sm` from GitHub the first time it classifies text, and every
docx/pptx/html/md/eml/txt partition fails without it. Docent installs a rule-based pipeline instead: a blank
English tokenizer with a sentencizer that knows CJK sentence ends, and a component that marks words as verbs
so the "narrative text needs a verb" heuristic does not turn every paragraph into a title. Docent trusts
titles only where the format marks them (heading styles, <h1>…, slide titles), see `parsing.py`.
"""

from __future__ import annotations

import os

_configured = False


def configure_unstructured() -> None:
    """Idempotent; call before the first partition in a process."""
    global _configured
    if _configured:
        return
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    import spacy
    import unstructured.nlp.tokenize as tokenize
    from spacy.language import Language
    from spacy.tokens import Doc

    if "docent_words_as_verbs" not in Language.factories:

        @Language.component("docent_words_as_verbs")
        def _words_as_verbs(doc: Doc) -> Doc:
            for token in doc:
                if token.is_alpha:
                    token.tag_ = "VB"
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "?", "。", "！", "？", "；"]})
    nlp.add_pipe("docent_words_as_verbs")
    # unstructured's loader is an lru_cache; any function returning the pipeline replaces it.
    tokenize._get_nlp = lambda: nlp  # type: ignore[assignment]
    _configured = True
