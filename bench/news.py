"""The news benchmark: synthetic Russian items (~250 words over a Zipf vocabulary, so the commonest words are in
almost every item), indexed by both backends; query latency by class through the app and as the raw backend query
on the same index in the same run; the index build rate (app vs the bare Whoosh writer with the same analyzer);
the public listing and item pages through gunicorn at 8 concurrent readers; and the time to queue a digest
mailing, measured on `--members` members and extrapolated to 1.3 M.

    .venv/bin/python -m bench.news --items 2000 --members 5000        # small: a couple of minutes
    nice -n 10 .venv/bin/python -m bench.news --items 20000 --items 100000 --members 200000

Writes bench/news_results.json and prints a Markdown table (paste into bench/RESULTS.md «News»). Uses a database
whose name contains "bench" (created and dropped here) and a temporary instance folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench_news"
QUERIES_PER_CLASS = 40

UNION_WORDS = ["профсоюз", "профсоюза", "профсоюзом", "профсоюзе", "члены", "членов", "организации",
               "организация", "образования", "педагогов", "учителей", "работников", "председатель", "билет",
               "билеты", "электронный", "первичной", "региональной", "конференция", "президиум"]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))] if s else float("nan")


def summary(xs):
    return {"p50": round(pct(xs, 50), 2), "p95": round(pct(xs, 95), 2), "n": len(xs)}


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


def query_classes(rng, words, corpus_bodies):
    """Rare (ranks past 400), medium (50–200), the commonest (top 5), two medium words, and a phrase taken
    from an item (two adjacent words)."""
    out = {"rare": [], "medium": [], "common": [], "two_words": [], "phrase": []}
    for _ in range(QUERIES_PER_CLASS):
        out["rare"].append(rng.choice(words[400:]))
        out["medium"].append(rng.choice(words[50:200]))
        out["common"].append(rng.choice(words[:5]))
        out["two_words"].append(f"{rng.choice(words[50:200])} {rng.choice(words[50:200])}")
        body = rng.choice(corpus_bodies).split()
        i = rng.randrange(len(body) - 1)
        out["phrase"].append(f'"{body[i]} {body[i + 1]}"')
    return out


# ---- the database ---------------------------------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    u = make_url(url)
    assert "bench" in u.database, "the bench database name must contain 'bench'"
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def load(app, items: int, members: int, seed: int = 7):
    """Organisations, members with email, and `items` published news items (bulk, as after years of use)."""
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
    batch = []
    for row in member_rows(rng, fake, tree["primary"], members, datetime.now().date()):
        batch.append(row)
        if len(batch) >= 20000:
            insert_members(batch)
            batch = []
    if batch:
        insert_members(batch)
    db.session.execute(text("UPDATE members SET email = 'm' || id || '@example.ru'"))
    # Every member has an open cabinet with a confirmed address: the digest's recipients (the worst case).
    db.session.execute(text(
        "INSERT INTO member_accounts (member_id, email, email_confirmed_at, phone, password_hash, rules_accepted_at, "
        "session_version, verify_token, closed_reason, created_at) "
        "SELECT id, email, now(), '', 'x', now(), 1, md5(random()::text || id::text), '', now() FROM members"))
    db.session.commit()
    words, weights = vocabulary()
    now = datetime.now(UTC)
    regions = tree["regional"]
    bodies = []
    t = time.perf_counter()
    rows, audience = [], []
    start_id = (db.session.execute(text("SELECT coalesce(max(id), 0) FROM news_items")).scalar() or 0) + 1
    for i in range(items):
        body = make_text(rng, words, weights, rng.randint(200, 300))
        bodies.append(body)
        title = make_text(rng, words, weights, 7).capitalize()
        regional = rng.random() < 0.3
        published = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
        rows.append((start_id + i, tree["central"].id, title, "", f"<p>{body}</p>", body,
                     "regional" if regional else "union", "published", 2, rng.random() < 0.5, not regional, "",
                     published, published, now, now))
        if regional:
            audience.append((start_id + i, rng.choice(regions).id))
    cols = ("id", "org_id", "title", "lead", "body", "body_text", "category", "state", "version", "is_public",
            "audience_all", "audience_categories", "publish_at", "published_at", "created_at", "updated_at")
    insert_rows(NewsItem.__table__, cols, rows)
    insert_rows(NewsAudience.__table__, ("news_id", "org_id"), audience)
    db.session.execute(text("SELECT setval(pg_get_serial_sequence('news_items', 'id'), (SELECT max(id) FROM news_items))"))
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    log(f"loaded {items} items, {members} members in {time.perf_counter() - t:.1f} s")
    return tree, bodies


# ---- measurements -----------------------------------------------------------------------------------------------------


def build_rates(app, instance: Path):
    """Index build: through the app (DB → documents → Whoosh) and the bare Whoosh writer with the same analyzer on
    the same documents already in memory; PostgreSQL's rebuild through the app."""
    import search_index
    from portal.extensions import db
    from portal.news.operations import NewsSource
    from search_index.pg_backend import PostgresBackend
    from search_index.whoosh_backend import WhooshBackend, _fields, schema

    source = NewsSource()
    docs = [d for batch in source.batches(1000) for d in batch]
    out = {}
    t = time.perf_counter()
    n = search_index.rebuild("news")
    out["whoosh_app"] = round(n / (time.perf_counter() - t), 1)
    from whoosh import index as windex

    raw_dir = instance / "raw_whoosh"
    raw_dir.mkdir()
    ix = windex.create_in(str(raw_dir), schema(), indexname="raw")
    t = time.perf_counter()
    w = ix.writer(limitmb=128)
    for d in docs:
        w.add_document(**_fields(d))
    w.commit()
    out["whoosh_raw"] = round(len(docs) / (time.perf_counter() - t), 1)
    pg = PostgresBackend()
    t = time.perf_counter()
    pg.rebuild("news", source.batches(1000))
    db.session.commit()
    out["postgresql_app"] = round(len(docs) / (time.perf_counter() - t), 1)
    db.session.execute(text("ANALYZE search_documents"))
    db.session.commit()
    del WhooshBackend
    return out


