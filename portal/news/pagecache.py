"""The public news pages' cache: rendered pages for anonymous readers, kept per process and keyed on the news
content version, with HTTP validators (ETag + 304).

What is cached, and why it is safe:

* Only the public pages (`/public/news/`, `/public/news/<id>`, the feeds), which show public, published items —
  the same to every anonymous reader — and only for a request with no logged-in user or member and no flashed
  message waiting in the session. Staff and members always get a freshly rendered page (their navigation, their
  scope), and such responses are `no-store` (portal.__init__'s security headers).
* The key holds the content version (`news_content_version`, one row), which every ORM write of an item, its
  audience or its images advances in the writing transaction (`_bump_on_flush`): an item unpublished, archived,
  made non-public or re-aimed at a region changes the version when it commits, and the next request of every
  process reads the new version and renders afresh — a cached page can't outlive the change that hides an item.
  The version is read before the page's own queries, so a page is never stored under a version newer than its
  content (at worst a newer page under the older version, replaced at the next change).
* The key also holds the full path with its query (page, rubric), the language, and the host (the feeds' absolute
  links). Entries also expire after `NEWS_PAGE_CACHE_SECONDS` (60), which bounds what the version does not cover
  (an organisation renamed, a new deployment's templates).
* HTTP: a strong ETag (a hash of the body) and `Cache-Control: no-cache` (a browser or proxy may keep the page but
  must revalidate it each time), `Vary: Cookie` (a logged-in reader's page differs by its navigation). A request
  whose `If-None-Match` matches gets `304 Not Modified`.
"""

from __future__ import annotations

import hashlib
import threading
import time

from flask import Response, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.news.models import NewsAudience, NewsContentVersion, NewsImage, NewsItem

# At most this many pages per process (~20 KB each for a list, less for an item): past it the cache starts over, so
# a crawler asking for endless query variants costs renders, never unbounded memory.
MAX_ENTRIES = 2000



class _Store:
    """One app's cache (in `app.extensions`, so two apps in one process — the tests — never share pages)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[tuple, tuple[float, str, bytes, str]] = {}  # key → (stored at, etag, body, mimetype)
        self.version: int | None = None


def _store() -> _Store:
    store = current_app.extensions.get("news_pagecache")
    if store is None:
        store = current_app.extensions.setdefault("news_pagecache", _Store())
    return store


_local = threading.local()  # this thread's own connection for reading the version (PostgreSQL)


def current_version() -> int:
    """The committed content version. On PostgreSQL read over a connection of this thread's own, in autocommit:
    one round trip, where the request's session would add a pool check-out ping, a BEGIN and a ROLLBACK — on a
    cached page those were most of the request's work."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return db.session.scalar(select(NewsContentVersion.version).where(NewsContentVersion.id == 1)) or 0
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    for attempt in (1, 2):
        conn = getattr(_local, "conn", None)
        if conn is None or conn.closed or _local.url != url:
            if conn is not None:
                conn.close()
            _local.conn, _local.url = psycopg.connect(url, autocommit=True), url
            conn = _local.conn
        try:
            row = conn.execute("SELECT version FROM news_content_version WHERE id = 1").fetchone()
            return row[0] if row else 0
        except psycopg.OperationalError:
            conn.close()  # the server restarted or dropped the connection: reconnect once
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _cacheable() -> bool:
    """An anonymous GET with nothing personal to show (a flashed message is shown once, to its reader)."""
    return (request.method == "GET" and not current_user.is_authenticated and "_flashes" not in session
            and current_app.config["NEWS_PAGE_CACHE"])


def serve(render, mimetype: str = "text/html") -> Response:
    """The page `render()` makes (a str or bytes), from the cache when it may be; ETag and 304 either way."""
    if not _cacheable():
        return Response(render(), mimetype=mimetype)
    version = current_version()  # before the page's own queries: see the module docstring
    key = (version, request.host, request.full_path, str(get_locale()))
    ttl = float(current_app.config["NEWS_PAGE_CACHE_SECONDS"])
    now = time.monotonic()
    store = _store()
    entry = store.entries.get(key)
    if entry is None or now - entry[0] > ttl:
        body = render()
        data = body.encode() if isinstance(body, str) else body
        entry = (now, hashlib.blake2b(data, digest_size=12).hexdigest(), data, mimetype)
        with store.lock:
            if store.version != version or len(store.entries) >= MAX_ENTRIES:
                store.entries.clear()  # older versions are never asked for again
                store.version = version
            store.entries[key] = entry
    _, etag, data, mimetype = entry
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache", "Vary": "Cookie"}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    return Response(data, mimetype=mimetype, headers=headers)


def clear() -> None:
    store = _store()
    with store.lock:
        store.entries.clear()
        store.version = None


def bump(session: Session) -> None:
    """Advance the content version in the session's transaction (creating its row if a bare schema lacks it)."""
    table = NewsContentVersion.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(id=1, version=1)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c.id],
                                               set_={"version": table.c.version + 1}))


_WATCHED = (NewsItem, NewsAudience, NewsImage)


@event.listens_for(Session, "after_flush")
def _bump_on_flush(session, flush_context):
    """Any ORM write of an item, its audience or its images advances the content version (same transaction)."""
    for obj in (*session.new, *session.deleted, *session.dirty):
        if isinstance(obj, _WATCHED) and (obj not in session.dirty or session.is_modified(obj)):
            bump(session)
            return
