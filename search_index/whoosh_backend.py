"""The Whoosh backend (the default): a directory in the instance folder, one writer at a time.

Schema: title (boosted) and content (lead + body) analysed by `analysis.term_of`, stored for the snippets; the
reader-scope fields are keywords (audience org paths, member categories), state and public as ids, the publication
time as a sortable number. Ranking is BM25F; Whoosh's block-max pruning finds the top N without scoring every
posting of the commonest words, and N is bounded by the page (never past `MAX_HITS`). Ties in score go to the newer
item by re-sorting the top N (ties across the N-th place may fall either way; see README «Поиск»).

Phrases: a `pairs` field holds every two consecutive terms as one token (`PairTokenizer`), so a two-word phrase is
one term lookup, exact and ranked like a word, and a longer one is the AND of its pairs checked on the stored text
(`_phrase_search`). Whoosh's own phrase matcher decodes the positions of every document holding all the words
(seconds for the commonest words), and a check limited to the best few hundred by the words alone missed matches
ranked below them; neither is used.

A full rebuild writes a fresh index beside the live one and swaps directories, so searching and publishing go on
meanwhile; updates queued during the rebuild are re-applied after the swap (`service.rebuild`).
"""

from __future__ import annotations

import heapq
import os
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from whoosh import index as windex
from whoosh import query as wq
from whoosh.analysis import Filter, RegexTokenizer, Token, Tokenizer
from whoosh.collectors import FilterCollector, TopCollector
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.matching import IntersectionMatcher, ListMatcher, NullMatcher
from whoosh.writing import LockError

from search_index.analysis import WORD, term_of
from search_index.analysis import positions as term_positions
from search_index.base import ALL, MAX_HITS, Backend, Document, Hit, Results, Scope
from search_index.query import Query, matches, snippet

INDEX_NAME = "news"


class RussianFilter(Filter):
    """Each token's text becomes its `term_of` (stop words dropped); positions and character ranges kept."""

    def __call__(self, tokens):
        for t in tokens:
            term = term_of(t.text)
            if term is None:
                continue
            t.text = term
            yield t

    def __eq__(self, other):
        return isinstance(other, RussianFilter)


def analyzer():
    return RegexTokenizer(WORD.pattern) | RussianFilter()


def pair_token(a: tuple[int, str], b: tuple[int, str]) -> str:
    """Two terms that follow each other (stop words between them counted in the gap) as one token: «член_профсоюз»,
    «член_3_профсоюз» for «члены нашего с вами профсоюза». Terms never hold «_» (`analysis.WORD`)."""
    gap = b[0] - a[0]
    return f"{a[1]}_{b[1]}" if gap == 1 else f"{a[1]}_{gap}_{b[1]}"


def pairs_of(parts) -> list[str]:
    """The pair tokens of a sequence of (position, term)."""
    return [pair_token(a, b) for a, b in zip(parts, parts[1:], strict=False)]


class PairTokenizer(Tokenizer):
    """The `pairs` field: each two consecutive terms of the text (by `analysis.positions`, so the same morphology)
    as one token. A phrase of two words is then one term lookup, and a longer one an AND of its pairs, checked on
    the stored text: exact wherever the match ranks, without decoding word positions (see `_phrase_search`)."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True, start_pos=0,
                 start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for i, text in enumerate(pairs_of(term_positions(value))):
            t.text = text
            t.boost = 1.0
            t.stopped = False
            if positions:
                t.pos = start_pos + i
            yield t

    def __eq__(self, other):
        return isinstance(other, PairTokenizer)


def schema() -> Schema:
    ana = analyzer()
    return Schema(
        key=ID(unique=True, stored=True),  # "kind:id"
        kind=ID(stored=True),
        id=STORED(),
        title=TEXT(analyzer=ana, stored=True, field_boost=3.0, phrase=True),
        content=TEXT(analyzer=ana, stored=True, phrase=True),
        pairs=TEXT(analyzer=PairTokenizer(), phrase=False),  # title + content, see PairTokenizer
        category=ID(stored=True),
        state=ID(stored=True),
        public=ID(),
        audience=KEYWORD(scorable=False, lowercase=False, commas=False),
        cats=KEYWORD(scorable=False, lowercase=False, commas=False),
        published=NUMERIC(int, bits=64, signed=True, sortable=True, stored=True),
    )


def _ts(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _fields(doc: Document) -> dict:
    return {
        "key": f"{doc.kind}:{doc.id}", "kind": doc.kind, "id": doc.id, "title": doc.title, "content": doc.content,
        "pairs": f"{doc.title}\n{doc.content}",
        "category": doc.category, "state": doc.state, "public": "1" if doc.public else "0",
        "audience": " ".join(doc.audience_orgs) or ALL, "cats": " ".join(doc.audience_cats) or ALL,
        "published": _ts(doc.published_at),
    }


def scope_filter(scope: Scope, kind: str, category: str | None = None):
    """The reader's scope as a Whoosh filter query (no scoring)."""
    parts = [wq.Term("kind", kind)]
    parts.append(wq.Or([wq.Term("state", "published"), wq.Term("state", "archived")]) if scope.archives
                 else wq.Term("state", "published"))
    if scope.public_only:
        parts.append(wq.Term("public", "1"))
    if scope.ancestors is not None:
        orgs = [wq.Term("audience", ALL), *(wq.Term("audience", p) for p in scope.ancestors)]
        if scope.subtree:
            orgs.append(wq.Prefix("audience", scope.subtree))
        parts.append(wq.Or(orgs))
    if scope.category is not None:
        parts.append(wq.Or([wq.Term("cats", ALL), wq.Term("cats", scope.category)]))
    if category:
        parts.append(wq.Term("category", category))
    return wq.And(parts)