def query_latency(app, classes, member_scope):
    """p50/p95 (ms) per class: through search_index.search (a member's scope, the service with its staleness
    check) and the raw backend query on the same index (no scope, top 10 by relevance)."""
    import search_index
    from portal.extensions import db
    from search_index import parse
    from search_index.pg_backend import tsquery_text
    from search_index.whoosh_backend import compile_query

    out = {}
    for backend in ("whoosh", "postgresql"):
        app.config["SEARCH_BACKEND"] = backend
        app.extensions.pop("search_index", None)
        b = search_index.get_backend()
        if backend == "whoosh":
            searcher = b._open(create=False).searcher()

            def raw(q, searcher=searcher):
                # The same top 10 with their stored fields (the app shows them); no scope filter, no snippets.
                [h.fields() for h in searcher.search(compile_query(parse(q)), limit=10)]
        else:
            def raw(q):
                db.session.execute(text(
                    "SELECT object_id, title FROM search_documents WHERE tsv @@ to_tsquery('simple', :q) "
                    "ORDER BY ts_rank(tsv, to_tsquery('simple', :q)) DESC LIMIT 10"),
                    {"q": tsquery_text(parse(q))}).all()
                db.session.rollback()
        for cls, queries in classes.items():
            for q in queries[:3]:  # warm-up
                search_index.search("news", q, member_scope)
                raw(q)
            app_ms, raw_ms = [], []
            for q in queries:
                t = time.perf_counter()
                r = search_index.search("news", q, member_scope)
                app_ms.append((time.perf_counter() - t) * 1000)
                assert r.source == backend, r.source
                db.session.rollback()
                t = time.perf_counter()
                raw(q)
                raw_ms.append((time.perf_counter() - t) * 1000)
            out[f"{backend}:{cls}"] = {"app": summary(app_ms), "raw": summary(raw_ms)}
            log(backend, cls, out[f"{backend}:{cls}"])
        if backend == "whoosh":
            searcher.close()
    return out


