"""The registry benchmark: a realistic registry of N members in a dedicated PostgreSQL database, then the import
rate, a primary chair's member list and a territorial chair's surname search — over HTTP (gunicorn), in-process,
through the data-access layer alone, and as the best hand-written SQL — written to bench/RESULTS.md.

    .venv/bin/python -m bench.registry                       # 1,300,000 members (reuses the database)
    nice -n 10 .venv/bin/python -m bench.registry --members 5000000 --fresh

Timings are taken one request at a time (latency, not throughput), after a warm-up, for random primaries,
territorials and surname prefixes drawn from a fixed seed; HTTP, in-process and SQL timings of one case are taken
back to back so that a busy neighbour on the machine shifts all of them alike.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench import generate
from bench.web import Browser, Gunicorn

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/profportal_bench"
PASSWORD = "bench-password-2026"
PAGE = 50

TARGETS = {
    "import_csv": ("≥ 30 000 rows/s", lambda r: r >= 30_000),
    "list_http": ("p95 ≤ 30 ms at 5M", lambda s: s["p95"] <= 30),
    "terr_http": ("p95 ≤ 50 ms at 5M", lambda s: s["p95"] <= 50),
    "search_http": ("p95 ≤ 50 ms at 5M", lambda s: s["p95"] <= 50),
    "ratio": ("DAL/SQL ≤ 2×", lambda x: x <= 2),
}


def log(*a) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---- statistics ------------------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile of milliseconds."""
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def summary(seconds: list[float]) -> dict:
    ms = [x * 1000 for x in seconds]
    return {"n": len(ms), "p50": round(pct(ms, 0.5), 2), "p95": round(pct(ms, 0.95), 2),
            "max": round(max(ms), 2), "mean": round(sum(ms) / len(ms), 2)}


# ---- database --------------------------------------------------------------------------------------------------


def conninfo(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def prepare_database(url: str, members: int, fresh: bool) -> bool:
    """Create (or re-create) the bench database; True if it must be filled, False if it is reused as is."""
    name = make_url(url).database
    if not name or "bench" not in name:
        sys.exit(f"refusing to manage database {name!r}: the bench database name must contain 'bench'")
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and not fresh:
            with psycopg.connect(conninfo(url), autocommit=True) as c:
                meta = read_meta(c)
            if meta.get("members") == str(members) and meta.get("complete") == "1":
                log(f"reusing {name}: {members:,} members generated on {meta.get('generated_on')}")
                return False
            log(f"{name} holds {meta.get('members', 'an unfinished load')}, not {members:,}: re-creating it")
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        log(f"created database {name}")
    return True


def read_meta(conn) -> dict:
    if conn.execute("SELECT to_regclass('bench.meta')").fetchone()[0] is None:
        return {}
    return dict(conn.execute("SELECT key, value FROM bench.meta").fetchall())


def write_meta(conn, **values) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    conn.execute("CREATE TABLE IF NOT EXISTS bench.meta (key text PRIMARY KEY, value text)")
    for k, v in values.items():
        conn.execute("INSERT INTO bench.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (k, json.dumps(v) if isinstance(v, dict | list) else str(v)))


def make_app(url: str, **extra):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, **extra})


def migrate(app) -> None:
    from flask_migrate import upgrade

    from portal.extensions import db

    with app.app_context():
        upgrade()
        db.engine.dispose()


def upgrade_with_current_code(url: str, workdir: Path, attempts: int = 10) -> None:
    """Migrate in a new process: the code on disk may have gained migrations since this one started (the project
    is edited while the benchmark runs), and gunicorn will load that code. Run as `python -c` from the project
    root rather than the `portal` script, whose editable-install finder can be stale (see RESULTS.md). A tree
    caught mid-edit fails to import; wait and retry."""
    import subprocess

    env = {**os.environ, "DATABASE_URL": conninfo(url), "PORTAL_INSTANCE": str(workdir / "instance")}
    code = ("from flask_migrate import upgrade; from portal import create_app; app = create_app(); "
            "ctx = app.app_context(); ctx.push(); upgrade()")
    for attempt in range(1, attempts + 1):
        r = subprocess.run([sys.executable, "-c", code], cwd=HERE.parent, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            return
        log(f"migration with the current code failed (attempt {attempt}): {r.stderr.strip().splitlines()[-1:]}")
        if attempt < attempts:
            time.sleep(30)
    raise RuntimeError("the project's code on disk does not start; try again later")


def fill(url: str, members: int, seed: int) -> dict:
    """Generate the registry with COPY, then VACUUM ANALYZE; returns the timings."""
    with psycopg.connect(conninfo(url)) as conn:
        pid = conn.info.backend_pid
        _renice(pid)
        t0 = time.perf_counter()
        out = generate.load(conn, members, seed, log=log)
        out["total_load_seconds"] = time.perf_counter() - t0
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        _renice(conn.info.backend_pid)
        t1 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table in ("organisations", "members", "member_events"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        out["vacuum_analyze_seconds"] = time.perf_counter() - t1
        log(f"VACUUM ANALYZE in {out['vacuum_analyze_seconds']:.1f} s")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database())), "
                            "pg_size_pretty(pg_total_relation_size('members'))").fetchone()
        out["database_size"], out["members_size"] = size
        write_meta(conn, members=members, seed=seed, generated_on=date.today().isoformat(), complete=1,
                   generation=json.dumps(out))
    return out


