"""News pages and the digest mailing at the issue's scale (issue 12's page and mailing targets).

    nice -n 5 .venv/bin/python -m bench.news_pages                      # 1.3 M registry, 20 k items (setup once)
    .venv/bin/python -m bench.news_pages --only pages --seconds 10      # pages only, on the prepared database
    .venv/bin/python -m bench.news_pages --only digest                  # the digest only

What it does:

1. **Setup** (once; reused while `bench.meta` says it is complete): the registry generator of `bench/registry.py`
   (`--members`, 1.3 M by default) in `profportal_bench_news_pages`, `--items` published news items made by
   bench/news.py's generator (~250 words over a Zipf vocabulary; half public, 30 % aimed at one region) with their
   sanitised HTML written through the app's own save path (`portal.news.content`), and a cabinet account with a
   confirmed address for every active member (rows made directly in SQL, as bench/cabinet.py does; the same
   password hash for all), of which `--logins` members carry a card number to log in with.
2. **Pages** through gunicorn (`--workers`×`--threads`, several shapes with `--shape 2x4 --shape 4x2`) at
   `--readers` concurrent keep-alive readers for `--seconds` each: the public listing `/public/news/` (anonymous),
   one item page `/public/news/<id>` over 200 random public items (anonymous), and the member's feed
   `/cabinet/news/` as logged-in members. The readers are separate processes (`multiprocessing`, bench/web.py's
   Browser), and their CPU share of the run is reported beside the figures: on 2 shared cores the client's own
   work is part of what is measured. Each page is also timed in-process (CPU ms per request, no HTTP) so that a
   change can be judged on a noisy machine. Readers send no validators (`If-None-Match`): every request is
   answered in full (the conditional 304 path is measured apart, as `item_304`).
3. **Digest**: one all-members digest mailing queued (`portal.news.mailings.create` + `send`), i.e. one outbox
   row per member with a cabinet, timed; the count of rows is checked against the recipients.

Targets (issue 12): listing ≥ 300 req/s, item ≥ 500 req/s at 8 concurrent readers; digest to 1.3 M queued ≤ 60 s.
Results: bench/news_pages_results.json and a Markdown table printed (bench/RESULTS.md «news pages and digest»).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.cabinet import PASSWORD, Server, member_login
from bench.news import make_text, vocabulary
from bench.registry import (
    conninfo,
    fill,
    log,
    make_app,
    migrate,
    pct,
    prepare_database,
    read_meta,
    upgrade_with_current_code,
    write_meta,
)
from bench.web import Browser

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_JSON = HERE / "news_pages_results.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench_news_pages"
TARGETS = {"listing": 300, "item": 500, "digest_s": 60}


# ---- setup ------------------------------------------------------------------------------------------------------------


def setup(url: str, members: int, items: int, logins: int, seed: int, fresh: bool) -> None:
    if prepare_database(url, members, fresh):
        migrate(make_app(url))
        fill(url, members, seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-news-pages-"))
    upgrade_with_current_code(url, workdir)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        meta = read_meta(conn)
    if meta.get("news_items") != str(items):
        load_items(url, items, seed)
    if meta.get("cabinets") != "1":
        make_cabinets(url, logins)


def load_items(url: str, items: int, seed: int) -> None:
    """`items` published items, sanitised and stored as the app's save path does (body HTML, plain text)."""
    from portal.news.content import plain_text, sanitise

    rng = random.Random(seed)
    words, weights = vocabulary()
    now = datetime.now(UTC)
    t = time.perf_counter()
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("DELETE FROM news_audience")
        conn.execute("DELETE FROM news_items")
        central = conn.execute("SELECT id FROM organisations WHERE level = 'central' ORDER BY id LIMIT 1").fetchone()[0]
        regions = [r[0] for r in conn.execute("SELECT id FROM organisations WHERE level = 'regional' ORDER BY id")]
        cols = ("id", "org_id", "title", "lead", "body", "body_text", "category", "state", "version", "is_public",
                "audience_all", "audience_categories", "publish_at", "published_at", "created_at", "updated_at")
        audience = []
        with conn.cursor() as cur, cur.copy(f"COPY news_items ({', '.join(cols)}) FROM STDIN") as copy:
            for i in range(1, items + 1):
                paragraphs = [make_text(rng, words, weights, rng.randint(40, 70)).capitalize() + "."
                              for _ in range(rng.randint(3, 6))]
                raw = "".join(f"<p>{p}</p>" for p in paragraphs)
                body = sanitise(raw)
                regional = rng.random() < 0.3
                published = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
                copy.write_row((i, central, make_text(rng, words, weights, 7).capitalize(),
                                make_text(rng, words, weights, 20).capitalize() + ".", body, plain_text(body),
                                "regional" if regional else "union", "published", 2, rng.random() < 0.5,
                                not regional, "", published, published, published, published))
                if regional:
                    audience.append((i, rng.choice(regions)))
        with conn.cursor() as cur, cur.copy("COPY news_audience (news_id, org_id) FROM STDIN") as copy:
            for row in audience:
                copy.write_row(row)
        conn.execute("SELECT setval(pg_get_serial_sequence('news_items', 'id'), (SELECT max(id) FROM news_items))")
        write_meta(conn, news_items=items)
        conn.commit()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) news_items")
        conn.execute("VACUUM (ANALYZE) news_audience")
    log(f"{items} news items in {time.perf_counter() - t:.1f} s")


