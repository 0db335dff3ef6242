"""The member cabinet benchmark: argon2 hash time alone, member logins/s at 8 concurrent clients, cabinet home and
card page p95 at 16 concurrent members, and the public verification page's requests/s — over HTTP through gunicorn
on PostgreSQL with a generated registry. Writes bench/cabinet_results.json and prints a Markdown table.

    .venv/bin/python -m bench.cabinet --members 20000 --accounts 500 --seconds 10     # small scale, a few minutes
    nice -n 10 .venv/bin/python -m bench.cabinet --members 1300000 --accounts 20000   # the issue's scale

Registered members are made directly in the database (an issued card, a signed consent, one account each, all with
the same password hashed once with the members' parameters), so the figures are the cabinet's, not registration's.
Targets (issue 11): ≥ 50 logins/s at 8 clients; home and card p95 ≤ 50 ms at 16; verification ≥ 500 req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.registry import conninfo, fill, log, make_app, pct, prepare_database, upgrade_with_current_code
from bench.web import Browser, free_port

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "cabinet_results.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench_cabinet"
PASSWORD = "bench-member-2026"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def hash_time(n: int = 20) -> dict:
    """Milliseconds to hash and to verify one password with the members' parameters, alone (no HTTP)."""
    from portal.cabinet.models import _MEMBER_HASHERS

    hasher = _MEMBER_HASHERS["standard"]
    hashes, verifies = [], []
    stored = hasher.hash(PASSWORD)
    for _ in range(n):
        t = time.perf_counter()
        hasher.hash(PASSWORD)
        hashes.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verifies.append((time.perf_counter() - t) * 1000)
    return {"params": f"argon2id m={hasher.memory_cost} KiB t={hasher.time_cost} p={hasher.parallelism}",
            "hash_ms": statistics.median(hashes), "verify_ms": statistics.median(verifies),
            "verify_ceiling_per_s_2_cores": 2 * 1000 / statistics.median(verifies)}


def make_accounts(url: str, accounts: int, seed: int) -> list[dict]:
    """Turn `accounts` random active members into registered card holders; returns their card numbers and tokens."""
    from portal.cabinet.models import _MEMBER_HASHERS
    from portal.cards.operations import card_number

    stored = _MEMBER_HASHERS["standard"].hash(PASSWORD)
    with psycopg.connect(conninfo(url)) as conn:
        done = conn.execute("SELECT m.card_number, a.verify_token FROM member_accounts a "
                            "JOIN members m ON m.id = a.member_id ORDER BY a.id").fetchall()
        if len(done) >= accounts:
            return [{"card": c, "verify": v} for c, v in done[:accounts]]
        conn.execute("DELETE FROM member_tokens")
        conn.execute("DELETE FROM member_family")
        conn.execute("DELETE FROM member_accounts")
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM members WHERE status = 'active' AND card_number IS NULL ORDER BY random() LIMIT %s",
            (accounts,)).fetchall()]
        base = 900_000_000
        out = []
        with conn.cursor() as cur:
            for i, member_id in enumerate(ids):
                number, token = card_number(base + i), secrets.token_urlsafe(24)
                cur.execute("UPDATE members SET card_number = %s, card_status = 'issued', consent_status = 'signed' "
                            "WHERE id = %s", (number, member_id))
                cur.execute("INSERT INTO member_accounts (member_id, email, email_confirmed_at, phone, password_hash,"
                            " rules_accepted_at, session_version, verify_token, closed_reason) VALUES "
                            "(%s, %s, now(), '', %s, now(), 1, %s, '')",
                            (member_id, f"m{member_id}@bench.local", stored, token))
                out.append({"card": number, "verify": token})
        conn.commit()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) member_accounts")
        conn.execute("ANALYZE members")
    return out