def _renice(pid: int) -> None:
    """Lower the priority of our own bulk-loading backend (the machine is shared); ignore if not permitted."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 10)
    except OSError:
        pass


def machine_facts(url: str) -> dict:
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    with psycopg.connect(conninfo(url), autocommit=True) as c:
        version = c.execute("SHOW server_version").fetchone()[0]
        settings = dict(c.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
                                  "('shared_buffers', 'work_mem', 'effective_cache_size', 'synchronous_commit', "
                                  "'jit', 'random_page_cost')").fetchall())
    return {"nproc": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
            "cpu": cpu.group(1).strip() if cpu else platform.processor(), "postgres": version,
            "pg_settings": settings, "python": platform.python_version()}


# ---- fixtures: users, cases --------------------------------------------------------------------------------------


def pick_orgs(url: str, rng: random.Random, n_primaries: int, n_territorials: int) -> tuple[list[int], list[int]]:
    with psycopg.connect(conninfo(url), autocommit=True) as c:
        prim = [r[0] for r in c.execute("SELECT id FROM organisations WHERE level = 'primary' "
                                        "AND name NOT LIKE 'Бенчмарк%%' ORDER BY id")]
        terr = [r[0] for r in c.execute("SELECT id FROM organisations WHERE level = 'territorial' ORDER BY id")]
    return rng.sample(prim, n_primaries), rng.sample(terr, n_territorials)


def ensure_users(app, orgs: list[int], role_name: str, tag: str) -> list[dict]:
    """Staff accounts bench-<tag>-<org id> (created once, password reset to the bench one)."""
    from sqlalchemy import select

    from portal.auth.models import Role, User
    from portal.extensions import db

    role = Role(role_name)
    with app.app_context():
        logins = [f"bench-{tag}-{oid}" for oid in orgs]
        have = {u.login: u for u in db.session.scalars(select(User).where(User.login.in_(logins)))}
        for oid, login in zip(orgs, logins, strict=True):
            u = have.get(login)
            if u is None:
                u = User(login=login, role=role, org_id=oid, full_name=f"Бенчмарк {oid}", must_change_password=False)
                u.set_password(PASSWORD)
                db.session.add(u)
                have[login] = u
        db.session.commit()
        out = [{"id": have[lg].id, "login": lg, "org_id": have[lg].org_id, "key": have[lg].get_id()} for lg in logins]
        db.session.remove()
    return out


def common_prefixes(k: int = 20) -> list[str]:
    """2–4-letter prefixes of the most frequent surnames (as a chair would type them)."""
    pools = generate.NamePools()
    out = []
    for surname in pools.common_surnames(k):
        for n in (2, 3, 4):
            if surname[:n] not in out:
                out.append(surname[:n])
    return out


# ---- imports -----------------------------------------------------------------------------------------------------


def measure_imports(app, url: str, rng: random.Random, csv_rows: int, xlsx_rows: int, workdir: Path,
                    max_load: float = 1e9, max_wait: float = 0) -> dict:
    """Import a CSV and an XLSX through portal.registry.imports.import_file into fresh primaries."""
    from bench import importfiles
    from portal.registry import imports

    if not hasattr(imports, "import_file"):
        log("import: portal.registry.imports.import_file does not exist (yet)")
        return {"csv": {"error": "not measured: import API missing"},
                "xlsx": {"error": "not measured: import API missing"}}
    out = {}
    for kind, rows, writer in (("csv", csv_rows, importfiles.write_csv), ("xlsx", xlsx_rows, importfiles.write_xlsx)):
        if rows <= 0:
            continue
        path = workdir / f"members-{rows}.{kind}"
        t0 = time.perf_counter()
        writer(path, rows, rng.randrange(10**9), "МБОУ «Средняя общеобразовательная школа № 1» (бенчмарк)")
        log(f"import: wrote {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
        wait_for_quiet(max_load, max_wait)
        try:
            out[kind] = _import_one(app, url, rng, kind, path, rows)
        except Exception as e:  # noqa: BLE001 (the API is being written right now; report, don't hide)
            log(f"import {kind} failed: {e!r}")
            out[kind] = {"error": f"failed: {type(e).__name__}: {str(e)[:200]}"}
        if kind == "csv":
            # Other people of the same shape (the imported ones are in the registry now).
            raw_path = workdir / f"members-raw-{rows}.csv"
            writer(raw_path, rows, rng.randrange(10**9), "МБОУ «Средняя общеобразовательная школа № 2» (бенчмарк)")
            wait_for_quiet(max_load, max_wait)
            try:
                out["raw_copy"] = _raw_copy(url, rng, raw_path)
            except Exception as e:  # noqa: BLE001
                log(f"raw COPY failed: {e!r}")
                out["raw_copy"] = {"error": f"failed: {type(e).__name__}: {str(e)[:200]}"}
    return out


def _raw_copy(url: str, rng: random.Random, path: Path) -> dict:
    """The database's share of the import alone: the CSV's rows, typed beforehand (untimed), written into a
    primary by bare COPY — members, then members and their «joined» events — in 5 000-row chunks, each in a
    transaction rolled back. This is the machine's ceiling for the import's write with every index, foreign
    key and check in place (the issue's «COPY with keys in place»), measured in the same run."""
    from datetime import date as _date

    from portal.registry import imports

    sheet = imports.open_sheet(path, path.name)
    reader = imports.RowReader(imports.resolve_mapping(sheet.headers), _date.today())
    candidates = [(r.person_key, n, r) for n, cells in sheet.rows for r in [reader.stage(cells)]]
    with psycopg.connect(conninfo(url)) as conn:
        known = {r[0] for r in conn.execute("SELECT person_key FROM members WHERE person_key = ANY(%s)",
                                            ([c[0] for c in candidates],))}
        candidates = [c for c in candidates if c[0] not in known]  # a chance namesake of someone registered
        out = {"rows": len(candidates)}
        org = pick_orgs(url, rng, 1, 0)[0][0]
        payloads = [imports._chunk_payload(sorted(candidates[i:i + imports.CHUNK_ROWS]), org, None)
                    for i in range(0, len(candidates), imports.CHUNK_ROWS)]
        for label, with_events in (("members", False), ("members_events", True)):
            seconds = 0.0
            with conn.cursor() as cur:
                for payload in payloads:
                    ids = imports.new_member_ids(cur, payload.count)
                    member_text, event_text = payload.members(ids), payload.events(ids)
                    t0 = time.perf_counter()
                    with cur.copy(imports.MEMBER_COPY_SQL) as copy:
                        copy.write(member_text)
                    if with_events:
                        with cur.copy(imports.EVENT_COPY_SQL) as copy:
                            copy.write(event_text)
                    seconds += time.perf_counter() - t0
            conn.rollback()
            out[label] = {"seconds": round(seconds, 2), "rate": round(len(candidates) / seconds)}
            log(f"raw COPY ({label.replace('_', ' + ')}): {len(candidates):,} rows in {seconds:.1f} s = "
                f"{len(candidates) / seconds:,.0f} rows/s")
    return out


def _import_one(app, url: str, rng: random.Random, kind: str, path: Path, rows: int) -> dict:
    from sqlalchemy import func, select

    from portal.auth.models import Role, User
    from portal.extensions import db
    from portal.registry import imports
    from portal.registry import operations as ops
    from portal.registry.models import InstitutionKind, Member, Organisation, OrgLevel

    with app.app_context():
        parent = db.session.get(Organisation, pick_orgs(url, rng, 1, 1)[1][0])
        stamp = time.strftime("%Y%m%d-%H%M%S")
        org = ops.add_organisation(None, parent, OrgLevel.PRIMARY, f"Бенчмарк импорта {kind.upper()} {stamp}",
                                   short_name=f"Бенчмарк {kind} {stamp}", kind=InstitutionKind.SCHOOL,
                                   staff_count=rows)
        actor = User(login=f"bench-import-{org.id}", role=Role.PRIMARY_CHAIR, org_id=org.id,
                     full_name="Бенчмарк импорта", must_change_password=False)
        actor.set_password(PASSWORD)
        db.session.add(actor)
        db.session.commit()
        org_id = org.id
        with open(path, "rb") as source:
            t0 = time.perf_counter()
            result = imports.import_file(org, source, path.name, actor)
            db.session.commit()
            seconds = time.perf_counter() - t0
        count = db.session.scalar(select(func.count()).select_from(Member).where(Member.org_id == org_id))
        db.session.remove()
    details = {}
    for k in ("rows", "imported", "duplicates", "refused"):
        v = getattr(result, k, None)
        details[k] = len(v) if isinstance(v, list) else v
    rate = rows / seconds
    if details.get("imported") != rows:
        log(f"import {kind}: only {details.get('imported')} of {rows} rows imported — not a happy-path rate")
        return {"error": f"not measured: {details.get('imported')} of {rows} rows imported ({details})",
                "rows": rows, "seconds": round(seconds, 2), "rate": round(rate)}
    log(f"import {kind}: {rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s; members now in the org: {count:,}; "
        f"result {details}")
    return {"rows": rows, "seconds": round(seconds, 2), "rate": round(rate), "members_in_org": count,
            "result": details, "org_id": org_id}


# ---- the measured operations ---------------------------------------------------------------------------------------


class InProcess:
    """The app in this process: the view's queries alone (DAL), the whole view function, and the test client."""

    def __init__(self, app):
        from sqlalchemy import event

        from portal.extensions import db

        self.app = app
        self.clients: dict[int, object] = {}
        self.statements = 0
        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.statements += 1

    def login_clients(self, users: list[dict]) -> None:
        for u in users:
            c = self.app.test_client()
            r = c.post("/login", data={"login": u["login"], "password": PASSWORD})
            if r.status_code != 302:
                raise RuntimeError(f"in-process login of {u['login']}: {r.status_code}")
            self.clients[u["id"]] = c

    def client_get(self, user: dict, path: str) -> float:
        t0 = time.perf_counter()
        r = self.clients[user["id"]].get(path)
        r.get_data()
        dt = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"in-process GET {path}: {r.status_code}")
        return dt

    def members_dal(self, user: dict, org_id: int, q: str | None) -> tuple[float, dict]:
        """What GET /orgs/<id>/members asks the database, timed by phase (the audit write is timed apart).

        The view's own functions: `portal.registry.views.member_page` (count when needed, page, organisations).
        """
        from flask import request
        from flask_login import login_user

        from portal import audit, policy
        from portal.auth.views import load_user
        from portal.extensions import db
        from portal.registry import views

        pc = time.perf_counter
        qs = {"q": q} if q else {}
        with self.app.test_request_context(f"/orgs/{org_id}/members", query_string=qs):
            t0 = pc()
            current = load_user(user["key"])
            login_user(current)
            t1 = pc()
            org = policy.get_org(current, org_id)
            t2 = pc()
            listing = views.member_page(org, request.args)
            t3 = pc()
            audit.write("member_list", org, ids=[m.id for m in listing["rows"]], filters=listing["applied"])
            audit.commit_read()
            t4 = pc()
            db.session.remove()
            t5 = pc()
        assert listing["total"] >= len(listing["rows"])
        phases = {"user": t1 - t0, "get_org": t2 - t1, "page": t3 - t2, "audit_commit": t4 - t3, "teardown": t5 - t4,
                  "queries": t3 - t1}
        return t3 - t0, phases

    def search_dal(self, user: dict, text: str) -> tuple[float, dict]:
        """What GET /search asks the database: `views.search_rows` and `views.org_names`."""
        from flask_login import login_user

        from portal import audit
        from portal.auth.views import load_user
        from portal.extensions import db
        from portal.registry import views

        pc = time.perf_counter
        with self.app.test_request_context("/search", query_string={"q": text}):
            t0 = pc()
            current = load_user(user["key"])
            login_user(current)
            t1 = pc()
            rows = views.search_rows(text)[:PAGE]
            t2 = pc()
            views.org_names(rows)
            t3 = pc()
            audit.write("member_search", object_type="members", org_id=current.org_id,
                        ids=[m.id for m in rows], query_length=len(text))
            audit.commit_read()
            t4 = pc()
            db.session.remove()
            t5 = pc()
        return t3 - t0, {"user": t1 - t0, "search": t2 - t1, "orgs": t3 - t2, "audit_commit": t4 - t3,
                         "teardown": t5 - t4, "queries": t3 - t1}

    def view(self, user: dict, endpoint: str, path: str, qs: dict, **kw) -> tuple[float, dict]:
        """The whole view function (queries, audit write, commit, template), without WSGI, cookies or hooks."""
        from flask_login import login_user

        from portal.auth.views import load_user
        from portal.extensions import db

        with self.app.test_request_context(path, query_string=qs):
            n0 = self.statements
            t0 = time.perf_counter()
            login_user(load_user(user["key"]))
            rv = self.app.view_functions[endpoint](**kw)
            body = rv if isinstance(rv, str) else rv.get_data()
            db.session.remove()
            dt = time.perf_counter() - t0
            n = self.statements - n0
        assert body
        return dt, {"statements": n}


