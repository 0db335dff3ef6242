"""The PostgreSQL backend: the `russian` text-search configuration, a GIN index and `ts_rank`.

For deployments with several web nodes (a local Whoosh directory per node is the wrong shape there) or where the
database is the one thing backed up. Documents are stored in `search_documents` with
`setweight(to_tsvector('russian', title), 'A') || setweight(to_tsvector('russian', lead + body), 'B')`, computed
from the text already lowercased with ё→е by `analysis.normalise`; the russian configuration runs the same Snowball
stemmer as `analysis.term_of` (a test checks they agree). The query is built from `terms()` as a tsquery in the
`simple` configuration (so the query's morphology is decided in Python, the one place): words with `&`, phrases
with `<->` / `<N>` (stop words between counted, as PostgreSQL counts them), prefixes as `:*`.

The work per query is bounded: only the newest `CANDIDATES` matches in the reader's scope are ranked (the recent
tier: for the commonest words PostgreSQL walks the date index and stops after that many), then `ts_rank` orders
them, newer first on ties. Snippets are made in Python by `query.snippet`, as for Whoosh (the same marks for both
backends, and `ts_headline` on ten items of ~250 words cost as much as the rest of the query).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert

from portal.extensions import db
from search_index.analysis import normalise
from search_index.base import ALL, MAX_HITS, Backend, Document, Hit, Results, Scope
from search_index.models import SearchDocument
from search_index.query import Query, snippet

CANDIDATES = 2000


def _lexeme(term: str) -> str:
    return "'" + term.replace("'", "''").replace("\\", "\\\\") + "'"


def tsquery_text(query: Query) -> str:
    """The parsed query as to_tsquery('simple', …) text."""
    parts = [_lexeme(t) for t in query.terms]
    parts += [_lexeme(p) + ":*" for p in query.prefixes]
    for phrase in query.phrases:
        chain = _lexeme(phrase.parts[0][1])
        for (a, _), (b, term) in zip(phrase.parts, phrase.parts[1:], strict=False):
            chain += f" <{b - a}> " + _lexeme(term)
        parts.append(f"( {chain} )")
    return " & ".join(parts)


def vector_sql():
    russian = literal_column("'russian'::regconfig")
    return (func.setweight(func.to_tsvector(russian, bindparam("n_title")), literal_column("'A'"))
            .op("||")(func.setweight(func.to_tsvector(russian, bindparam("n_content")), literal_column("'B'"))))


def _row(doc: Document) -> dict:
    return {"kind": doc.kind, "object_id": doc.id, "title": doc.title, "content": doc.content,
            "category": doc.category, "state": doc.state, "public": doc.public,
            "audience_orgs": list(doc.audience_orgs) or [ALL], "audience_cats": list(doc.audience_cats) or [ALL],
            "published_at": doc.published_at, "n_title": normalise(doc.title), "n_content": normalise(doc.content)}


def scope_sql(scope: Scope, params: dict) -> str:
    """The reader's scope as SQL over search_documents (parameters added to `params`)."""
    where = ["state IN ('published', 'archived')" if scope.archives else "state = 'published'"]
    if scope.public_only:
        where.append("public")
    if scope.ancestors is not None:
        params["anc"] = [ALL, *scope.ancestors]
        cond = "audience_orgs && CAST(:anc AS text[])"
        if scope.subtree:
            params["subtree"] = scope.subtree.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cond = f"({cond} OR EXISTS (SELECT 1 FROM unnest(audience_orgs) a WHERE a LIKE :subtree))"
        where.append(cond)
    if scope.category is not None:
        params["cats"] = [ALL, scope.category]
        where.append("audience_cats && CAST(:cats AS text[])")
    return " AND ".join(where)