def make_cabinets(url: str, logins: int) -> None:
    """A cabinet account with a confirmed address for every active member (the digest's recipients: the worst
    case); `logins` of them with an issued card to log in with. Direct SQL, as bench/cabinet.py does."""
    from portal.cabinet.models import _MEMBER_HASHERS
    from portal.cards.operations import card_number

    stored = _MEMBER_HASHERS["standard"].hash(PASSWORD)
    t = time.perf_counter()
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for table in ("member_tokens", "member_family", "member_accounts"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute(
            "INSERT INTO member_accounts (member_id, email, email_confirmed_at, phone, password_hash, "
            "rules_accepted_at, session_version, verify_token, closed_reason, created_at) "
            "SELECT id, 'm' || id || '@bench.local', now(), '', %s, now(), 1, md5(id::text || random()::text), '', "
            "now() FROM members WHERE status = 'active'", (stored,))
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM members WHERE status = 'active' AND card_number IS NULL ORDER BY random() LIMIT %s",
            (logins,))]
        for i, member_id in enumerate(ids):
            conn.execute("UPDATE members SET card_number = %s, card_status = 'issued', consent_status = 'signed' "
                         "WHERE id = %s", (card_number(880_000_000 + i), member_id))
        write_meta(conn, cabinets=1, login_members=json.dumps(ids))
        conn.commit()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) member_accounts")
        conn.execute("ANALYZE members")
    log(f"cabinet accounts in {time.perf_counter() - t:.1f} s")


# ---- pages --------------------------------------------------------------------------------------------------------------


def _reader(port: int, paths: list[str], seconds: float, card: str | None, seed: int, out) -> None:
    """One reader process: a kept-alive connection, paths at random for `seconds`; puts (latencies, CPU s)."""
    rng = random.Random(seed)
    b = Browser("127.0.0.1", port)
    if card:
        member_login(b, card)
    for path in paths if len(paths) > 1 else paths * 5:
        b.get(path)  # warm: every page once per reader (the server's cache fills as it would over a day)
    t0 = time.process_time()
    lat, errors = [], 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        t = time.perf_counter()
        status, _, _ = b.get(rng.choice(paths))
        lat.append(time.perf_counter() - t)
        errors += status != 200
    out.put((lat, time.process_time() - t0, errors))
    b.close()


