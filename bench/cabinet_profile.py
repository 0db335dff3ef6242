"""The cabinet's work per request, in this process: Python CPU milliseconds (`time.process_time`, PostgreSQL's own
work not included), SQL statements and rows written, for each path the cabinet benchmark times over HTTP —
the login form (GET), the login (POST, with the argon2id verify shown apart), the cabinet home, the card page and
the public verification page. Through Flask's test client (no gunicorn, no socket), on the benchmark's database.

    PYTHONPATH=$PWD .venv/bin/python -m bench.cabinet_profile                 # the table
    PYTHONPATH=$PWD .venv/bin/python -m bench.cabinet_profile --cprofile card # + the top functions of one path

Needs the database bench/cabinet.py made (its registered members); it changes nothing but what the requests
themselves write (throttle rows, audit entries, last-login times).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import time

import psycopg
from sqlalchemy import event

from bench.cabinet import DEFAULT_URL, PASSWORD
from bench.registry import conninfo

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def people(url: str, n: int) -> list[tuple[str, str]]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT m.card_number, a.verify_token FROM member_accounts a JOIN members m "
                            "ON m.id = a.member_id WHERE a.closed_at IS NULL ORDER BY a.id LIMIT %s", (n,)).fetchall()


_TICK = os.sysconf("SC_CLK_TCK")


def pg_cpu(url: str) -> float:
    """CPU seconds (user + system) so far of the PostgreSQL backends connected to the benchmark's database, read
    from /proc (the server runs on this machine); the connection asking is left out."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND pid <> pg_backend_pid()").fetchall()]
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


class Counter:
    """SQL statements executed and their kinds (SELECT / INSERT / UPDATE / DELETE / BEGIN-COMMIT)."""

    def __init__(self, engine):
        self.kinds: dict[str, int] = {}
        self.sql: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on)
        event.listen(engine, "commit", self._commit)

    def _on(self, conn, cursor, statement, params, context, executemany):
        word = statement.lstrip().split(None, 1)[0].upper()
        self.kinds[word] = self.kinds.get(word, 0) + 1
        self.sql.append(statement)

    def _commit(self, conn):
        self.kinds["COMMIT"] = self.kinds.get("COMMIT", 0) + 1

    def take(self) -> tuple[dict, list[str]]:
        kinds, sql = self.kinds, self.sql
        self.kinds, self.sql = {}, []
        return kinds, sql


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("BENCH_CABINET_URL", DEFAULT_URL))
    ap.add_argument("--n", type=int, default=200, help="requests per path (logins: a fifth of it)")
    ap.add_argument("--cprofile", choices=("login_get", "login_post", "home", "card", "verify"), default=None)
    ap.add_argument("--show-sql", action="store_true", help="print one request's statements per path")
    args = ap.parse_args()

    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url, "PORTAL_INSECURE_COOKIES": "1",
                      "SESSION_COOKIE_SECURE": False})
    cards = people(args.url, max(args.n, 50))
    with app.app_context():
        counter = Counter(db.engine)
    addr = {"REMOTE_ADDR": "10.9.8.7"}

    def login(client, card: str) -> None:
        body = client.get("/cabinet/login", environ_base=addr).get_data(as_text=True)
        m = _CSRF.search(body)
        r = client.post("/cabinet/login", data={"csrf_token": m.group(1) or m.group(2), "card_number": card,
                                                "password": PASSWORD}, environ_base=addr)
        assert r.status_code == 302, (r.status_code, r.get_data(as_text=True)[:300])

    member = app.test_client()
    login(member, cards[0][0])
    state = {"i": 0, "token": None}

    def nxt():
        state["i"] += 1
        return cards[state["i"] % len(cards)]

    def login_get(client):
        body = client.get("/cabinet/login", environ_base=addr).get_data(as_text=True)
        m = _CSRF.search(body)
        state["token"] = m.group(1) or m.group(2)

    paths = {
        "login_get": (lambda: login_get(fresh()), None),
        "home": (lambda: member.get("/cabinet/", environ_base=addr), 200),
        "card": (lambda: member.get("/cabinet/card", environ_base=addr), 200),
        "verify": (lambda: app_client.get(f"/verify/{nxt()[1]}", environ_base=addr), 200),
    }
    app_client = app.test_client()
    clients: list = []

    def fresh():
        clients.append(app.test_client())
        return clients[-1]

    def make_once(name):
        if name == "login_post":
            def once():
                c = app.test_client()
                body = c.get("/cabinet/login", environ_base=addr).get_data(as_text=True)
                m = _CSRF.search(body)
                card = nxt()[0]
                form = {"csrf_token": m.group(1) or m.group(2), "card_number": card, "password": PASSWORD}
                counter.take()
                t = time.process_time()
                r = c.post("/cabinet/login", data=form, environ_base=addr)
                spent = time.process_time() - t
                assert r.status_code == 302, r.status_code
                return spent
            return once
        call, expect = paths[name]

        def once():
            counter.take()
            t = time.process_time()
            r = call()
            spent = time.process_time() - t
            if expect is not None:
                assert r.status_code == expect, (name, r.status_code)
            return spent
        return once

    names = ("login_get", "login_post", "home", "card", "verify")
    onces = {name: make_once(name) for name in names}
    for name in names:
        for _ in range(5):
            onces[name]()
    counter.take()
    # The machine is shared: the paths take turns in ROUNDS rounds, and each path's figure is its best round's
    # mean (the least disturbed), so a neighbour's burst does not land on one path only.
    rounds = 10
    cpu = {name: [] for name in names}
    pg = {name: 0.0 for name in names}
    last = {}
    profs = {name: cProfile.Profile(time.process_time) for name in names if name == args.cprofile}
    for _ in range(rounds):
        for name in names:
            n = max(args.n // 5 // rounds, 2) if name.startswith("login") else max(args.n // rounds, 2)
            prof = profs.get(name)
            pg0, spent = pg_cpu(args.url), []
            for _ in range(n):
                if prof:
                    prof.enable()
                spent.append(onces[name]())
                if prof:
                    prof.disable()
                last[name] = counter.take()
            pg[name] += pg_cpu(args.url) - pg0
            cpu[name].append(spent)
    rows = []
    for name in names:
        kinds, sql = last[name]
        every = [x for r in cpu[name] for x in r]
        best = min(sum(r) / len(r) for r in cpu[name])
        rows.append((name, len(every), best * 1000, sorted(every)[len(every) // 2] * 1000,
                     pg[name] / len(every) * 1000, kinds))
        if args.show_sql:
            print(f"--- {name}: {len(sql)} statements")
            for s in sql:
                print("   ", " ".join(s.split())[:200])
        if name in profs:
            out = io.StringIO()
            pstats.Stats(profs[name], stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profs[name], stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())

    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| path | n | Python CPU ms (best round's mean) | median | PostgreSQL CPU ms | SQL statements (last request) |")
    print("|---|---|---|---|---|---|")
    for name, n, mean, median, pg, kinds in rows:
        total = sum(v for k, v in kinds.items() if k != "COMMIT")
        detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(f"| {name} | {n} | {mean:.2f} | {median:.2f} | {pg:.2f} | {total} ({detail}) |")


if __name__ == "__main__":
    main()
