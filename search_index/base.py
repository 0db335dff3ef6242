"""What every search backend takes and gives: documents, the reader's scope, hits, and the backend interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from search_index.query import Query

# A page of results never reaches past this many hits: «уточните запрос» instead of scoring every match of the
# commonest words (the work per query is bounded; see README «Поиск»).
MAX_HITS = 1000
ALL = "all"  # the audience token of an item meant for everyone (no org / no category restriction)


@dataclass(frozen=True)
class Document:
    """One searchable item as the index sees it (the domain turns its rows into these)."""

    kind: str
    id: int
    title: str
    lead: str
    body: str  # plain text (the sanitised HTML with its tags removed)
    category: str
    state: str  # "published" or "archived"; drafts are never indexed
    public: bool
    published_at: datetime
    audience_orgs: tuple[str, ...] = (ALL,)  # organisation paths '/1/7/' whose subtrees are meant, or ALL
    audience_cats: tuple[str, ...] = (ALL,)  # member categories meant, or ALL

    @property
    def content(self) -> str:
        return f"{self.lead}\n{self.body}".strip()


@dataclass(frozen=True)
class Scope:
    """What a reader may find, independent of the backend.

    ancestors: org paths from the root to the reader's organisation (items aimed at any of them reach the reader);
    None means every audience (central staff). subtree: staff also see items aimed inside their subtree.
    category: a member's category (None: any). archives: archived items too. public_only: anonymous readers.
    """

    ancestors: tuple[str, ...] | None = None
    subtree: str | None = None
    category: str | None = None
    archives: bool = False
    public_only: bool = False

    def allows(self, doc: Document) -> bool:
        """The same rule in Python (the fallback and the tests)."""
        if doc.state == "archived" and not self.archives:
            return False
        if doc.state not in ("published", "archived"):
            return False
        if self.public_only and not doc.public:
            return False
        if self.ancestors is not None:
            orgs = set(doc.audience_orgs)
            if not (ALL in orgs or orgs & set(self.ancestors)
                    or (self.subtree and any(o.startswith(self.subtree) for o in orgs))):
                return False
        if self.category is not None and ALL not in doc.audience_cats and self.category not in doc.audience_cats:
            return False
        return True


def ancestor_paths(path: str) -> tuple[str, ...]:
    """'/1/7/42/' → ('/1/', '/1/7/', '/1/7/42/')."""
    parts = [p for p in path.strip("/").split("/") if p]
    return tuple("/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts)))


@dataclass
class Hit:
    kind: str
    id: int
    title: str
    snippet: str  # HTML, escaped, matches in <mark>
    published_at: datetime | None
    category: str = ""
    score: float = 0.0


@dataclass
class Results:
    query: Query
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    total_is_lower_bound: bool = False  # «более N»
    page: int = 1
    per_page: int = 10
    source: str = ""  # "whoosh", "postgresql", or "database" (answered from the database)

    @property
    def pages(self) -> int:
        return max(1, (min(self.total, MAX_HITS) + self.per_page - 1) // self.per_page)


class Backend(ABC):
    """An index of documents. Writes are idempotent (indexing a document twice leaves one)."""

    name = ""

    @abstractmethod
    def ready(self) -> bool:
        """Whether the index exists and can answer (a missing Whoosh directory cannot)."""

    @abstractmethod
    def index(self, docs: list[Document]) -> None:
        """Add or replace documents."""

    @abstractmethod
    def delete(self, kind: str, ids: list[int]) -> None:
        """Remove documents (missing ones are fine)."""

    @abstractmethod
    def search(self, query: Query, scope: Scope, *, kind: str, page: int = 1, per_page: int = 10,
               category: str | None = None) -> Results:
        """Hits in the scope, ranked by relevance, newer first on ties."""

    @abstractmethod
    def clear(self) -> None:
        """Drop everything (before a rebuild into the same place)."""

    @abstractmethod
    def count(self, kind: str) -> int:
        """How many documents of a kind the index holds."""

    def rebuild(self, kind: str, batches) -> int:
        """Replace the kind's documents by those of `batches` (lists of Document). Default: clear and index."""
        self.clear()
        n = 0
        for batch in batches:
            self.index(batch)
            n += len(batch)
        return n