def load_http(port: int, paths: list[str], readers: int, seconds: float, cards: list[str] | None = None) -> dict:
    """`readers` reader processes against gunicorn; req/s, p50/p95 ms, and the readers' share of the machine's CPU."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_reader, args=(port, paths, seconds, cards[i % len(cards)] if cards else None, i, q))
             for i in range(readers)]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    lat = [x * 1000 for r in results for x in r[0]]
    client_cpu = sum(r[1] for r in results)
    return {"req_s": round(len(lat) / seconds, 1), "p50_ms": round(pct(lat, 0.5), 2),
            "p95_ms": round(pct(lat, 0.95), 2), "n": len(lat), "errors": sum(r[2] for r in results),
            "client_cpu_share": round(client_cpu / (seconds * (os.cpu_count() or 1)), 3),
            "load": round(os.getloadavg()[0], 2), "load_before": round(load0, 2), "wall_s": round(wall, 1)}


def in_process_cpu(url: str, paths: dict[str, list[str]], n: int = 300) -> dict:
    """CPU ms per request through Flask's test client in this process (no gunicorn, no socket), cache on and off."""
    app = make_app(url)
    out = {}
    for cache in (True, False):
        app.config["NEWS_PAGE_CACHE"] = cache
        client = app.test_client()
        for name, ps in paths.items():
            for p in ps:
                client.get(p)
            t = time.process_time()
            for i in range(n):
                client.get(ps[i % len(ps)])
            out[f"{name}_{'cached' if cache else 'uncached'}_cpu_ms"] = round((time.process_time() - t) / n * 1000, 3)
    return out


def pages(url: str, shapes: list[str], readers: int, seconds: float, seed: int) -> dict:
    rng = random.Random(seed)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        public = [r[0] for r in conn.execute("SELECT id FROM news_items WHERE is_public AND state = 'published'")]
        logins = json.loads(read_meta(conn)["login_members"])
        cards = [r[0] for r in conn.execute("SELECT card_number FROM members WHERE id = ANY(%s)", (logins,))]
    items = [f"/public/news/{i}" for i in rng.sample(public, min(200, len(public)))]
    out: dict = {"in_process": in_process_cpu(url, {"listing": ["/public/news/"], "item": items})}
    log("in-process CPU per request:", out["in_process"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-news-pages-"))
    runs = [(shape, True) for shape in shapes] + [(shapes[0], False)]
    for shape, cached in runs:
        workers, threads = (int(x) for x in shape.split("x"))
        os.environ["NEWS_PAGE_CACHE"] = "1" if cached else "0"  # read by the app's configuration in gunicorn
        try:
            server = Server(url, workdir, workers=workers, threads=threads)
        finally:
            os.environ.pop("NEWS_PAGE_CACHE")
        label = shape if cached else f"{shape} no cache"
        try:
            res = {}
            pages_run = (("listing", ["/public/news/"], None), ("item", items, None),
                         ("member_feed", ["/cabinet/news/"], cards))
            for name, paths, who in pages_run if cached else pages_run[:2]:
                res[name] = load_http(server.port, paths, readers, seconds, who)
                log(f"{label} {name}:", res[name])
            # The conditional path: a reader that sends the ETag it got back (If-None-Match) gets a 304.
            b = Browser("127.0.0.1", server.port)
            _, resp, _ = b.get(items[0])
            etag = resp.getheader("ETag")
            status, _, _ = b.request("GET", items[0], headers={"If-None-Match": etag or ""})
            res["item_304"] = {"etag": etag, "status": status}
            b.close()
            out[label] = res
        finally:
            server.stop()
    return out


# ---- digest -------------------------------------------------------------------------------------------------------------


def digest(url: str) -> dict:
    """Queue one all-members digest of the last items: the outbox rows for every member with a cabinet."""
    app = make_app(url)
    from sqlalchemy import func, select, text

    from portal.extensions import db
    from portal.mail.models import OutboxMessage
    from portal.news import mailings
    from portal.news.models import NewsItem

    with app.app_context():
        db.session.execute(text("DELETE FROM outbox WHERE mailing_id IS NOT NULL"))
        db.session.execute(text("DELETE FROM mailings"))
        db.session.commit()
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) outbox")
        news = list(db.session.scalars(select(NewsItem).order_by(NewsItem.published_at.desc()).limit(10)))
        t = time.perf_counter()
        m = mailings.create("bench_digest", "union", "Дайджест", mailings.digest_body("Дайджест", news),
                            period_end=datetime.now(UTC))
        db.session.commit()
        count_s = time.perf_counter() - t
        progress = []
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        queued = mailings.send(m.id, heartbeat=lambda: progress.append(round(time.perf_counter() - t, 1)))
        queue_s = time.perf_counter() - t
        rows = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.mailing_id == m.id))
        out = {"recipients": m.total, "queued": queued, "outbox_rows": rows, "queue_s": round(queue_s, 1),
               "count_s": round(count_s, 1), "chunks_done_at_s": progress,
               "load_before": round(load0, 2), "load": round(os.getloadavg()[0], 2)}
        # The job again over the same mailing, as after a crash midway (status back to «sending»): every letter is
        # already there, the unique (mailing, member) skips them all.
        db.session.execute(text("UPDATE mailings SET status = 'sending' WHERE id = :m"), {"m": m.id})
        db.session.commit()
        t = time.perf_counter()
        again = mailings.send(m.id)
        out["rerun"] = {"added": again, "seconds": round(time.perf_counter() - t, 1)}
        log("digest:", out)
    return out