def compile_query(query: Query):
    """The parsed query over title and content (a clause matches in either)."""
    def either(make):
        return wq.Or([make("title"), make("content")])

    clauses = [either(lambda f, t=t: wq.Term(f, t)) for t in query.terms]
    clauses += [either(lambda f, p=p: wq.Prefix(f, p)) for p in query.prefixes]
    for phrase in query.phrases:
        # The phrase's pairs make it a phrase (exact for two words, a necessary condition for more, checked on the
        # stored text) and rank it (how often, in how long an item); its words are not matched again: their
        # postings are the longest in the index, and intersecting them with the pairs cost more than the rest.
        clauses += [wq.Term("pairs", p) for p in dict.fromkeys(pairs_of(phrase.parts))]
    return wq.And(clauses)


EXACT_COUNT_UP_TO = 500

# The recent tier: a query matching more than TIER_ABOVE documents (the commonest words: in almost every item, so
# relevance hardly tells the items apart and Whoosh's block-max pruning skips little) is ranked over the newest
# TIER_SIZE documents only (2 000, as PostgreSQL's CANDIDATES), by publication time; the rest is «more than N». The work per query is then bounded
# by the tier, not by the index. When the tier holds fewer hits than the page needs (a narrow scope, a deep page),
# the query is ranked over everything.
TIER_SIZE = 2000
TIER_ABOVE = 10000


class InTier(wq.WrappingQuery):
    """The child query's matches among the given documents (per leaf searcher: segment-relative, sorted)."""

    def __init__(self, child, ids_by_leaf: dict):
        super().__init__(child)
        self.ids_by_leaf = ids_by_leaf

    def _rewrap(self, child):
        return InTier(child, self.ids_by_leaf)

    def matcher(self, searcher, context=None):
        ids = self.ids_by_leaf.get(id(searcher))
        if not ids:
            return NullMatcher()
        m = self.child.matcher(searcher, context)
        if not m.is_active():
            return NullMatcher()
        # The list matcher leads (it is the shorter): the child's postings are skipped to each tier document.
        return IntersectionMatcher(m, ListMatcher(ids, all_weights=1.0))


def recent_tier(s, size: int | None = None) -> dict:
    """{id(leaf searcher): sorted segment-relative docnums of the newest `size` documents}, from the sortable
    `published` column (read once per index generation, kept with the scope filters)."""
    size = size or TIER_SIZE
    leaves = s.leaf_searchers()
    values = [list(sub.reader().column_reader("published", translate=False)) if sub.reader().has_column("published")
              else [] for sub, _ in leaves]
    everything = [v for vals in values for v in vals]
    if len(everything) <= size:
        return {id(sub): list(range(len(vals))) for (sub, _), vals in zip(leaves, values, strict=True)}
    floor = heapq.nlargest(size, everything)[-1]
    return {id(sub): [i for i, v in enumerate(vals) if v >= floor] for (sub, _), vals in zip(leaves, values, strict=True)}


def _total(found, limit: int, estimate: int) -> tuple[int, bool]:
    """How many hits, without counting every match of common words: exact when the top N held them all or the
    estimate is small (counting is then cheap); otherwise «more than MAX_HITS» or the estimate. `estimate` is the
    query's own (from the term statistics) scaled by the share of the index the reader's scope allows: Whoosh's
    `estimated_length()` of a filtered search counts every match (it was most of the time of a search)."""
    if found.scored_length() < limit:
        return found.scored_length(), False
    if estimate <= EXACT_COUNT_UP_TO:
        return len(found), False
    if estimate > MAX_HITS:
        return MAX_HITS, True
    return estimate, False


