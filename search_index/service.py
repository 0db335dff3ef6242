"""The index as the application uses it: which backend, the queue of updates, draining, rebuilding, and a search
that always answers (from the database when the index is missing, stale or failing; never an error page).

A domain registers a `Source` for its kind of document (`register_source`): how to load documents by id (None
for an item that must not be in the index: a draft, a deleted item), all of them in batches (a rebuild), the ids
changed since a moment (what a rebuild must re-apply), and the newest candidates in a reader's scope (the fallback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.orm import Session

from portal import clock
from portal.extensions import db
from search_index.base import MAX_HITS, Backend, Document, Hit, Results, Scope
from search_index.models import SearchQueue
from search_index.query import Query, matches, parse, score, snippet

log = logging.getLogger(__name__)

BACKENDS = ("whoosh", "postgresql")
DEFAULT_STALE_SECONDS = 300
FALLBACK_LIMIT = 3000  # the database answers from the newest items in scope, at most this many read


class Source(Protocol):
    kind: str

    def documents(self, ids: list[int]) -> dict[int, Document | None]: ...

    def batches(self, size: int) -> Iterator[list[Document]]: ...

    def changed_since(self, moment: datetime) -> list[int]: ...

    def candidates(self, scope: Scope, category: str | None, limit: int) -> Iterable[Document]: ...


SOURCES: dict[str, Source] = {}


def register_source(source: Source) -> None:
    SOURCES[source.kind] = source


# ---- the backend -------------------------------------------------------------------------------------------------


def backend_name(app=None) -> str:
    app = app or current_app
    name = app.config.get("SEARCH_BACKEND") or "whoosh"
    if name not in BACKENDS:
        raise ValueError(f"SEARCH_BACKEND: одно из {BACKENDS}, получено {name!r}")
    return name


def index_dir(app=None) -> Path:
    app = app or current_app
    return Path(app.config.get("SEARCH_INDEX_DIR") or Path(app.instance_path) / "search_index")


def get_backend(app=None) -> Backend:
    """The configured backend, one per application (a Whoosh index is opened once and reused)."""
    app = app or current_app
    cached = app.extensions.get("search_index")
    if cached is None:
        if backend_name(app) == "postgresql":
            from search_index.pg_backend import PostgresBackend

            cached = PostgresBackend()
        else:
            from search_index.whoosh_backend import WhooshBackend

            cached = WhooshBackend(index_dir(app))
            cached.rebuild_procs = max(1, int(app.config.get("SEARCH_REBUILD_PROCS") or 1))
        app.extensions["search_index"] = cached
    return cached


# ---- the queue: updates written with the change --------------------------------------------------------------------


def enqueue(kind: str, object_id: int) -> None:
    """Note in the current transaction that an object must be re-indexed (it exists iff the change commits)."""
    db.session.execute(insert(SearchQueue.__table__), {"kind": kind, "object_id": object_id,
                                                       "created_at": clock.now()})
    _forget_oldest()


@event.listens_for(Session, "after_flush")
def _queue_searchable(session, flush_context):
    """Models declaring `__searchable__ = kind` are queued for re-indexing whenever the ORM writes them."""
    rows = []
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = getattr(type(obj), "__searchable__", None)
        if kind and getattr(obj, "id", None) is not None and (obj not in session.dirty or session.is_modified(obj)):
            rows.append({"kind": kind, "object_id": obj.id, "created_at": clock.now()})
    if rows:
        session.execute(insert(SearchQueue.__table__), rows)
        _forget_oldest()


def pending(kind: str | None = None) -> int:
    q = select(func.count()).select_from(SearchQueue)
    if kind:
        q = q.where(SearchQueue.kind == kind)
    return db.session.scalar(q) or 0


DEFAULT_STALE_CHECK_SECONDS = 5.0


def _forget_oldest() -> None:
    try:
        current_app.extensions.pop("search_index_oldest", None)
    except RuntimeError:  # outside an application context
        pass


def _oldest_queued(kind: str):
    """The oldest queued update's time, read at most every SEARCH_STALE_CHECK_SECONDS per process (and again at
    once after this process queued or drained): asking the database on every search cost a query per search,
    and deciding that the index lags (SEARCH_STALE_SECONDS, minutes) a few seconds late changes nothing."""
    cache = current_app.extensions.setdefault("search_index_oldest", {})
    every = float(current_app.config.get("SEARCH_STALE_CHECK_SECONDS", DEFAULT_STALE_CHECK_SECONDS))
    now = time.monotonic()
    known = cache.get(kind)
    if known is not None and now - known[0] < every:
        return known[1]
    oldest = db.session.scalar(select(func.min(SearchQueue.created_at)).where(SearchQueue.kind == kind))
    cache[kind] = (now, oldest)
    return oldest


def is_stale(kind: str) -> bool:
    """Updates waiting longer than SEARCH_STALE_SECONDS: the worker is not draining, the index lags."""
    seconds = int(current_app.config.get("SEARCH_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    oldest = _oldest_queued(kind)
    if oldest is None:
        return False
    if oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return oldest < clock.now() - timedelta(seconds=seconds)


def drain(limit: int = 500) -> int:
    """Apply up to `limit` queued updates to the index; the rows go only after the index has them. Commits."""
    backend = get_backend()
    if backend.name == "postgresql":
        # Two drains at once would race (an older load written last); PostgreSQL's lock orders them.
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('search_queue'))"))
    rows = db.session.execute(select(SearchQueue.id, SearchQueue.kind, SearchQueue.object_id)
                              .order_by(SearchQueue.id).limit(limit)).all()
    if not rows:
        db.session.commit()
        return 0
    by_kind: dict[str, set[int]] = {}
    for _, kind, object_id in rows:
        by_kind.setdefault(kind, set()).add(object_id)
    for kind, ids in by_kind.items():
        source = SOURCES.get(kind)
        if source is None:
            continue
        _apply(backend, source, sorted(ids))
    db.session.execute(delete(SearchQueue).where(SearchQueue.id.in_([r[0] for r in rows])))
    db.session.commit()
    _forget_oldest()
    return len(rows)


def _apply(backend: Backend, source: Source, ids: list[int]) -> None:
    docs = source.documents(ids)
    backend.index([d for d in docs.values() if d is not None])
    backend.delete(source.kind, [i for i in ids if docs.get(i) is None])


def sync() -> None:
    """After a request's commit: bring the index up to date now if possible; a failure waits for the worker."""
    try:
        while drain() >= 500:
            pass
    except Exception:  # noqa: BLE001 — the change is committed and queued; the worker retries
        db.session.rollback()
        log.exception("Индекс поиска не обновлён сразу; обновление осталось в очереди")