MEMBER_COLS = ", ".join(f"m.{c}" for c in ("id", "org_id", "last_name", "first_name", "patronymic",
                                            "last_name_folded", "person_key", "birth_date", "gender", "department",
                                            "position", "education", "dues_form", "joined_on", "tenure_start",
                                            "category", "address", "phone", "email", "status", "status_since",
                                            "consent_status", "card_status", "card_number", "created_at",
                                            "updated_at"))

SQL = {
    # The signed-in account and its organisation (role, scope), which every page must read before its own rows:
    # the hand-written counterpart of the DAL's user load.
    "account": "SELECT u.id, u.role, u.org_id, u.is_enabled, u.session_version, o.level, o.path FROM users u "
               "JOIN organisations o ON o.id = u.org_id WHERE u.id = %(user)s",
    # A primary chair's page: the 50 first by name, and the total for the pager.
    "list_page": f"SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = %(org)s AND m.status = 'active' "
                 "ORDER BY m.last_name_folded, m.id LIMIT 50",
    "list_count": "SELECT count(*) FROM members WHERE org_id = %(org)s AND status = 'active'",
    # A territorial chair's surname prefix over the subtree: the subtree's ids first (ARRAY(subquery) is an
    # initplan, so the plan does not hinge on the row estimate of `path LIKE 'prefix%'`, which is often far off),
    # each organisation probed on (org_id, last_name_folded), the best 50 kept, their organisations' names joined.
    # A JOIN or IN over organisations gave the same median but a p95 of 30–40 ms: for some subtrees the planner
    # expects ~1000 organisations and reads all of them (see RESULTS.md).
    "terr_page": f"SELECT {MEMBER_COLS}, o.short_name FROM (SELECT * FROM members m "
                 "WHERE m.org_id = ANY(ARRAY(SELECT id FROM organisations WHERE path LIKE %(path)s)) "
                 "AND m.last_name_folded LIKE %(prefix)s AND m.status = 'active' "
                 "ORDER BY m.last_name_folded, m.id LIMIT 50) m JOIN organisations o ON o.id = m.org_id "
                 "ORDER BY m.last_name_folded, m.id",
    "terr_count": "SELECT count(*) FROM members m "
                  "WHERE m.org_id = ANY(ARRAY(SELECT id FROM organisations WHERE path LIKE %(path)s)) "
                  "AND m.last_name_folded LIKE %(prefix)s AND m.status = 'active'",
    "search": f"SELECT {MEMBER_COLS}, o.short_name FROM (SELECT * FROM members m "
              "WHERE m.org_id = ANY(ARRAY(SELECT id FROM organisations WHERE path LIKE %(path)s)) "
              "AND m.last_name_folded LIKE %(prefix)s "
              "ORDER BY m.last_name_folded, m.id LIMIT 51) m JOIN organisations o ON o.id = m.org_id "
              "ORDER BY m.last_name_folded, m.id",
}