class WhooshBackend(Backend):
    name = "whoosh"

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self._ix = None
        self._local = threading.local()
        self._writes = 0

    def _searcher(self):
        """A searcher kept per thread and refreshed when the index changed (opening one per query re-reads the
        segment files), with the reader-scope filters it has computed (a scope's document set is computed once
        per index generation instead of once per query)."""
        local = self._local
        searcher = getattr(local, "searcher", None)
        if searcher is not None and getattr(local, "ix", None) is self._ix and self._ix is not None:
            # Asking the directory for a newer generation costs a listing: at most once a second, and at once
            # after this process wrote (another process's update shows within a second).
            now = time.monotonic()
            if self._writes != getattr(local, "writes", None) or now - getattr(local, "checked", 0) > 1.0:
                local.writes, local.checked = self._writes, now
                if self._inode() != getattr(local, "inode", None):
                    # Another process swapped a rebuilt index in: its generation may equal ours, reopen.
                    searcher.close()
                    local.searcher = None
                    self._ix = None
                    return self._searcher()
                fresh = searcher.refresh()
                if fresh is not searcher:
                    searcher.close()
                    local.searcher, local.filters = fresh, {}
            return local.searcher, local.filters
        if searcher is not None:
            searcher.close()
        local.ix = self._open(create=False)
        local.inode = self._inode()
        local.searcher, local.filters = local.ix.searcher(), {}
        return local.searcher, local.filters

    def _inode(self):
        try:
            return os.stat(self.directory).st_ino
        except OSError:
            return None

    # -- the index ----------------------------------------------------------------------------------------------

    def ready(self) -> bool:
        # An opened index whose directory is still there is ready; looking for its table of contents on every query
        # lists the directory.
        if self._ix is not None and self.directory.is_dir():
            return True
        return self.directory.is_dir() and windex.exists_in(str(self.directory), INDEX_NAME)

    def _open(self, create: bool = True):
        if self._ix is not None and self.ready():
            return self._ix
        self._ix = None
        if not self.ready():
            if not create:
                raise FileNotFoundError(str(self.directory))
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ix = windex.create_in(str(self.directory), schema(), indexname=INDEX_NAME)
        else:
            self._ix = windex.open_dir(str(self.directory), indexname=INDEX_NAME)
        return self._ix

    def _writer(self, ix, procs: int = 1, limitmb: int = 128):
        # Another process holding the lock (a worker draining the queue) is waited for, not failed.
        deadline = time.monotonic() + 30
        while True:
            try:
                # Several processes write a segment each (multisegment: merging them afterwards would cost as much
                # again in Python); a later commit's merge policy folds them in as usual.
                return (ix.writer(procs=procs, limitmb=limitmb, multisegment=True) if procs > 1
                        else ix.writer(limitmb=limitmb))
            except LockError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def index(self, docs: list[Document], procs: int = 1) -> None:
        if not docs:
            return
        ix = self._open()
        w = self._writer(ix, procs)
        try:
            for doc in docs:
                w.update_document(**_fields(doc))
        except BaseException:
            w.cancel()
            raise
        w.commit()
        self._writes += 1

    def add_fresh(self, docs, procs: int = 1) -> None:
        """Add documents known not to be in the index (a rebuild): no delete-by-key per document."""
        ix = self._open()
        w = self._writer(ix, procs)
        try:
            for doc in docs:
                w.add_document(**_fields(doc))
        except BaseException:
            w.cancel()
            raise
        w.commit()

    def delete(self, kind: str, ids: list[int]) -> None:
        if not ids or not self.ready():
            return
        ix = self._open()
        w = self._writer(ix)
        for i in ids:
            w.delete_by_term("key", f"{kind}:{i}")
        w.commit()
        self._writes += 1

    def clear(self) -> None:
        self._ix = None
        self._writes += 1
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self._open()

    def count(self, kind: str) -> int:
        if not self.ready():
            return 0
        with self._open(create=False).searcher() as s:
            return s.doc_count() if kind is None else len(list(s.document_numbers(kind=kind)))

    rebuild_procs = 1  # SEARCH_REBUILD_PROCS: processes writing a full rebuild (service.get_backend sets it)

    def rebuild(self, kind: str, batches, procs: int | None = None) -> int:
        """Build a new index in a sibling directory, then swap it in (readers keep the old one meanwhile, and
        publications are written to the old one until the swap; `service.rebuild` applies them again after it).
        The swap is made holding the live index's write lock, so a drain in another process writes either before
        it (and is re-applied) or into the new index, never into the directory being moved away."""
        fresh = WhooshBackend(self.directory.with_name(self.directory.name + f".new-{os.getpid()}"))
        if fresh.directory.exists():
            shutil.rmtree(fresh.directory)
        # One writer for the whole build: a commit per batch would write (and merge) a segment per batch.
        w = fresh._writer(fresh._open(), procs or self.rebuild_procs, limitmb=256)
        n = 0
        try:
            for batch in batches:
                for doc in batch:
                    w.add_document(**_fields(doc))
                n += len(batch)
        except BaseException:
            w.cancel()
            raise
        w.commit()
        fresh._ix = None
        old = self.directory.with_name(self.directory.name + f".old-{os.getpid()}")
        lock = None
        if self.ready():
            lock = self._open(create=False).storage.lock(INDEX_NAME + "_WRITELOCK")
            deadline = time.monotonic() + 60
            while not lock.acquire(blocking=False):
                if time.monotonic() > deadline:
                    lock = None  # a stuck writer: swap anyway (the re-applied changes cover it)
                    break
                time.sleep(0.05)
        self._ix = None
        try:
            if self.directory.exists():
                os.replace(self.directory, old)
            os.replace(fresh.directory, self.directory)
        finally:
            if lock is not None:
                lock.release()
        shutil.rmtree(old, ignore_errors=True)
        self._writes += 1
        return n

    # -- searching ----------------------------------------------------------------------------------------------

    def _phrase_search(self, s, query: Query, allowed, limit: int, share: float):
        """Phrases of three words or more: the query's pairs are a necessary condition (a document may hold «а б»
        and «б в» apart), so hits are checked on their stored text by the same analysis (`query.matches`), in
        ranked order, in windows growing until the page is full or every candidate was checked: a phrase match is
        found wherever it ranks. Candidates holding every pair are nearly always matches, so the first window
        usually fills the page; the total is then the candidates' count, marked as an upper estimate."""
        compiled = compile_query(query)
        phrase_only = Query(text=query.text, phrases=list(query.phrases))
        window, checked, top = max(limit * 2, 20), 0, []
        while True:
            found = s.search(compiled, filter=allowed, limit=window, terms=False)
            for h in found[checked:]:
                f = h.fields()
                if matches(phrase_only, f"{f['title']}\n{f['content']}"):
                    top.append((round(h.score, 6), f["published"], f))
            checked = found.scored_length()
            if len(top) >= limit or checked < window:
                break
            window *= 4
        if checked < window:  # every candidate checked: the count is exact
            return top, len(top), False
        total, lower = _total(found, window, int(compiled.estimate_size(s.reader()) * share))
        return top, max(total, len(top)), lower

    def search(self, query: Query, scope: Scope, *, kind: str, page: int = 1, per_page: int = 10,
               category: str | None = None) -> Results:
        results = Results(query=query, page=page, per_page=per_page, source=self.name)
        if query.empty:
            return results
        s, filters = self._searcher()
        limit = min(page * per_page, MAX_HITS)
        key = (scope, kind, category)
        allowed = filters.get(key)
        if allowed is None:
            if len(filters) > 256:
                filters.clear()
            allowed = filters[key] = s._filter_to_comb(scope_filter(scope, kind, category))
            filters[("size", key)] = len(allowed)
        share = filters[("size", key)] / max(1, s.doc_count_all())
        if not share:
            return results  # an empty filter would read to Whoosh as no filter at all
        if any(len(p.parts) > 2 for p in query.phrases):
            top, results.total, results.total_is_lower_bound = self._phrase_search(s, query, allowed, limit, share)
        else:
            compiled = compile_query(query)
            found = None
            estimate = compiled.estimate_size(s.reader())
            in_scope = int(estimate * share)
            if estimate > TIER_ABOVE:
                tier = filters.get("tier")
                if tier is None:
                    tier = filters["tier"] = recent_tier(s)
                collector = FilterCollector(TopCollector(limit=limit), allow=allowed)
                s.search_with_collector(InTier(compiled, tier), collector)
                found = collector.results()
                if found.scored_length() < limit:
                    found = None  # the tier cannot fill the page: rank everything
                else:
                    results.total, results.total_is_lower_bound = min(in_scope, MAX_HITS), in_scope > MAX_HITS
            if found is None:
                found = s.search(compiled, filter=allowed, limit=limit, terms=False)
                results.total, results.total_is_lower_bound = _total(found, limit, in_scope)
            top = [(round(h.score, 6), h["published"], h.fields()) for h in found]
        # Relevance first, newer first on equal scores.
        top.sort(key=lambda x: (-x[0], -x[1]))
        for score, published, f in top[(page - 1) * per_page: page * per_page]:
            results.hits.append(Hit(kind=f["kind"], id=f["id"], title=f["title"],
                                    snippet=snippet(query, f["content"]),
                                    published_at=datetime.fromtimestamp(published, UTC),
                                    category=f.get("category", ""), score=score))
        return results