# A change whose transaction began this long before the rebuild read the database is still re-applied after it.
REBUILD_MARGIN = timedelta(minutes=2)


def rebuild(kind: str, batch: int = 500) -> int:
    """Rebuild the kind's index from the database, in the background of publishing: the backend builds beside the
    live index (Whoosh: a new directory swapped in; PostgreSQL: committed batches), so searches and the drains
    of new publications go on meanwhile, and nothing is lost: every item changed since the rebuild started
    (`Source.changed_since`, with REBUILD_MARGIN for transactions that were open then) is applied again to the
    new index at the end, and the queued updates are left to be drained as usual (applying one twice is
    harmless). Commits; returns the number of documents indexed."""
    source = SOURCES[kind]
    backend = get_backend()
    started = clock.now() - REBUILD_MARGIN
    n = backend.rebuild(kind, source.batches(batch))
    db.session.commit()
    changed = source.changed_since(started)
    if changed:
        _apply(backend, source, changed)
    db.session.commit()
    sync()
    return n


# ---- searching ---------------------------------------------------------------------------------------------------


def search(kind: str, text: str, scope: Scope, *, page: int = 1, per_page: int = 10,
           category: str | None = None) -> Results:
    """Search; from the index when it is there and current, otherwise from the database. Never raises for a bad
    query or a broken index."""
    query = parse(text)
    page = max(1, min(int(page or 1), MAX_HITS // per_page + 1))
    if query.empty:
        return Results(query=query, page=page, per_page=per_page)
    backend = get_backend()
    try:
        if backend.ready() and not is_stale(kind):
            return backend.search(query, scope, kind=kind, page=page, per_page=per_page, category=category)
    except Exception:  # noqa: BLE001 — a broken index is answered from the database, and logged
        db.session.rollback()
        log.exception("Поиск по индексу не удался; ответ из базы данных")
    return fallback_search(kind, query, scope, page=page, per_page=per_page, category=category)


def fallback_search(kind: str, query: Query, scope: Scope, *, page: int = 1, per_page: int = 10,
                    category: str | None = None) -> Results:
    """The database's answer: the newest FALLBACK_LIMIT items in scope, matched and scored in Python."""
    results = Results(query=query, page=page, per_page=per_page, source="database")
    source = SOURCES[kind]
    found = []
    for doc in source.candidates(scope, category, FALLBACK_LIMIT):
        if scope.allows(doc) and (category is None or doc.category == category) and matches(
                query, f"{doc.title}\n{doc.content}"):
            found.append((score(query, doc.title, doc.content), doc))
    found.sort(key=lambda x: (-x[0], -x[1].published_at.timestamp()))
    results.total = len(found)
    for s, doc in found[(page - 1) * per_page: page * per_page]:
        results.hits.append(Hit(kind=kind, id=doc.id, title=doc.title, snippet=snippet(query, doc.content),
                                published_at=doc.published_at, category=doc.category, score=s))
    return results
