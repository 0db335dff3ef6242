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

from bench.news import make_text, vocabulary
from bench.registry import conninfo, fill, log, make_app, migrate, pct, prepare_database, read_meta, write_meta
from bench.registry import upgrade_with_current_code
from bench.web import Browser, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_JSON = HERE / "news_pages_results.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench_news_pages"
PASSWORD = "bench-news-member-2026"
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("BENCH_NEWS_PAGES_URL", DEFAULT_URL))
    p.add_argument("--members", type=int, default=1_300_000)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--logins", type=int, default=16, help="members with a card to log in with (the feed)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--only", default="setup,pages,digest")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    setup(args.database_url, args.members, args.items, args.logins, args.seed, args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