class Server:
    """gunicorn (2 workers × 4 threads) on the bench database; argon2-cffi releases the GIL while hashing."""

    def __init__(self, url: str, workdir: Path, workers: int = 2, threads: int = 4):
        self.port = free_port()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        env = {**os.environ, "DATABASE_URL": conninfo(url), "PORTAL_INSECURE_COOKIES": "1",
               "PORTAL_INSTANCE": str(workdir / "instance"), "SECRET_KEY": "bench-" + secrets.token_hex(8)}
        self.log = open(workdir / "gunicorn.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([str(gunicorn), "-w", str(workers), "--threads", str(threads), "-b",
                                      f"127.0.0.1:{self.port}", "wsgi:app"], cwd=HERE.parent, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                b = Browser("127.0.0.1", self.port)
                if b.get("/cabinet/login")[0] == 200:
                    b.close()
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start; see gunicorn.log")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def member_login(b: Browser, card: str) -> float:
    """The real form: GET for the CSRF token, POST the card and password; returns the POST's seconds."""
    _, _, body = b.get("/cabinet/login")
    m = _CSRF.search(body.decode())
    token = m.group(1) or m.group(2)
    form = urlencode({"csrf_token": token, "card_number": card, "password": PASSWORD}).encode()
    t = time.perf_counter()
    status, _, data = b.request("POST", "/cabinet/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    elapsed = time.perf_counter() - t
    if status != 302:
        raise RuntimeError(f"login failed: {status} {data[:200]!r}")
    return elapsed


def run_clients(n: int, seconds: float, work) -> list[float]:
    """`n` threads calling work(i) → seconds for `seconds`; all the timings."""
    timings: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        mine = []
        while time.monotonic() < stop:
            mine.append(work(i))
        with lock:
            timings.extend(mine)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("BENCH_CABINET_URL", DEFAULT_URL))
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    result: dict = {"members": args.members, "accounts": args.accounts, "seconds": args.seconds,
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    result["hash"] = hash_time()
    log("hash alone:", result["hash"])
    if prepare_database(args.url, args.members, args.fresh):
        migrate_app = make_app(args.url)
        from bench.registry import migrate

        migrate(migrate_app)
        fill(args.url, args.members, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-cabinet-"))
    upgrade_with_current_code(args.url, workdir)
    people = make_accounts(args.url, args.accounts, args.seed)
    log(f"{len(people)} registered members")
    server = Server(args.url, workdir)
    try:
        # logins/s at 8 concurrent clients (a fresh browser each time: a new session per login)
        def login_once(i: int) -> float:
            b = Browser("127.0.0.1", server.port)
            try:
                return member_login(b, rng.choice(people)["card"])
            finally:
                b.close()

        t0 = time.perf_counter()
        times = run_clients(8, args.seconds, login_once)
        wall = time.perf_counter() - t0
        result["login"] = {"per_s": len(times) / wall, "p50_ms": pct([x * 1000 for x in times], 0.5),
                           "p95_ms": pct([x * 1000 for x in times], 0.95), "n": len(times)}
        log("logins at 8 clients:", result["login"])

        # cabinet home and card page at 16 concurrent members, each logged in once
        browsers = []
        for person in rng.sample(people, min(16, len(people))):
            b = Browser("127.0.0.1", server.port)
            member_login(b, person["card"])
            browsers.append(b)
        for path, key in (("/cabinet/", "home"), ("/cabinet/card", "card")):
            def page(i: int, path=path) -> float:
                t = time.perf_counter()
                status, _, _ = browsers[i % len(browsers)].get(path)
                if status != 200:
                    raise RuntimeError(f"{path}: {status}")
                return time.perf_counter() - t

            t0 = time.perf_counter()
            times = run_clients(len(browsers), args.seconds, page)
            wall = time.perf_counter() - t0
            ms = [x * 1000 for x in times]
            result[key] = {"p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95), "per_s": len(ms) / wall, "n": len(ms)}
            log(f"{path} at {len(browsers)} members:", result[key])
        for b in browsers:
            b.close()

        # the public verification page (keep-alive clients, valid tokens)
        verifiers = [Browser("127.0.0.1", server.port) for _ in range(8)]

        def verify(i: int) -> float:
            t = time.perf_counter()
            status, _, _ = verifiers[i].get(f"/verify/{rng.choice(people)['verify']}")
            if status != 200:
                raise RuntimeError(f"verify: {status}")
            return time.perf_counter() - t

        t0 = time.perf_counter()
        times = run_clients(8, args.seconds, verify)
        wall = time.perf_counter() - t0
        result["verify"] = {"per_s": len(times) / wall, "p95_ms": pct([x * 1000 for x in times], 0.95), "n": len(times)}
        log("verification at 8 clients:", result["verify"])
    finally:
        server.stop()
    RESULTS_JSON.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(render(result))


def render(r: dict) -> str:
    h, lg, home, card, v = r["hash"], r["login"], r["home"], r["card"], r["verify"]
    return "\n".join([
        f"Member cabinet, {r['members']:,} members, {r['accounts']:,} registered, {r['cpus']} CPUs "
        f"(load {r['load_before']:.1f} before), {r['seconds']:.0f} s per phase",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| hash alone ({h['params']}) | hash {h['hash_ms']:.1f} ms, verify {h['verify_ms']:.1f} ms "
        f"(ceiling ≈ {h['verify_ceiling_per_s_2_cores']:.0f}/s on 2 cores) | — |",
        f"| member logins, 8 clients | {lg['per_s']:.1f}/s (p95 {lg['p95_ms']:.0f} ms) | ≥ 50/s |",
        f"| cabinet home, 16 members | p95 {home['p95_ms']:.1f} ms ({home['per_s']:.0f}/s) | p95 ≤ 50 ms |",
        f"| card page, 16 members | p95 {card['p95_ms']:.1f} ms ({card['per_s']:.0f}/s) | p95 ≤ 50 ms |",
        f"| verification page, 8 clients | {v['per_s']:.0f}/s (p95 {v['p95_ms']:.1f} ms) | ≥ 500/s |",
    ])


if __name__ == "__main__":
    main()