class HandSQL:
    """The best hand-written SQL for each page, on one psycopg connection (custom plans: nothing is prepared)."""

    def __init__(self, url: str):
        self.conn = psycopg.connect(conninfo(url), autocommit=True, prepare_threshold=None)
        self.paths = dict(self.conn.execute("SELECT id, path FROM organisations WHERE level <> 'primary'"))

    def run(self, *names: str, **params) -> float:
        t0 = time.perf_counter()
        for name in names:
            self.conn.execute(SQL[name], params).fetchall()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


def _fold_prefix(prefix: str) -> str:
    from portal.text import fold, like_prefix

    return like_prefix(fold(prefix))


def wait_for_quiet(max_load: float, max_wait: float) -> None:
    """The machine is shared: wait (up to max_wait s) until the 1-minute load average is at most max_load."""
    deadline = time.monotonic() + max_wait
    load = os.getloadavg()[0]
    if load <= max_load:
        return
    log(f"load average {load:.1f} > {max_load}: waiting up to {max_wait:.0f} s for a quieter machine")
    while load > max_load and time.monotonic() < deadline:
        time.sleep(15)
        load = os.getloadavg()[0]
    log(f"load average now {load:.1f}; measuring")


def measure_pages(app, url: str, rng: random.Random, n_requests: int, warmup: int, n_primaries: int,
                  n_territorials: int, workdir: Path, max_load: float = 1e9, max_wait: float = 0,
                  prime: bool = True) -> dict:
    """Log in over HTTP, then time the three pages every way, case by case."""
    primaries, territorials = pick_orgs(url, rng, n_primaries, n_territorials)
    log(f"users: {len(primaries)} primary chairs, {len(territorials)} territorial chairs")
    p_users = ensure_users(app, primaries, "primary_chair", "ppo")
    t_users = ensure_users(app, territorials, "territorial_chair", "terr")
    prefixes = common_prefixes()
    total = warmup + n_requests
    list_cases = [rng.choice(p_users) for _ in range(total)]
    terr_cases = [(rng.choice(t_users), rng.choice(prefixes)) for _ in range(total)]
    search_cases = [(rng.choice(t_users), rng.choice(prefixes)) for _ in range(total)]

    inproc = InProcess(make_app(url, WTF_CSRF_ENABLED=False))
    inproc.login_clients(p_users + t_users)
    sql = HandSQL(url)
    upgrade_with_current_code(url, workdir)
    server = Gunicorn(conninfo(url), str(workdir / "instance"), str(workdir / "gunicorn.log"))
    log(f"gunicorn on port {server.port}; logging {len(p_users) + len(t_users)} users in over HTTP")
    browsers: dict[int, Browser] = {}
    try:
        for u in p_users + t_users:
            b = Browser("127.0.0.1", server.port)
            b.login(u["login"], PASSWORD)
            browsers[u["id"]] = b
        found = {"list": [], "terr": [], "search": []}

        def http_get(user, path, kind):
            t0 = time.perf_counter()
            status, _, body = browsers[user["id"]].get(path)
            dt = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"GET {path} as {user['login']}: {status}")
            text = body.decode()
            if kind == "search":
                found[kind].append(text.count('href="/members/'))
            else:
                m = re.search(r"Найдено: (\d+)", text)
                found[kind].append(int(m.group(1)) if m else -1)
            return dt

        out = {}
        plans = {
            "list": lambda u: {
                "http": lambda: http_get(u, f"/orgs/{u['org_id']}/members", "list"),
                "flask": lambda: inproc.client_get(u, f"/orgs/{u['org_id']}/members"),
                "view": lambda: inproc.view(u, "registry.members", f"/orgs/{u['org_id']}/members", {},
                                            org_id=str(u["org_id"])),
                "dal": lambda: inproc.members_dal(u, u["org_id"], None),
                "sql": lambda: sql.run("list_count", "list_page", org=u["org_id"]),
                "sql_page_only": lambda: sql.run("list_page", org=u["org_id"]),
                "sql_account": lambda: sql.run("account", "list_count", "list_page", user=u["id"], org=u["org_id"]),
            },
            "terr": lambda case: {
                "http": lambda: http_get(case[0], f"/orgs/{case[0]['org_id']}/members?q={_q(case[1])}", "terr"),
                "flask": lambda: inproc.client_get(case[0], f"/orgs/{case[0]['org_id']}/members?q={_q(case[1])}"),
                "view": lambda: inproc.view(case[0], "registry.members", f"/orgs/{case[0]['org_id']}/members",
                                            {"q": case[1]}, org_id=str(case[0]["org_id"])),
                "dal": lambda: inproc.members_dal(case[0], case[0]["org_id"], case[1]),
                "sql": lambda: sql.run("terr_count", "terr_page", path=sql.paths[case[0]["org_id"]] + "%",
                                       prefix=_fold_prefix(case[1])),
                "sql_page_only": lambda: sql.run("terr_page", path=sql.paths[case[0]["org_id"]] + "%",
                                                 prefix=_fold_prefix(case[1])),
                "sql_account": lambda: sql.run("account", "terr_count", "terr_page", user=case[0]["id"],
                                               path=sql.paths[case[0]["org_id"]] + "%", prefix=_fold_prefix(case[1])),
            },
            "search": lambda case: {
                "http": lambda: http_get(case[0], f"/search?q={_q(case[1])}", "search"),
                "flask": lambda: inproc.client_get(case[0], f"/search?q={_q(case[1])}"),
                "view": lambda: inproc.view(case[0], "registry.search", "/search", {"q": case[1]}),
                "dal": lambda: inproc.search_dal(case[0], case[1]),
                "sql": lambda: sql.run("search", path=sql.paths[case[0]["org_id"]] + "%",
                                       prefix=_fold_prefix(case[1])),
                "sql_account": lambda: sql.run("account", "search", user=case[0]["id"],
                                               path=sql.paths[case[0]["org_id"]] + "%", prefix=_fold_prefix(case[1])),
            },
        }
        for page, cases in (("list", list_cases), ("terr", terr_cases), ("search", search_cases)):
            wait_for_quiet(max_load, max_wait)
            times: dict[str, list[float]] = {}
            phases: dict[str, list[float]] = {}
            statements: dict[str, list[int]] = {}
            load0 = os.getloadavg()[0]
            t_page = time.perf_counter()
            for i, case in enumerate(cases):
                runners = plans[page](case)
                if prime:  # read the case's pages into cache first, so no way of timing pays a cold read alone
                    runners["sql"]()
                names = list(runners)
                k = i % len(names)
                for name in names[k:] + names[:k]:  # rotate the order so none always runs first
                    r = runners[name]()
                    if i < warmup:
                        continue
                    if isinstance(r, tuple):
                        r, ph = r
                        for pk, pv in ph.items():
                            if pk == "statements":
                                statements.setdefault(name, []).append(pv)
                            else:
                                phases.setdefault(pk, []).append(pv)
                    times.setdefault(name, []).append(r)
            res = {name: summary(v) for name, v in times.items()}
            res["dal_phases"] = {k: summary(v) for k, v in phases.items()}
            res["statements"] = {k: {"p50": pct(v, 0.5), "max": max(v)} for k, v in statements.items()}
            res["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            vals = found[page][warmup:] or found[page]
            res["found"] = {"p50": pct(vals, 0.5), "max": max(vals)} if vals else {}
            for key in ("dal", "http"):
                res[f"{key}_over_sql"] = {q: round(res[key][q] / res["sql"][q], 2) for q in ("p50", "p95")}
            res["dal_over_sql_account"] = {q: round(res["dal"][q] / res["sql_account"][q], 2) for q in ("p50", "p95")}
            res["queries_over_sql"] = {q: round(res["dal_phases"]["queries"][q] / res["sql"][q], 2)
                                       for q in ("p50", "p95")}
            out[page] = res
            log(f"{page}: " + "; ".join(f"{k} {v['p50']}/{v['p95']} ms" for k, v in res.items()
                                         if isinstance(v, dict) and "p95" in v)
                + f" ({time.perf_counter() - t_page:.0f} s, load {res['loadavg']})")
        out["reconnects"] = sum(b.reconnects for b in browsers.values()) - len(browsers)
        return out
    finally:
        for b in browsers.values():
            b.close()
        server.stop()
        sql.close()


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


# ---- results -------------------------------------------------------------------------------------------------------


BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


def save_results(run: dict) -> None:
    data = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    key = str(run["members"])
    merged = data.get(key, {})
    for k, v in run.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict) and k != "machine":
            merged[k] = {**merged[k], **v}
        else:
            merged[k] = v
    data[key] = merged
    RESULTS_JSON.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    block = render(data)
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else (
        "# Registry benchmark results\n\n" + BEGIN + "\n" + END + "\n\n## Findings\n\n(none yet)\n")
    if BEGIN not in text:
        text = text.rstrip() + "\n\n" + BEGIN + "\n" + END + "\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    RESULTS_MD.write_text(head + BEGIN + "\n" + block + END + tail)


