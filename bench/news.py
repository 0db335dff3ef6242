"""The news SEARCH benchmark (issue 12): synthetic Russian items (~250 words over a Zipf vocabulary, so the commonest
words are in almost every item) indexed by both backends; query latency by class through the app and as the raw
backend query on the same index in the same run; the index build rate (app vs the bare Whoosh writer with the same
analyzer and schema); and a full rebuild in the background while items are published.

    PYTHONPATH=$PWD nice -n 5 .venv/bin/python -m bench.news --items 20000 --items 100000

(The news listing / item pages and the digest mailing are measured by their own module, not here.)

Steps, for each size in ascending order, on ONE database (`--database-url`, name must contain "bench"; it is
loaded once with the largest size and reused while its `bench_news_meta` says it holds at least that many):

1. The items of the size are the published ones: `UPDATE news_items SET state = published/draft` by id (drafts are
   never indexed), so 20 k and 100 k share one load.
2. Whoosh: the first size is built by the app's `search_index.rebuild("news")` (timed) and, on the same documents
   already in memory, by the bare Whoosh writer with the same schema (timed, `--raw-sample` documents at most): the
   build-rate target. A later size is built by the same rebuild run as a separate process (as `portal search
   rebuild` runs) while this process publishes items through the real job path (`operations.publish_due`) and
   archives one: each publication is timed and searched at once, and after the rebuild every one must be found
   and the archived one not (the "background, nothing lost" target). Built indexes are kept under `--index-dir`
   (whoosh-<N>) and copied back on a later run instead of being rebuilt (`--rebuild` forces it).
3. PostgreSQL: `search_documents` rebuilt through the app the same way (the background run for a later size), then
   ANALYZE.
4. Queries, `--queries` per class (rare: vocabulary ranks past 400; medium: 50–200; the commonest: top 5; two
   medium words; a two-word phrase taken from an item), 3 warm-up each, in the same loop alternately:
   - app: `search_index.search("news", q, member_scope(member))` — the function the page calls: staleness check,
     the member's scope, ranking, snippets of the page's 10 hits;
   - raw: the backend's own plain query on the same index for the same top 10 with its stored fields, no scope —
     Whoosh `searcher.search(q, limit=10)` (block-max pruning, every match a candidate); PostgreSQL
     `tsv @@ q ORDER BY ts_rank DESC LIMIT 10` over every match;
   - raw tier: the app's own bounded query, bare (no scope, no snippets, no service): Whoosh's with the recent tier
     when the query matches more than TIER_ABOVE documents; PostgreSQL's newest CANDIDATES matches, ranked.
   For each class also the matches' count (how common the class is in this corpus).

Writes bench/news_results.json and prints a Markdown table for bench/RESULTS.md («News search»).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench_news_search"
DEFAULT_INDEX_DIR = "/tmp/profportal-bench-news-search"
CLASSES = ("rare", "medium", "common", "two_words", "phrase")

UNION_WORDS = ["профсоюз", "профсоюза", "профсоюзом", "профсоюзе", "члены", "членов", "организации",
               "организация", "образования", "педагогов", "учителей", "работников", "председатель", "билет",
               "билеты", "электронный", "первичной", "региональной", "конференция", "президиум"]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))] if s else float("nan")


def summary(xs):
    return {"p50": round(pct(xs, 50), 1), "p95": round(pct(xs, 95), 1), "n": len(xs)}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- the corpus ---------------------------------------------------------------------------------------------------


def vocabulary():
    from faker.providers.lorem.ru_RU import Provider

    from search_index import terms

    # Stop words would make empty queries; the vocabulary holds words that have a term.
    words = UNION_WORDS + [w for w in Provider.word_list if w not in UNION_WORDS and terms(w)]
    weights = [1 / (r + 1) ** 1.07 for r in range(len(words))]
    return words, weights


def make_text(rng, words, weights, n):
    return " ".join(rng.choices(words, weights, k=n))


def query_classes(rng, words, bodies, per_class):
    """Rare (ranks past 400), medium (50–200), the commonest (top 5), two medium words, and a phrase taken
    from an item (two adjacent words)."""
    out = {c: [] for c in CLASSES}
    for _ in range(per_class):
        out["rare"].append(rng.choice(words[400:]))
        out["medium"].append(rng.choice(words[50:200]))
        out["common"].append(rng.choice(words[:5]))
        out["two_words"].append(f"{rng.choice(words[50:200])} {rng.choice(words[50:200])}")
        body = rng.choice(bodies).split()
        i = rng.randrange(len(body) - 1)
        out["phrase"].append(f'"{body[i]} {body[i + 1]}"')
    return out


# ---- the database -------------------------------------------------------------------------------------------------


def ensure_database(url: str, items: int, fresh: bool) -> int | None:
    """Create the database (migrations, data) unless it already holds at least `items` generated items: how many
    it holds when reused, None when it was created."""
    u = make_url(url)
    assert "bench" in u.database, "the bench database name must contain 'bench'"
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).scalar()
    if exists and not fresh:
        eng = create_engine(u)
        try:
            with eng.connect() as c:
                have = c.execute(text("SELECT items FROM bench_news_meta")).scalar()
        except Exception:  # noqa: BLE001 — no meta: an incomplete load
            have = None
        eng.dispose()
        if have is not None and have >= items:
            admin.dispose()
            return have
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()
    return None


def load(items: int, members: int = 300, seed: int = 7):
    """Organisations, a few members, and `items` published news items (bulk, as after years of use)."""
    from faker import Faker

    from portal.bulk import insert_rows
    from portal.demo import build_tree, insert_members, member_rows
    from portal.extensions import db
    from portal.news.models import NewsAudience, NewsItem

    rng = random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    tree = build_tree(rng, fake, regions=18, territorials=2, primaries=3)
    db.session.commit()
    insert_members(list(member_rows(rng, fake, tree["primary"], members, datetime.now().date())))
    db.session.commit()
    words, weights = vocabulary()
    now = datetime.now(UTC)
    regions = tree["regional"]
    t = time.perf_counter()
    cols = ("id", "org_id", "title", "lead", "body", "body_text", "category", "state", "version", "is_public",
            "audience_all", "audience_categories", "publish_at", "published_at", "created_at", "updated_at")
    for start in range(0, items, 10000):
        rows, audience = [], []
        for i in range(start + 1, min(items, start + 10000) + 1):
            body = make_text(rng, words, weights, rng.randint(200, 300))
            title = make_text(rng, words, weights, 7).capitalize()
            regional = rng.random() < 0.3
            published = now - timedelta(minutes=rng.randint(60, 2 * 365 * 24 * 60))
            rows.append((i, tree["central"].id, title, "", f"<p>{body}</p>", body,
                         "regional" if regional else "union", "published", 2, rng.random() < 0.5, not regional, "",
                         published, published, now - timedelta(days=800), now - timedelta(days=800)))
            if regional:
                audience.append((i, rng.choice(regions).id))
        insert_rows(NewsItem.__table__, cols, rows)
        insert_rows(NewsAudience.__table__, ("news_id", "org_id"), audience)
        db.session.commit()
    db.session.execute(text("SELECT setval(pg_get_serial_sequence('news_items', 'id'), :n)"), {"n": items})
    db.session.execute(text("CREATE TABLE bench_news_meta (items integer)"))
    db.session.execute(text("INSERT INTO bench_news_meta VALUES (:n)"), {"n": items})
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    log(f"loaded {items} items in {time.perf_counter() - t:.1f} s")


def select_size(n: int, loaded: int) -> None:
    """Make exactly items 1..n published (the rest drafts); remove what an earlier run published on top."""
    from portal.extensions import db

    db.session.execute(text("DELETE FROM news_audience WHERE news_id > :m"), {"m": loaded})
    db.session.execute(text("DELETE FROM outbox WHERE mailing_id IN (SELECT id FROM mailings)"))
    db.session.execute(text("DELETE FROM mailings"))
    db.session.execute(text("DELETE FROM news_items WHERE id > :m"), {"m": loaded})
    db.session.execute(text("UPDATE news_items SET state = CASE WHEN id <= :n THEN 'published' ELSE 'draft' END, "
                            "archived_at = NULL WHERE state <> CASE WHEN id <= :n THEN 'published' ELSE 'draft' END"),
                       {"n": n})
    db.session.execute(text("DELETE FROM search_queue"))
    db.session.commit()


# ---- building -------------------------------------------------------------------------------------------------------


def whoosh_count(directory: Path) -> int | None:
    from whoosh import index as windex

    from search_index.whoosh_backend import INDEX_NAME

    if not windex.exists_in(str(directory), INDEX_NAME):
        return None
    ix = windex.open_dir(str(directory), indexname=INDEX_NAME)
    with ix.searcher() as s:
        return s.doc_count()


def build_first(app, n: int, raw_sample: int) -> dict:
    """The app's Whoosh rebuild, then the bare Whoosh writer (same schema, same analyzer) on the same documents in
    memory: the build-rate comparison."""
    import search_index
    from portal.news.operations import NewsSource
    from search_index.whoosh_backend import INDEX_NAME, _fields, schema

    t = time.perf_counter()
    cpu = time.process_time()
    done = search_index.rebuild("news")
    app_s, app_cpu = time.perf_counter() - t, time.process_time() - cpu
    out = {"app_items": done, "app_items_s": round(done / app_s, 1), "app_cpu_items_s": round(done / app_cpu, 1),
           "load": loadavg()}
    docs = []
    for batch in NewsSource().batches(1000):
        docs += batch
        if len(docs) >= raw_sample:
            break
    docs = docs[:raw_sample]
    from whoosh import index as windex

    raw_dir = Path(app.config["SEARCH_INDEX_DIR"]).with_name("raw-writer")
    shutil.rmtree(raw_dir, ignore_errors=True)
    raw_dir.mkdir(parents=True)
    ix = windex.create_in(str(raw_dir), schema(), indexname=INDEX_NAME)
    t = time.perf_counter()
    cpu = time.process_time()
    w = ix.writer(limitmb=256)
    for d in docs:
        w.add_document(**_fields(d))
    w.commit()
    raw_s, raw_cpu = time.perf_counter() - t, time.process_time() - cpu
    shutil.rmtree(raw_dir, ignore_errors=True)
    out.update({"raw_items": len(docs), "raw_items_s": round(len(docs) / raw_s, 1),
                "raw_cpu_items_s": round(len(docs) / raw_cpu, 1)})
    out["ratio"] = round(out["app_items_s"] / out["raw_items_s"], 2)
    out["ratio_cpu"] = round(out["app_cpu_items_s"] / out["raw_cpu_items_s"], 2)
    return out


def rebuild_child(url: str, backend: str, index_dir: str, procs: int = 1) -> None:
    """Run in a separate process: the app's full rebuild, as `portal search rebuild` does it."""
    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-news", "SEARCH_BACKEND": backend,
                      "SEARCH_INDEX_DIR": index_dir, "SEARCH_REBUILD_PROCS": procs})
    with app.app_context():
        import search_index
        from portal.news import operations  # noqa: F401

        t = time.perf_counter()
        n = search_index.rebuild("news")
        print(json.dumps({"items": n, "seconds": round(time.perf_counter() - t, 1)}), flush=True)


