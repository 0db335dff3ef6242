"""The member cabinet benchmark: argon2 hash time alone, member logins/s at 8 concurrent clients, cabinet home and
card page p95 at 16 concurrent members, and the public verification page's requests/s — over HTTP through gunicorn
on PostgreSQL with a generated registry. Writes bench/cabinet_results.json and prints a Markdown table.

    .venv/bin/python -m bench.cabinet --members 20000 --accounts 500 --seconds 10     # small scale, a few minutes
    nice -n 5 .venv/bin/python -m bench.cabinet --members 1300000 --accounts 5000 --seconds 10   # the issue's scale
    ... --workers 2 --threads 4 --only card verify                                    # a gunicorn shape, some phases

Each concurrent client is a process of its own (no interpreter lock shared between clients), and every phase
reports the CPU milliseconds a request cost the server (gunicorn's processes), PostgreSQL (the bench database's
backends) and the clients, with the load average — the machine is shared. `bench.cabinet_profile` breaks the
server's work down per path in process (CPU, SQL statements).

Registered members are made directly in the database (an issued card, a signed consent, one account each, all with
the same password hashed once with the members' parameters), so the figures are the cabinet's, not registration's.
Targets (issue 11): ≥ 50 logins/s at 8 clients; home and card p95 ≤ 50 ms at 16; verification ≥ 500 req/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
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
    """gunicorn on the bench database (`make run`'s workers × threads by default); argon2-cffi releases the GIL
    while hashing, so a worker's other threads serve pages meanwhile."""

    def __init__(self, url: str, workdir: Path, workers: int = 2, threads: int = 4, worker_class: str = ""):
        self.port = free_port()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        env = {**os.environ, "DATABASE_URL": conninfo(url), "PORTAL_INSECURE_COOKIES": "1",
               "PORTAL_INSTANCE": str(workdir / "instance"), "SECRET_KEY": "bench-" + secrets.token_hex(8)}
        self.log = open(workdir / "gunicorn.log", "ab")  # noqa: SIM115 (closed in stop)
        extra = ["-k", worker_class] if worker_class else []
        self.proc = subprocess.Popen([str(gunicorn), "-w", str(workers), "--threads", str(threads), *extra, "-b",
                                      f"127.0.0.1:{self.port}", "wsgi:app"], cwd=HERE.parent, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                b = Browser("127.0.0.1", self.port)
                if b.get("/cabinet/login")[0] == 200:
                    b.close()
                    # every worker up (each answers its first request slowly: imports, the first connection)
                    for _ in range(4 * workers):
                        b = Browser("127.0.0.1", self.port)
                        b.get("/cabinet/login")
                        b.close()
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start; see gunicorn.log")

    def pids(self) -> list[int]:
        """The master and its workers."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid, *(int(x) for x in out.stdout.split())]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds so far of each of these processes (from /proc; a process gone is left out)."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process that appeared meanwhile counts from zero."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def postgres_pids(url: str) -> list[int]:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND pid <> pg_backend_pid()").fetchall()]


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


# ---- the load: one process per client ------------------------------------------------------------------------------
#
# Each concurrent client is a process of its own (forked, so nothing is imported again): no client waits for
# another's turn at one interpreter lock, and each reports its own CPU time, so the table says how much of the two
# cores the load generator itself took from the server.


def _client(kind: str, i: int, port: int, people: list[dict], path: str, seed: int, barrier, stop_after: float,
            queue) -> None:
    rng = random.Random(seed * 1000 + i)
    browser = None
    try:
        if kind == "page":  # a member logged in once, then the page again and again on one connection
            browser = Browser("127.0.0.1", port)
            member_login(browser, people[i % len(people)]["card"])
        elif kind == "verify":  # a partner's keep-alive connection
            browser = Browser("127.0.0.1", port)
        barrier.wait(timeout=120)
        cpu0 = time.process_time()
        stop = time.monotonic() + stop_after
        timings: list[float] = []
        while time.monotonic() < stop:
            if kind == "login":  # a fresh browser each time: a new session per login
                b = Browser("127.0.0.1", port)
                try:
                    timings.append(member_login(b, rng.choice(people)["card"]))
                finally:
                    b.close()
                continue
            target = path if kind == "page" else f"/verify/{rng.choice(people)['verify']}"
            t = time.perf_counter()
            status, _, _ = browser.get(target)
            timings.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"{target}: {status}")
        queue.put((timings, time.process_time() - cpu0, None))
    except Exception as err:  # noqa: BLE001 (reported by the parent)
        queue.put(([], 0.0, f"{type(err).__name__}: {err}"))
    finally:
        if browser is not None:
            browser.close()


def run_phase(kind: str, clients: int, seconds: float, server: Server, url: str, people: list[dict], *,
              path: str = "", seed: int = 0) -> dict:
    """`clients` processes doing `kind` for `seconds`; the timings, and the CPU each side used meanwhile."""
    ctx = multiprocessing.get_context("fork")
    queue, barrier = ctx.Queue(), ctx.Barrier(clients + 1)
    procs = [ctx.Process(target=_client, args=(kind, i, server.port, people, path, seed, barrier, seconds, queue))
             for i in range(clients)]
    for p in procs:
        p.start()
    spids = server.pids()
    barrier.wait(timeout=120)
    s0, p0, t0 = cpu_seconds(spids), cpu_seconds(postgres_pids(url)), time.perf_counter()
    results = [queue.get(timeout=seconds + 180) for _ in procs]
    wall = time.perf_counter() - t0
    server_cpu = cpu_spent(s0, cpu_seconds(spids))
    postgres_cpu = cpu_spent(p0, cpu_seconds(postgres_pids(url)))
    for p in procs:
        p.join(timeout=30)
    errors = [e for _, _, e in results if e]
    if errors:
        raise RuntimeError(f"{kind} {path}: {errors[0]} ({len(errors)} clients failed)")
    ms = [x * 1000 for r in results for x in r[0]]
    client_cpu = sum(r[1] for r in results)
    n = len(ms)
    cores = os.cpu_count() or 1
    return {"per_s": n / wall, "p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95), "n": n, "clients": clients,
            "server_cpu_ms": server_cpu / n * 1000, "postgres_cpu_ms": postgres_cpu / n * 1000,
            "client_cpu_ms": client_cpu / n * 1000, "client_share": client_cpu / (wall * cores),
            "server_share": server_cpu / (wall * cores), "postgres_share": postgres_cpu / (wall * cores),
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("BENCH_CABINET_URL", DEFAULT_URL))
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn workers (make run: 4)")
    ap.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker (make run: 2)")
    ap.add_argument("--worker-class", default="", help="gunicorn -k (default: gthread when threads > 1)")
    ap.add_argument("--only", nargs="*", choices=("login", "home", "card", "verify"), default=None,
                    help="run only these phases")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    phases = set(args.only or ("login", "home", "card", "verify"))
    result: dict = {"members": args.members, "accounts": args.accounts, "seconds": args.seconds,
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()[0],
                    "gunicorn": f"{args.workers} workers × {args.threads} threads"
                                + (f" ({args.worker_class})" if args.worker_class else "")}
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
    server = Server(args.url, workdir, args.workers, args.threads, args.worker_class)
    try:
        if "login" in phases:  # logins/s at 8 concurrent clients
            result["login"] = run_phase("login", 8, args.seconds, server, args.url, people, seed=args.seed)
            log("logins at 8 clients:", result["login"])
        # cabinet home and card page at 16 concurrent members, each logged in once
        members = rng.sample(people, min(16, len(people)))
        for path, key in (("/cabinet/", "home"), ("/cabinet/card", "card")):
            if key in phases:
                result[key] = run_phase("page", len(members), args.seconds, server, args.url, members, path=path,
                                        seed=args.seed)
                log(f"{path} at {len(members)} members:", result[key])
        if "verify" in phases:  # the public verification page (keep-alive clients, valid tokens)
            result["verify"] = run_phase("verify", 8, args.seconds, server, args.url, people, seed=args.seed)
            log("verification at 8 clients:", result["verify"])
    finally:
        server.stop()
    RESULTS_JSON.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(render(result))


def render(r: dict) -> str:
    """The Markdown table: each figure with its target, the load average during the phase, and the CPU per request
    of the server (gunicorn's processes), PostgreSQL and the load generator's client processes."""
    h = r["hash"]
    rows = [
        f"Member cabinet, {r['members']:,} members, {r['accounts']:,} registered, {r['cpus']} CPUs, gunicorn "
        f"{r.get('gunicorn', '2 workers × 4 threads')} (load {r['load_before']:.1f} before), {r['seconds']:.0f} s "
        "per phase",
        "",
        "| measure | result | target | load | CPU ms a request: server / PostgreSQL / client | client's share of the "
        "cores |",
        "|---|---|---|---|---|---|",
        f"| hash alone ({h['params']}) | hash {h['hash_ms']:.1f} ms, verify {h['verify_ms']:.1f} ms "
        f"(ceiling ≈ {h['verify_ceiling_per_s_2_cores']:.0f}/s on 2 cores) | reported | "
        f"{r['load_before']:.1f} | | |",
    ]
    lines = (("login", "member logins (GET form + POST), 8 clients", lambda x: f"{x['per_s']:.1f}/s (p95 "
              f"{x['p95_ms']:.0f} ms)", "≥ 50/s", lambda x: x["per_s"] >= 50),
             ("home", "cabinet home, 16 members", lambda x: f"p95 {x['p95_ms']:.1f} ms ({x['per_s']:.0f} req/s)",
              "p95 ≤ 50 ms", lambda x: x["p95_ms"] <= 50),
             ("card", "card page, 16 members", lambda x: f"p95 {x['p95_ms']:.1f} ms ({x['per_s']:.0f} req/s)",
              "p95 ≤ 50 ms", lambda x: x["p95_ms"] <= 50),
             ("verify", "verification page, 8 clients", lambda x: f"{x['per_s']:.0f} req/s (p95 "
              f"{x['p95_ms']:.1f} ms)", "≥ 500 req/s", lambda x: x["per_s"] >= 500))
    for key, title, fmt, target, met in lines:
        x = r.get(key)
        if not x:
            continue
        cpu = f"{x['server_cpu_ms']:.2f} / {x['postgres_cpu_ms']:.2f} / {x['client_cpu_ms']:.2f}"
        rows.append(f"| {title} | {fmt(x)} {'✅' if met(x) else '❌'} | {target} | {x['load']:.1f} | {cpu} | "
                    f"{x['client_share']:.0%} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