def _ms(s: dict | None) -> str:
    return f"{s['p50']:.1f} / {s['p95']:.1f}" if s else "—"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✅" if ok else " ❌")


def render(data: dict) -> str:
    """The results table: one column per registry size."""
    runs = [data[k] for k in sorted(data, key=int)]
    head = "| Measurement | Target | " + " | ".join(f"N = {r['members']:,}".replace(",", " ") for r in runs) + " |"
    lines = [head, "|---|---|" + "---|" * len(runs)]

    def row(title, target, fn):
        cells = []
        for r in runs:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("—")
        lines.append(f"| {title} | {target} | " + " | ".join(cells) + " |")

    row("Run date", "", lambda r: r["date"])
    row("Machine", "", lambda r: f"{r['machine']['nproc']} cores, {r['machine']['ram_gib']} GiB, PostgreSQL "
                                 f"{r['machine']['postgres']} (shared_buffers {r['machine']['pg_settings']['shared_buffers']})")
    row("Organisations (regions / territorials / primaries)", "",
        lambda r: f"{r['generation']['orgs']:,} ({r['generation']['regions']} / {r['generation']['territorials']:,} / "
                  f"{r['generation']['primaries']:,})".replace(",", " "))
    row("Generation + COPY (members and their events)", "",
        lambda r: f"{r['generation']['member_rows'] / r['generation']['load_seconds']:,.0f} members/s "
                  f"({r['generation']['load_seconds']:.0f} s)".replace(",", " "))
    row("Indexes + foreign keys re-created; VACUUM ANALYZE", "",
        lambda r: f"{r['generation']['index_seconds']:.0f} s; {r['generation']['vacuum_analyze_seconds']:.0f} s")
    row("Database size (members table)", "",
        lambda r: f"{r['generation']['database_size']} ({r['generation']['members_size']})")

    def imp(kind, check):
        def f(r):
            x = r["import"][kind]
            if "error" in x:
                return x["error"]
            ok = TARGETS["import_csv"][1](x["rate"]) if check else None
            return f"{x['rate']:,} rows/s ({x['rows']:,} rows, {x['seconds']} s)".replace(",", " ") + _mark(ok)
        return f

    row("Import CSV (1C, cp1251) through import_file", TARGETS["import_csv"][0], imp("csv", True))

    def raw(label):
        def f(r):
            x = r["import"]["raw_copy"][label]
            share = r["import"]["csv"]["rate"] / x["rate"]
            return f"{x['rate']:,} rows/s ({x['seconds']} s); the import is {share:.0%} of it".replace(",", " ")
        return f

    row("… the same rows by bare COPY, members only (keys in place, rolled back)", "", raw("members"))
    row("… the same rows by bare COPY, members + «joined» events", "", raw("members_events"))
    row("Import XLSX through import_file", "", imp("xlsx", False))
    titles = {"list": ("Primary chair: /orgs/&lt;id&gt;/members (50 rows)", TARGETS["list_http"]),
              "terr": ("Territorial chair: /orgs/&lt;terr&gt;/members?q=&lt;prefix&gt;", TARGETS["terr_http"]),
              "search": ("Territorial chair: /search?q=&lt;prefix&gt;", TARGETS["search_http"])}
    for page, (title, (target, check)) in titles.items():
        row(f"**{title}** — HTTP p50 / p95, ms", target,
            lambda r, p=page, c=check: _ms(r["pages"][p]["http"]) + _mark(c(r["pages"][p]["http"])))
        row("… in-process, Flask test client (no gunicorn, no socket)", "",
            lambda r, p=page: _ms(r["pages"][p]["flask"]))
        row("… view function alone (queries, audit write, template)", "", lambda r, p=page: _ms(r["pages"][p]["view"]))
        row("… SQL statements per view call (median, max)", "",
            lambda r, p=page: "{p50}, {max}".format(**r["pages"][p]["statements"]["view"]))
        row("… data-access layer: the page's queries (organisation, rows" + (", count" if page != "search" else "")
            + ")", "", lambda r, p=page: _ms(r["pages"][p]["dal_phases"]["queries"]))
        row("… hand-written SQL (same rows" + (" + count" if page != "search" else "") + ")", "",
            lambda r, p=page: _ms(r["pages"][p]["sql"]))
        row("… DAL / SQL, the page's queries (p50, p95)", TARGETS["ratio"][0],
            lambda r, p=page: "{p50}× / {p95}×".format(**r["pages"][p]["queries_over_sql"])
            + _mark(TARGETS["ratio"][1](r["pages"][p]["queries_over_sql"]["p95"])))
        row("… data-access layer with the account load first (Flask-Login's `load_user`)", "",
            lambda r, p=page: _ms(r["pages"][p]["dal"]))
        row("… hand-written SQL with the account read first", "",
            lambda r, p=page: _ms(r["pages"][p]["sql_account"]))
        row("… both with the account: DAL / SQL (p50, p95)", "",
            lambda r, p=page: "{p50}× / {p95}×".format(**r["pages"][p]["dal_over_sql_account"]))
        row("… DAL with the account / SQL of the rows alone (p50, p95)", "",
            lambda r, p=page: "{p50}× / {p95}×".format(**r["pages"][p]["dal_over_sql"]))
        row("… HTTP / SQL (p50, p95)", "", lambda r, p=page: "{p50}× / {p95}×".format(**r["pages"][p]["http_over_sql"]))
        row("… members found (median, max)", "",
            lambda r, p=page: f"{r['pages'][p]['found']['p50']:,}, {r['pages'][p]['found']['max']:,}".replace(",", " "))
    row("Load average during the page timings", "",
        lambda r: ", ".join(f"{a}→{b}" for a, b in (r["pages"][p]["loadavg"] for p in ("list", "terr", "search"))))
    lines.append("")
    lines.append("Phases of the data-access layer, p50 / p95 ms (the audit insert + commit is part of the view, "
                 "not of the DAL figure above):")
    lines.append("")
    lines.append("| N | Page | " + " | ".join(["user load", "get_org", "count", "page (+count, orgs)", "search", "orgs",
                                                "audit insert + commit", "session teardown"]) + " |")
    lines.append("|---|---|" + "---|" * 8)
    for r in runs:
        for page in ("list", "terr", "search"):
            try:
                ph = r["pages"][page]["dal_phases"]
            except KeyError:
                continue
            cells = [_ms(ph.get(k)) for k in ("user", "get_org", "count", "page", "search", "orgs", "audit_commit",
                                              "teardown")]
            lines.append(f"| {r['members']:,} | {page} | ".replace(",", " ") + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.registry", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=1_300_000, help="registry size (default 1,300,000)")
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                   help=f"the bench database, created if missing; its name must contain 'bench' (default {DEFAULT_URL})")
    p.add_argument("--fresh", action="store_true", help="drop and re-create the bench database")
    p.add_argument("--only", default="import,pages",
                   help="comma-separated steps after generation: import, pages (default both)")
    p.add_argument("--requests", type=int, default=300, help="timed requests per page (default 300)")
    p.add_argument("--warmup", type=int, default=40, help="untimed requests before them (default 40)")
    p.add_argument("--primaries", type=int, default=100, help="primary chairs to log in (default 100)")
    p.add_argument("--territorials", type=int, default=12, help="territorial chairs to log in (default 12)")
    p.add_argument("--csv-rows", type=int, default=100_000)
    p.add_argument("--xlsx-rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--max-load", type=float, default=3.0,
                   help="before timing each page, wait until the 1-minute load average is at most this (default 3)")
    p.add_argument("--max-wait", type=float, default=1800, help="but wait no longer than this, s (default 1800)")
    p.add_argument("--cold", action="store_true",
                   help="do not prime each case with an untimed SQL run (then whichever way of timing runs first "
                        "pays the case's cold reads; the order rotates)")
    p.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    p.add_argument("--no-save", action="store_true", help="do not write bench/RESULTS.md and bench/results.json")
    p.add_argument("--json", help="also write this run's raw figures to this file")
    args = p.parse_args(argv)
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    steps = {s.strip() for s in args.only.split(",") if s.strip()}

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so gunicorn is stopped in `finally`
    workdir = Path(tempfile.mkdtemp(prefix="profportal-bench-"))
    os.environ["PORTAL_INSTANCE"] = str(workdir / "instance")  # never the project's instance/
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(8).hex())
    os.environ.setdefault("BENCH_SECRET_KEY", os.environ["SECRET_KEY"])
    run: dict = {"members": args.members, "date": date.today().isoformat()}

    must_fill = prepare_database(url, args.members, args.fresh)
    app = make_app(url)
    migrate(app)  # also brings a reused database up to the current migrations
    run["machine"] = machine_facts(url)
    log(f"machine: {run['machine']}")
    if must_fill:
        niceness = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, max(niceness, 10))  # bulk work at low priority: the machine is shared
        try:
            run["generation"] = fill(url, args.members, args.seed)
        finally:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, niceness)  # latency is measured at the priority we were given
            except OSError:
                pass
        g = run["generation"]
        log(f"generation: {g['member_rows']:,} members in {g['load_seconds']:.1f} s = "
            f"{g['member_rows'] / g['load_seconds']:,.0f}/s (generate {g['generate_seconds']:.1f} s, "
            f"COPY {g['copy_seconds']:.1f} s), indexes {g['index_seconds']:.1f} s, "
            f"VACUUM ANALYZE {g['vacuum_analyze_seconds']:.1f} s, size {g['database_size']}")
    else:
        with psycopg.connect(conninfo(url), autocommit=True) as c:
            run["generation"] = json.loads(read_meta(c)["generation"])

    rng = random.Random(args.seed)
    if "import" in steps:
        # New people every run (a reused database already holds the previous runs' imports).
        run["import"] = measure_imports(app, url, random.Random(f"{args.seed}-{time.time_ns()}"), args.csv_rows, args.xlsx_rows, workdir,
                                       args.max_load, args.max_wait)
        if not args.no_save:
            save_results(run)
    if "pages" in steps:
        run["pages"] = measure_pages(app, url, rng, args.requests, args.warmup, args.primaries, args.territorials,
                                     workdir, args.max_load, args.max_wait, not args.cold)
    if not args.no_save:
        save_results(run)
        log(f"results written to {RESULTS_MD}")
    if args.json:
        Path(args.json).write_text(json.dumps(run, ensure_ascii=False, indent=1, default=str))
    if args.drop:
        name = make_url(url).database
        with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