UNIQUE_LETTERS = "бвгджзклмнпрстфхцчшщ"


def background_rebuild(app, url: str, backend: str, scope, every: float = 15.0, procs: int = 1) -> dict:
    """A full rebuild in another process while this one publishes items (the job path) and archives one; every
    publication timed and searched at once; afterwards all must be found, the archived one not."""
    import search_index
    from portal.extensions import db
    from portal.news.models import NewsItem, NewsState
    from portal.news.operations import publish_due, transition  # noqa: F401

    rng = random.Random(5)
    proc = subprocess.Popen([sys.executable, "-m", "bench.news", "--rebuild-child", backend, "--database-url", url,
                             "--index-dir", app.config["SEARCH_INDEX_DIR"], "--procs", str(procs)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    words, published_ms, found_at_once = [], [], 0
    archived = None
    central = db.session.scalar(text("SELECT id FROM organisations WHERE parent_id IS NULL ORDER BY id LIMIT 1"))
    while proc.poll() is None:
        time.sleep(every)
        if proc.poll() is not None and words:
            break
        word = "".join(rng.choice(UNIQUE_LETTERS) for _ in range(9))
        now = datetime.now(UTC)
        item = NewsItem(org_id=central, title=f"Публикация во время перестроения {word}", lead="",
                        body=f"<p>Новость {word} о конкурсе.</p>", body_text=f"Новость {word} о конкурсе.",
                        category="contests", state=NewsState.DRAFT, version=1, is_public=True, audience_all=True,
                        audience_categories="", publish_at=now, created_at=now, updated_at=now)
        db.session.add(item)
        db.session.commit()
        t = time.perf_counter()
        publish_due()  # publishes, commits, and brings the index up to date (sync)
        published_ms.append(round((time.perf_counter() - t) * 1000, 1))
        words.append(word)
        found_at_once += bool(search_index.search("news", word, scope).hits)
        db.session.rollback()
        if archived is None:
            # An edit during the rebuild: archive an old item the member finds by its title now.
            hit = search_index.search("news", "конференция", scope).hits
            archived = hit[0].id if hit else None
            if archived:
                db.session.execute(text("UPDATE news_items SET state = 'archived', archived_at = now(), "
                                        "updated_at = now() WHERE id = :i"), {"i": archived})
                search_index.enqueue("news", archived)
                db.session.commit()
                search_index.sync()
    out_line = proc.stdout.read().strip().splitlines()
    rebuilt = json.loads(out_line[-1]) if out_line else {}
    wall = time.perf_counter() - t0
    db.session.rollback()
    app.extensions.pop("search_index", None)  # a fresh backend object, as another web process would have
    missing = [w for w in words if not search_index.search("news", w, scope).hits]
    db.session.rollback()
    archived_found = bool(archived) and any(
        h.id == archived for h in search_index.search("news", "конференция", scope, per_page=1000).hits)
    db.session.rollback()
    # Leave the database and the index as they were: the items published here go, the archived one comes back.
    created = list(db.session.scalars(text("SELECT id FROM news_items WHERE title LIKE 'Публикация во время%'")))
    db.session.execute(text("DELETE FROM news_items WHERE id = ANY(:ids)"), {"ids": created})
    if archived:
        db.session.execute(text("UPDATE news_items SET state = 'published', archived_at = NULL WHERE id = :i"),
                           {"i": archived})
    db.session.commit()
    for name in ("whoosh", "postgresql"):  # the other backend's index may hold them too (built meanwhile)
        app.config["SEARCH_BACKEND"] = name
        app.extensions.pop("search_index", None)
        for i in [*created, *([archived] if archived else [])]:
            search_index.enqueue("news", i)
        db.session.commit()
        search_index.sync()
    app.config["SEARCH_BACKEND"] = backend
    app.extensions.pop("search_index", None)
    out = {"items": rebuilt.get("items"), "rebuild_s": rebuilt.get("seconds"), "wall_s": round(wall, 1),
           "items_s": round(rebuilt["items"] / rebuilt["seconds"], 1) if rebuilt.get("seconds") else None,
           "published_during": len(words), "publish_ms": summary(published_ms) if published_ms else None,
           "found_at_once": found_at_once, "missing_after": len(missing), "archived_still_found": archived_found,
           "exit": proc.returncode, "procs": procs, "load": loadavg()}
    log(backend, "background rebuild", out)
    return out


# ---- queries --------------------------------------------------------------------------------------------------------


def query_latency(app, classes, scope, backend: str) -> dict:
    import search_index
    from portal.extensions import db
    from search_index import parse
    from search_index.pg_backend import CANDIDATES, tsquery_text
    from search_index.whoosh_backend import compile_query

    app.config["SEARCH_BACKEND"] = backend
    app.extensions.pop("search_index", None)
    b = search_index.get_backend()
    raws = {}
    if backend == "whoosh":
        searcher = b._open(create=False).searcher()

        def raw(q):
            found = searcher.search(compile_query(parse(q)), limit=10, terms=False)
            [h.fields() for h in found]
            return found.estimated_length()

        from search_index.whoosh_backend import TIER_ABOVE, InTier, recent_tier

        tier = recent_tier(searcher)

        def raw_tier(q):
            # The app's own bounded query, bare: the tier when the query matches more than TIER_ABOVE documents.
            compiled = compile_query(parse(q))
            if compiled.estimate_size(searcher.reader()) > TIER_ABOVE:
                compiled = InTier(compiled, tier)
            [h.fields() for h in searcher.search(compiled, limit=10, terms=False)]

        raws["raw"] = raw
        raws["raw_tier"] = raw_tier
    else:
        def raw(q):
            rows = db.session.execute(text(
                "SELECT object_id, title, content FROM search_documents WHERE tsv @@ to_tsquery('simple', :q) "
                "ORDER BY ts_rank(tsv, to_tsquery('simple', :q)) DESC LIMIT 10"), {"q": tsquery_text(parse(q))}).all()
            db.session.rollback()
            return len(rows)

        def raw_tier(q):
            db.session.execute(text(
                "WITH c AS (SELECT id, published_at, tsv FROM search_documents WHERE tsv @@ to_tsquery('simple', :q) "
                "ORDER BY published_at DESC LIMIT :cap) "
                "SELECT d.object_id, d.title, d.content FROM (SELECT id, published_at, ts_rank(tsv, to_tsquery("
                "'simple', :q)) r FROM c ORDER BY r DESC, published_at DESC LIMIT 10) x "
                "JOIN search_documents d ON d.id = x.id"), {"q": tsquery_text(parse(q)), "cap": CANDIDATES}).all()
            db.session.rollback()

        raws["raw"] = raw
        raws["raw_tier"] = raw_tier
    out = {}
    for cls, queries in classes.items():
        for q in queries[:3]:  # warm-up
            search_index.search("news", q, scope)
            db.session.rollback()
            for f in raws.values():
                f(q)
        times = {"app": [], **{k: [] for k in raws}}
        cpu = {"app": [], "raw": []}
        totals = []

        def app_search(q, totals=totals):
            r = search_index.search("news", q, scope)
            assert r.source == backend, r.source
            totals.append(r.total)
            db.session.rollback()

        runners = [("app", app_search), *raws.items()]
        for i, q in enumerate(queries):
            # Whoever reads a query's rows first reads them cold (PostgreSQL's pages, Whoosh's blocks): the order
            # rotates from query to query so that no side always pays it.
            k = i % len(runners)
            for name, f in runners[k:] + runners[:k]:
                t, c = time.perf_counter(), time.process_time()
                f(q)
                times[name].append((time.perf_counter() - t) * 1000)
                if name in cpu:
                    cpu[name].append((time.process_time() - c) * 1000)
        out[cls] = {k: summary(v) for k, v in times.items()}
        out[cls]["cpu"] = {k: summary(v) for k, v in cpu.items()}
        out[cls]["app_total_p50"] = pct(totals, 50)
        out[cls]["load"] = loadavg()
        log(backend, cls, {k: (v["p50"], v["p95"]) for k, v in out[cls].items() if isinstance(v, dict) and "p50" in v},
            "total p50", out[cls]["app_total_p50"], "load", out[cls]["load"])
    if backend == "whoosh":
        # How common each class is in this corpus: the raw matches of the queries (estimated by Whoosh).
        for cls, queries in classes.items():
            out[cls]["matches_p50"] = pct([raw(q) for q in queries], 50)
        searcher.close()
    return out


# ---- the run ----------------------------------------------------------------------------------------------------------


def run(sizes: list[int], url: str, index_dir: Path, per_class: int, raw_sample: int, fresh: bool,
        rebuild: bool, backends: list[str], procs: int = 1) -> list[dict]:
    reused = ensure_database(url, max(sizes), fresh)
    loaded = reused or max(sizes)
    instance = index_dir / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    os.environ["PORTAL_INSTANCE"] = str(instance)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.news.readers import member_scope
    from portal.registry.models import Member

    live = index_dir / "live"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-news", "SEARCH_STALE_SECONDS": 10**9,
                      "SEARCH_INDEX_DIR": str(live)})
    results = []
    with app.app_context():
        upgrade()
        if not reused:
            load(loaded)
        from portal.news import operations  # noqa: F401

        bodies = list(db.session.scalars(text("SELECT body_text FROM news_items WHERE id <= :n ORDER BY id LIMIT 3000"),
                                         {"n": min(sizes)}))
        words, _ = vocabulary()
        classes = query_classes(random.Random(11), words, bodies, per_class)
        # A member of a primary in a region: reads items for everyone, their region's and their category's.
        member = db.session.get(Member, db.session.scalar(text("SELECT min(id) FROM members")))
        scope = member_scope(member)
        previous = None
        for n in sorted(sizes):
            log(f"== {n} items == load {loadavg()}")
            result = {"items": n}
            select_size(n, loaded)
            import search_index

            pg_child = None
            if "postgresql" in backends:
                count = db.session.scalar(text("SELECT count(*) FROM search_documents"))
                db.session.commit()
                if count == n and not rebuild:
                    log("postgresql index reused")
                elif previous is not None and "whoosh" in backends:
                    # Built by the app's rebuild in another process, alongside the Whoosh background run below.
                    pg_child = subprocess.Popen(
                        [sys.executable, "-m", "bench.news", "--rebuild-child", "postgresql", "--database-url", url,
                         "--index-dir", str(live)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                        stdout=subprocess.PIPE, text=True)
                else:
                    app.config["SEARCH_BACKEND"] = "postgresql"
                    app.extensions.pop("search_index", None)
                    t = time.perf_counter()
                    search_index.rebuild("news")
                    result["postgresql_build_items_s"] = round(n / (time.perf_counter() - t), 1)
                    log("postgresql build", result["postgresql_build_items_s"], "items/s")
            if "whoosh" in backends:
                app.config["SEARCH_BACKEND"] = "whoosh"
                app.extensions.pop("search_index", None)
                cached = index_dir / f"whoosh-{n}"
                if not rebuild and whoosh_count(cached) == n:
                    shutil.rmtree(live, ignore_errors=True)
                    shutil.copytree(cached, live)
                    log("whoosh index reused from", cached)
                elif previous is None or whoosh_count(live) is None:
                    result["build"] = build_first(app, n, raw_sample)
                    log("build", result["build"])
                    shutil.rmtree(cached, ignore_errors=True)
                    shutil.copytree(live, cached)
                else:
                    result["whoosh_background"] = background_rebuild(app, url, "whoosh", scope, procs=procs)
                    shutil.rmtree(cached, ignore_errors=True)
                    shutil.copytree(live, cached)
            if pg_child is not None:
                lines = pg_child.communicate()[0].strip().splitlines()
                result["postgresql_rebuild_child"] = {**(json.loads(lines[-1]) if lines else {}), "load": loadavg()}
                log("postgresql rebuild (another process)", result["postgresql_rebuild_child"])
            if "postgresql" in backends:
                # A rebuild over other rows leaves dead ones (autovacuum would see to them in a while).
                db.session.commit()
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("VACUUM ANALYZE search_documents"))
            for backend in backends:
                app.extensions.pop("search_index", None)
                result[f"queries_{backend}"] = query_latency(app, classes, scope, backend)
            results.append(result)
            previous = n
        db.session.remove()
        db.engine.dispose()
    return results