class PostgresBackend(Backend):
    name = "postgresql"

    def __init__(self, session=None):
        self._session = session

    @property
    def session(self):
        return self._session or db.session

    def ready(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def index(self, docs: list[Document]) -> None:
        if not docs:
            return
        table = SearchDocument.__table__
        cols = ("kind", "object_id", "title", "content", "category", "state", "public", "audience_orgs",
                "audience_cats", "published_at")
        stmt = insert(table).values({**{c: bindparam(c) for c in cols}, "tsv": vector_sql()})
        stmt = stmt.on_conflict_do_update(
            constraint="uq_search_documents_kind_object",
            set_={c: stmt.excluded[c] for c in (*cols[2:], "tsv")})
        self.session.execute(stmt, [_row(d) for d in docs])

    def delete(self, kind: str, ids: list[int]) -> None:
        if ids:
            self.session.execute(delete(SearchDocument).where(SearchDocument.kind == kind,
                                                              SearchDocument.object_id.in_(ids)))

    def clear(self) -> None:
        self.session.execute(delete(SearchDocument))

    def count(self, kind: str) -> int:
        return self.session.scalar(select(func.count()).select_from(SearchDocument)
                                   .where(SearchDocument.kind == kind)) or 0

    def rebuild(self, kind: str, batches) -> int:
        """Re-write the kind's rows batch by batch, each batch committed (an upsert: readers always see a whole
        index, old rows until their batch replaces them), then delete the rows of items no longer indexable. One
        transaction for everything would hold every row's lock until the end, and a publication's drain (its
        upsert of the same row) would wait for the whole rebuild. A row a drain writes during the rebuild may be
        overwritten by an older batch or deleted as unseen; `service.rebuild` applies every change since the start
        again afterwards."""
        seen: list[int] = []
        for batch in batches:
            self.index(batch)
            self.session.commit()
            seen += [d.id for d in batch]
        self.session.execute(text("DELETE FROM search_documents WHERE kind = :kind AND object_id <> ALL(:ids)"),
                             {"kind": kind, "ids": seen})
        self.session.commit()
        return len(seen)

    def delete_kind(self, kind: str) -> None:
        self.session.execute(delete(SearchDocument).where(SearchDocument.kind == kind))

    def search(self, query: Query, scope: Scope, *, kind: str, page: int = 1, per_page: int = 10,
               category: str | None = None) -> Results:
        results = Results(query=query, page=page, per_page=per_page, source=self.name)
        if query.empty:
            return results
        params = {"kind": kind, "q": tsquery_text(query), "cap": CANDIDATES,
                  "lim": per_page, "off": (page - 1) * per_page}
        where = scope_sql(scope, params)
        if category:
            params["category"] = category
            where += " AND category = :category"
        if (page - 1) * per_page >= MAX_HITS:
            return results
        # The tsquery is written out in each place, not taken from a CTE: the planner then sees the words and
        # uses the column's statistics — for the commonest words it walks the date index and stops after CANDIDATES
        # matches (80 ms at 100 k items) instead of a bitmap of every match (470 ms).
        tsq = "to_tsquery('simple', :q)"
        sql = text(f"""
            WITH cand AS (
                SELECT d.id, d.published_at, d.tsv FROM search_documents d
                WHERE d.kind = :kind AND d.tsv @@ {tsq} AND {where}
                ORDER BY d.published_at DESC LIMIT :cap),
            ranked AS (
                SELECT c.id, c.published_at, ts_rank(c.tsv, {tsq}) AS rank, count(*) OVER () AS total
                FROM cand c ORDER BY rank DESC, c.published_at DESC LIMIT :lim OFFSET :off)
            SELECT d.object_id, d.title, d.category, d.content, r.published_at, r.rank, r.total
            FROM ranked r JOIN search_documents d ON d.id = r.id
            ORDER BY r.rank DESC, r.published_at DESC""")
        rows = self.session.execute(sql, params).all()
        if rows:
            results.total = rows[0].total
        elif page > 1:
            results.total = self.session.execute(text(f"""
                SELECT count(*) FROM (SELECT 1 FROM search_documents d
                WHERE d.kind = :kind AND d.tsv @@ to_tsquery('simple', :q) AND {where} LIMIT :cap) x"""),
                params).scalar()
        results.total_is_lower_bound = results.total >= CANDIDATES
        for r in rows:
            results.hits.append(Hit(kind=kind, id=r.object_id, title=r.title, snippet=snippet(query, r.content),
                                    published_at=r.published_at, category=r.category, score=float(r.rank)))
        return results