def http_rates(url: str, instance: Path, item_ids, seconds: float = 15.0):
    """Requests/s for the public listing and one item page at 8 concurrent readers through gunicorn (2×2)."""
    port = 18000 + random.randrange(1000)
    env = {**os.environ, "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://"),
           "PORTAL_INSTANCE": str(instance), "PORTAL_INSECURE_COOKIES": "1", "SECRET_KEY": "bench-news",
           "PYTHONPATH": str(ROOT)}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    logf = open(instance / "gunicorn.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([str(gunicorn), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                            cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/public/news/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.3)
        out = {}
        for name, paths in (("listing", ["/public/news/"]),
                            ("item", [f"/public/news/{i}" for i in item_ids[:50]])):
            done, stop = [0], time.monotonic() + seconds
            lat: list[float] = []

            def reader(stop=stop, paths=paths, lat=lat, done=done):
                while time.monotonic() < stop:
                    t = time.perf_counter()
                    urllib.request.urlopen(base + random.choice(paths), timeout=30).read()
                    lat.append((time.perf_counter() - t) * 1000)
                    done[0] += 1

            threads = [threading.Thread(target=reader) for _ in range(8)]
            t0 = time.monotonic()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            out[name] = {"req_s": round(done[0] / (time.monotonic() - t0), 1), **summary(lat)}
            log("http", name, out[name])
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        logf.close()


def digest_queue(app, members: int):
    """Queue one all-members digest; letters/s and the extrapolated time for 1.3 M members."""
    from portal.extensions import db
    from portal.news import mailings
    from portal.news.models import NewsItem

    items = list(db.session.scalars(text("SELECT id FROM news_items ORDER BY published_at DESC LIMIT 10")))
    news = [db.session.get(NewsItem, i) for i in items]
    m = mailings.create("bench", "union", "Дайджест", mailings.digest_body("Дайджест", news),
                        period_end=datetime.now(UTC))
    db.session.commit()
    # Queued: the mailing's recipients fixed as delivery rows (one INSERT … SELECT); then the letters written.
    t = time.perf_counter()
    mailings.fix_recipients(m)
    db.session.commit()
    queue_s = time.perf_counter() - t
    fixed = db.session.scalar(text("SELECT count(*) FROM mailing_deliveries WHERE mailing_id = :m"), {"m": m.id})
    t = time.perf_counter()
    letters = mailings.send(m.id)
    letters_s = time.perf_counter() - t
    out = {"members": members, "recipients": fixed, "queue_s": round(queue_s, 2),
           "queue_1_3M_s": round(1_300_000 / fixed * queue_s, 1) if fixed else None,
           "letters": letters, "letters_s": round(letters / letters_s) if letters_s else 0,
           "extrapolated_1_3M_s": round(1_300_000 / (letters / letters_s), 1) if letters else None}
    log("digest", out)
    return out


def run(items: int, members: int, url: str) -> dict:
    fresh_database(url)
    instance = Path(tempfile.mkdtemp(prefix="bench-news-"))
    os.environ["PORTAL_INSTANCE"] = str(instance)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.news.readers import member_scope
    from portal.registry.models import Member

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-news", "SEARCH_STALE_SECONDS": 10**9})
    result = {"items": items, "members": members}
    with app.app_context():
        upgrade()
        tree, bodies = load(app, items, members)
        result["build_items_s"] = build_rates(app, instance)
        log("build", result["build_items_s"])
        words, _ = vocabulary()
        classes = query_classes(random.Random(11), words, bodies)
        member = db.session.scalar(text("SELECT id FROM members ORDER BY id LIMIT 1"))
        scope = member_scope(db.session.get(Member, member))
        result["queries_ms"] = query_latency(app, classes, scope)
        ids = list(db.session.scalars(text("SELECT id FROM news_items WHERE is_public ORDER BY id LIMIT 50")))
        db.session.commit()
        result["http"] = http_rates(url, instance, ids)
        result["digest"] = digest_queue(app, members)
        db.session.remove()
        db.engine.dispose()
    return result


def markdown(results: list[dict]) -> str:
    lines = ["| items | backend | class | app p50 / p95 ms | raw p50 / p95 ms | app/raw p95 |", "|---|---|---|---|---|---|"]
    for r in results:
        for key, v in r["queries_ms"].items():
            backend, cls = key.split(":")
            ratio = v["app"]["p95"] / v["raw"]["p95"] if v["raw"]["p95"] else float("nan")
            lines.append(f"| {r['items']:,} | {backend} | {cls} | {v['app']['p50']} / {v['app']['p95']} | "
                         f"{v['raw']['p50']} / {v['raw']['p95']} | {ratio:.2f} |")
    lines += ["", "| items | Whoosh app items/s | Whoosh raw items/s | PostgreSQL app items/s | listing req/s | "
              "item req/s | digest queued (members) → 1.3 M | letters/s → 1.3 M letters |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        b, h, d = r["build_items_s"], r["http"], r["digest"]
        lines.append(f"| {r['items']:,} | {b['whoosh_app']} | {b['whoosh_raw']} | {b['postgresql_app']} | "
                     f"{h['listing']['req_s']} | {h['item']['req_s']} | {d['queue_s']} s ({d['members']:,}) → "
                     f"{d['queue_1_3M_s']} s | {d['letters_s']} → {d['extrapolated_1_3M_s']} s |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, action="append", help="items (repeatable: 20000 and 100000)")
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--database-url", default=DEFAULT_URL)
    p.add_argument("--keep", action="store_true", help="keep the bench database")
    a = p.parse_args(argv)
    results = []
    for n in a.items or [2000]:
        log(f"== {n} items ==")
        results.append(run(n, a.members, a.database_url))
    (HERE / "news_results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(markdown(results))
    if not a.keep:
        u = make_url(a.database_url)
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
