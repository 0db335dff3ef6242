"""The index's tables: the queue of pending index updates (the outbox of the index) and PostgreSQL's documents.

`search_queue` gets a row in the same transaction as the change that needs re-indexing (`enqueue`), so a crash
between the commit and the indexing loses nothing: the row is still there and the next drain applies it. A drain
deletes only the rows it applied, after the index committed; applying a row twice is harmless (indexing replaces).

`search_documents` is the PostgreSQL backend's index: one row per indexed item with a `tsvector` (GIN) and the
reader-scope columns as arrays. On SQLite the table exists (one schema for both) but stays empty.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

TSVECTOR = Text().with_variant(postgresql.TSVECTOR(), "postgresql")
TEXT_ARRAY = Text().with_variant(postgresql.ARRAY(Text()), "postgresql")


class SearchQueue(db.Model):
    __tablename__ = "search_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<SearchQueue {self.kind}:{self.object_id}>"


class SearchDocument(db.Model):
    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "object_id", name="uq_search_documents_kind_object"),
        Index("ix_search_documents_published", "kind", "published_at"),
        Index("ix_search_documents_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    audience_orgs = mapped_column(TEXT_ARRAY, nullable=False)
    audience_cats = mapped_column(TEXT_ARRAY, nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tsv = mapped_column(TSVECTOR, nullable=True)

    def __repr__(self) -> str:
        return f"<SearchDocument {self.kind}:{self.object_id}>"