def render(r: dict) -> str:
    lines = ["| what | figure | target | load (1-min avg, after) | readers' CPU share |", "|---|---|---|---|---|"]
    for shape, res in r.get("pages", {}).items():
        if shape == "in_process":
            continue
        for name, label, target in (("listing", "public listing /public/news/", "≥ 300 req/s"),
                                    ("item", "one item /public/news/<id> (200 items)", "≥ 500 req/s"),
                                    ("member_feed", "member's feed /cabinet/news/ (logged in)", "—")):
            if name not in res:
                continue
            x = res[name]
            lines.append(f"| {label}, gunicorn {shape}, {r['readers']} readers | {x['req_s']} req/s "
                         f"(p50 {x['p50_ms']} / p95 {x['p95_ms']} ms) | {target} | {x['load']} | "
                         f"{x['client_cpu_share']:.0%} |")
    d = r.get("digest")
    if d:
        lines.append(f"| digest to {d['recipients']:,} members queued (outbox rows) | {d['queue_s']} s "
                     f"(+ recipient count at creation {d['count_s']} s) | ≤ 60 s | {d['load']} | — |")
    ip = r.get("pages", {}).get("in_process")
    if ip:
        lines.append("")
        lines.append("In-process CPU per request (ms, Flask test client): " +
                     ", ".join(f"{k.replace('_cpu_ms', '')} {v}" for k, v in ip.items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("BENCH_NEWS_PAGES_URL", DEFAULT_URL))
    p.add_argument("--members", type=int, default=1_300_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--logins", type=int, default=16, help="members with a card to log in with (the feed)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--only", default="setup,pages,digest")
    p.add_argument("--shape", action="append", help="gunicorn workers x threads (repeatable; default 2x4)")
    p.add_argument("--readers", type=int, default=8)
    p.add_argument("--seconds", type=float, default=15)
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    if "setup" in only:
        setup(args.database_url, args.members, args.items, args.logins, args.seed, args.fresh)
    else:
        upgrade_with_current_code(args.database_url, Path(tempfile.mkdtemp(prefix="bench-news-pages-")))
    result = {"members": args.members, "items": args.items, "readers": args.readers, "seconds": args.seconds,
              "cpus": os.cpu_count(), "when": datetime.now(UTC).isoformat(timespec="seconds")}
    if RESULTS_JSON.exists():
        result = {**json.loads(RESULTS_JSON.read_text()), **result}
    if "pages" in only:
        result["pages"] = pages(args.database_url, args.shape or ["2x4"], args.readers, args.seconds, args.seed)
    if "digest" in only:
        result["digest"] = digest(args.database_url)
    RESULTS_JSON.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
