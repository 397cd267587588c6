"""Turning text into search terms: jieba for Chinese, word tokens with stemming for other scripts.

The same function runs at index time and at query time, so a term always hashes to the same sparse index.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from functools import lru_cache

import jieba
import snowballstemmer

# Han ideographs (with extensions A and the compatibility block); kana is kept with it so that Japanese
# text is at least split into characters' words by jieba rather than dropped.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = f"[^\\W_{_CJK}]+"
_SEGMENT = re.compile(f"([{_CJK}]+)|({_WORD}(?:['’]{_WORD})*)")

ENGLISH_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves""".split()
)
# Function words and particles that carry no retrieval signal in Chinese.
CHINESE_STOPWORDS = frozenset(
    "的 了 和 是 在 就 都 而 及 与 着 或 一个 没有 我们 你们 他们 它们 这 那 之 也 被 "
    "把 让 从 对 于 以 为 上 下 中 等 并 其 该 此 将 由 向 但 如 若 则 所 很 又 还 吗 呢 吧 啊".split()
)

_init_lock = threading.Lock()
_initialized = False


def ensure_jieba() -> None:
    """Load jieba's dictionary once (0.7 s), quietly (it logs to stderr by default)."""
    global _initialized
    if _initialized:
        return
    with _init_lock:
        if not _initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _initialized = True


_stemmer = snowballstemmer.stemmer("english")
_stem_lock = threading.Lock()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem, cached: a corpus has few distinct words and the pure-Python stemmer is the
    slowest step of sparse encoding (75% of it before the cache)."""
    with _stem_lock:  # a snowballstemmer instance keeps per-call state
        return str(_stemmer.stemWord(word))


def terms(text: str) -> Iterator[str]:
    """Yield the normalized search terms of `text`, in order, stopwords removed."""
    for match in _SEGMENT.finditer(text.lower()):
        cjk, word = match.groups()
        if cjk:
            ensure_jieba()
            for token in jieba.cut_for_search(cjk):
                if token not in CHINESE_STOPWORDS:
                    yield token
        elif word not in ENGLISH_STOPWORDS:
            yield stem(word) if word.isascii() else word


def detect_language(text: str) -> str:
    """'zh' when Han characters make up a fair share of the letters, else 'en'; enough to pick a tokenizer."""
    cjk = sum(len(run) for run in _CJK_RUN.findall(text))
    letters = sum(1 for ch in text if ch.isalpha())
    return "zh" if letters and cjk / letters >= 0.2 else "en"