def markdown(results: list[dict]) -> str:
    lines = ["| items | backend | class | matches | app p50 / p95 ms | raw p50 / p95 ms | app/raw p95 | "
             "raw tier p50 / p95 | load |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for backend in ("whoosh", "postgresql"):
            qs = r.get(f"queries_{backend}")
            if not qs:
                continue
            for cls in CLASSES:
                v = qs[cls]
                matches = r.get("queries_whoosh", {}).get(cls, {}).get("matches_p50", "")
                ratio = v["app"]["p95"] / v["raw"]["p95"] if v["raw"]["p95"] else float("nan")
                tier = f"{v['raw_tier']['p50']} / {v['raw_tier']['p95']}" if "raw_tier" in v else "—"
                lines.append(f"| {r['items']:,} | {backend} | {cls} | {matches} | {v['app']['p50']} / {v['app']['p95']} | "
                             f"{v['raw']['p50']} / {v['raw']['p95']} | {ratio:.2f} | {tier} | {v['load']} |")
    for r in results:
        if "build" in r:
            b = r["build"]
            lines += ["", f"Build at {r['items']:,}: app {b['app_items_s']} items/s ({b['app_items']} items), raw writer "
                      f"{b['raw_items_s']} items/s ({b['raw_items']} items): {b['ratio']}× (CPU: {b['app_cpu_items_s']} vs "
                      f"{b['raw_cpu_items_s']}, {b['ratio_cpu']}×), load {b['load']}"]
        for backend in ("whoosh", "postgresql"):
            bg = r.get(f"{backend}_background")
            if bg:
                lines += ["", f"Background rebuild {backend} at {r['items']:,}: {bg}"]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, action="append", help="items (repeatable: 20000 and 100000)")
    p.add_argument("--database-url", default=DEFAULT_URL)
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR)
    p.add_argument("--queries", type=int, default=40, help="queries per class")
    p.add_argument("--raw-sample", type=int, default=20000, help="documents for the bare Whoosh writer")
    p.add_argument("--backend", action="append", choices=["whoosh", "postgresql"])
    p.add_argument("--procs", type=int, default=1, help="processes for the background Whoosh rebuild")
    p.add_argument("--fresh", action="store_true", help="re-create the database")
    p.add_argument("--rebuild", action="store_true", help="rebuild the Whoosh indexes even if kept")
    p.add_argument("--load-only", action="store_true", help="just make sure the database holds the items")
    p.add_argument("--rebuild-child", choices=["whoosh", "postgresql"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.rebuild_child:
        rebuild_child(a.database_url, a.rebuild_child, a.index_dir, a.procs)
        return
    results = run(a.items or [2000], a.database_url, Path(a.index_dir), a.queries, a.raw_sample, a.fresh, a.rebuild,
                  [] if a.load_only else a.backend or ["whoosh", "postgresql"], a.procs)
    if a.load_only:
        return
    # Merged into what earlier runs left (a run of one size or one backend updates just its part).
    path = HERE / "news_results.json"
    try:
        kept = {r["items"]: r for r in json.loads(path.read_text()) if "queries_whoosh" in r or "queries_postgresql" in r}
    except (OSError, ValueError, KeyError, TypeError):
        kept = {}
    for r in results:
        kept[r["items"]] = {**kept.get(r["items"], {}), **r}
    merged = [kept[k] for k in sorted(kept)]
    path.write_text(json.dumps(merged, indent=1, ensure_ascii=False))
    print(markdown(merged))


if __name__ == "__main__":
    main()
