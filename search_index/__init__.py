"""Full-text search with Russian morphology (the design card's `search_index/` package).

`terms(text)` is the one place where morphology is decided. Backends: Whoosh (default, a directory in the
instance folder) and PostgreSQL's own full-text search (`SEARCH_BACKEND=postgresql`), behind one interface
(`base.Backend`). Index updates go through a queue written with the change (`enqueue`, or a model's
`__searchable__`), drained by the worker and right after a request's commit (`sync`). `search()` always answers.
"""

from search_index.analysis import normalise, term_of, terms
from search_index.base import ALL as ALL_TOKEN
from search_index.base import Backend, Document, Hit, Results, Scope, ancestor_paths
from search_index.query import Query, parse
from search_index.service import (
    drain,
    enqueue,
    fallback_search,
    get_backend,
    pending,
    rebuild,
    register_source,
    search,
    sync,
)

__all__ = ["ALL_TOKEN", "terms", "term_of", "normalise", "Backend", "Document", "Hit", "Results", "Scope", "ancestor_paths",
           "Query", "parse", "drain", "enqueue", "fallback_search", "get_backend", "pending", "rebuild",
           "register_source", "search", "sync"]
