"""Russian analysis: the ONE place where the portal decides what a word's search term is.

A text becomes words (runs of letters and digits), each word is lowercased, «ё» becomes «е», Russian stop words
(Snowball's list, the same file PostgreSQL's `russian` configuration uses) are dropped, and the rest is stemmed by
the Russian Snowball stemmer (PyStemmer, a C extension, with a per-process cache: a union's vocabulary is small and
its commonest words repeat in every item). «профсоюза» and «профсоюзом» both become «профсоюз», «билеты» and
«билет» both «билет».

Every consumer goes through here: the Whoosh analyzer (`whoosh_backend.RussianFilter`), the query parser (both backends),
the database fallback and the benchmark. PostgreSQL stems *documents* with its own `russian` configuration, which
runs the same Snowball algorithm; `tests/test_search_index.py` checks on PostgreSQL that both agree on the test
vocabulary, and queries for PostgreSQL are built from `terms()` so the query side is decided here too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import Stemmer

# Letters and digits; the underscore is not part of a word (\w would keep it).
WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOP_WORDS: frozenset[str] = frozenset(
    w.strip().replace("ё", "е") for w in (Path(__file__).with_name("russian.stop")).read_text("utf-8").split() if w.strip())

_stemmer = Stemmer.Stemmer("russian")
# PyStemmer keeps its own cache too; ours also remembers stop words and the normalisation.
_stemmer.maxCacheSize = 0


def normalise(text: str) -> str:
    """Lowercase with ё folded to е: what every comparison of words starts from."""
    return text.lower().replace("ё", "е")


@lru_cache(maxsize=200_000)
def term_of(word: str) -> str | None:
    """The search term of one word, or None for a stop word. `word` may be in any case, with ё."""
    word = normalise(word)
    if not word or word in STOP_WORDS:
        return None
    return _stemmer.stemWord(word)


def positions(text: str) -> list[tuple[int, str]]:
    """(position, term) for each word of `text` that is not a stop word; positions count every word, so a phrase
    with a stop word inside keeps its gap (PostgreSQL counts the same way)."""
    out = []
    for pos, match in enumerate(WORD.finditer(text or "")):
        term = term_of(match.group())
        if term is not None:
            out.append((pos, term))
    return out


def terms(text: str) -> list[str]:
    """The terms the analyzer makes of a text, in order (duplicates kept)."""
    out = []
    for match in WORD.finditer(text or ""):
        term = term_of(match.group())
        if term is not None:
            out.append(term)
    return out
