"""The search query language, parsed once for every backend, and the pure-Python matcher and snippets.

A query is words (all must occur, in any form: «профсоюза» finds «профсоюзом»), "quoted phrases" (the words in
that order, stop words between them counted) and prefixes (`профсою*`, at least three letters, matched against
the normalised but unstemmed prefix, since stemming a fragment of a word gives nonsense). Anything else a user
types (punctuation, operators) is read as words, so no query is ever a syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from search_index.analysis import WORD, normalise, positions, term_of

MIN_PREFIX = 3
MAX_CLAUSES = 12  # a pasted paragraph is not a query: the first twelve clauses decide

_TOKEN = re.compile(r'"([^"]*)"?|([^\W_]+)(\*)?', re.UNICODE)


@dataclass(frozen=True)
class Phrase:
    """Terms with their relative positions: ((0, 'член'), (1, 'профсоюз'), (4, 'сем'))."""

    parts: tuple[tuple[int, str], ...]


@dataclass
class Query:
    text: str
    terms: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    phrases: list[Phrase] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.terms or self.prefixes or self.phrases)

    def all_terms(self) -> list[str]:
        """Every exact term of the query (for highlighting)."""
        return [*self.terms, *(t for p in self.phrases for _, t in p.parts)]


def parse(text: str) -> Query:
    """Parse what the user typed; stop words alone make an empty query."""
    q = Query(text=(text or "").strip()[:500])
    count = 0
    for m in _TOKEN.finditer(q.text):
        if count >= MAX_CLAUSES:
            break
        phrase, word, star = m.groups()
        if phrase is not None:
            parts = positions(phrase)
            if len(parts) == 1:
                q.terms.append(parts[0][1])
            elif parts:
                first = parts[0][0]
                q.phrases.append(Phrase(tuple((p - first, t) for p, t in parts)))
            else:
                continue
        elif star:
            prefix = normalise(word)
            if len(prefix) < MIN_PREFIX:
                term = term_of(word)
                if term is None:
                    continue
                q.terms.append(term)
            else:
                q.prefixes.append(prefix)
        else:
            term = term_of(word)
            if term is None:
                continue
            if term not in q.terms:
                q.terms.append(term)
        count += 1
    return q


# ---- matching in Python (the database fallback) ------------------------------------------------------------------


def matches(query: Query, text: str) -> bool:
    """Whether a text satisfies the query (every clause), by the same analysis as the index."""
    pos = positions(text)
    present = {t for _, t in pos}
    if any(t not in present for t in query.terms):
        return False
    if any(not any(t.startswith(p) for t in present) for p in query.prefixes):
        return False
    if query.phrases:
        at: dict[str, set[int]] = {}
        for p, t in pos:
            at.setdefault(t, set()).add(p)
        for phrase in query.phrases:
            first = phrase.parts[0][1]
            if not any(all(start + off in at.get(t, ()) for off, t in phrase.parts) for start in at.get(first, ())):
                return False
    return True


def score(query: Query, title: str, text: str) -> float:
    """A small relevance score for the fallback: term frequency, title words three times."""
    wanted = set(query.all_terms())
    total = 0.0
    for weight, part in ((3.0, title), (1.0, text)):
        for _, t in positions(part):
            if t in wanted or any(t.startswith(p) for p in query.prefixes):
                total += weight
    return total


def snippet(query: Query, text: str, width: int = 30, limit: int = 2) -> str:
    """HTML: up to `limit` fragments of about `width` words around the matches, matches in <mark>, all escaped.

    Every word's term is decided once per distinct word form (a text repeats its words), and the scan for matches
    stops as soon as the fragments are decided: ten snippets are part of every search's time."""
    words = list(WORD.finditer(text or ""))
    if not words:
        return ""
    wanted = set(query.all_terms())
    prefixes = tuple(query.prefixes)
    known: dict[str, bool] = {}

    def hit(word: str) -> bool:
        found = known.get(word)
        if found is None:
            t = term_of(word)
            found = known[word] = t is not None and (t in wanted or (bool(prefixes) and t.startswith(prefixes)))
        return found

    fragments, covered = [], -1
    for i, m in enumerate(words):
        if i <= covered or not hit(m.group()):
            continue
        start, end = max(0, i - width // 3), min(len(words), i - width // 3 + width)
        start = max(0, min(start, end - width))
        fragments.append((start, end))
        covered = end - 1
        if len(fragments) >= limit:
            break
    if not fragments:
        fragments = [(0, min(len(words), width))]
    out = []
    for start, end in fragments:
        a = words[start].start()
        piece, cursor = [], a
        for m in words[start:end]:
            piece.append(escape(text[cursor:m.start()]))
            piece.append(f"<mark>{escape(m.group())}</mark>" if hit(m.group()) else escape(m.group()))
            cursor = m.end()
        html = "".join(piece)
        out.append(("… " if start > 0 else "") + html + (" …" if end < len(words) else ""))
    return " ".join(out)
