"""Statistics benchmark (issue 13) on PostgreSQL with a generated registry.

    .venv/bin/python -m bench.stats --members 20000           # small, runs in a minute or two
    .venv/bin/python -m bench.stats                            # 1 300 000 (generated once, reused)
    nice -n 10 .venv/bin/python -m bench.stats --members 5000000
    .venv/bin/python -m bench.stats --only report,http     # parts: raw, report, http, maintenance

Uses bench/registry.py's bench database (created/reused the same way; its name must contain 'bench'), then:

1. counters: if `stat_counts` does not match the generated members, `rebuild_all` once (timed);
2. the whole union's report (`portal.stats.report.compute(central, today)`, every organisation, every level), in
   process, p50/p95 — beside the raw single-SQL two-phase roll-up (group members by organisation, then sum up the
   tree by path) and the raw read of the kept counters;
3. passport analytics of a primary, a regional and the central organisation, and the regional progress table,
   p50/p95 over HTTP (gunicorn, logged-in users) — beside the raw SQL of the same subtree;
4. the cost of keeping counts current: a member edit (category change + commit) with and without the counters'
   listener, and an import of `--import-rows` rows with and without the final recount of its organisation.

Prints a JSON summary; `--json FILE` also writes it. Figures go into bench/RESULTS.md by hand (the lead's run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

from bench.registry import (
    DEFAULT_URL,
    PASSWORD,
    conninfo,
    ensure_users,
    fill,
    log,
    make_app,
    migrate,
    prepare_database,
    upgrade_with_current_code,
)
from bench.web import Browser, Gunicorn

RAW_ROLLUP = """
WITH per_org AS (
    SELECT org_id, count(*) AS n FROM members WHERE status = 'active' GROUP BY org_id
)
SELECT a.id::int, sum(p.n) FROM per_org p JOIN organisations o ON o.id = p.org_id
CROSS JOIN LATERAL unnest(string_to_array(trim(both '/' from o.path), '/')) AS a(id) GROUP BY a.id
"""
RAW_KEPT = "SELECT org_id, key, n FROM stat_counts"
RAW_SUBTREE = """
SELECT c.key, sum(c.n) FROM stat_counts c JOIN organisations o ON o.id = c.org_id
WHERE o.path LIKE (SELECT path FROM organisations WHERE id = %s) || '%%' GROUP BY c.key
"""


def timings(fn, n: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    xs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    xs.sort()
    return {"n": n, "p50_ms": round(1000 * statistics.median(xs), 1),
            "p95_ms": round(1000 * xs[min(len(xs) - 1, int(0.95 * len(xs)))], 1), "max_ms": round(1000 * xs[-1], 1)}


def pick(url: str) -> dict:
    with psycopg.connect(conninfo(url), autocommit=True) as c:
        central = c.execute("SELECT id FROM organisations WHERE level = 'central' LIMIT 1").fetchone()[0]
        regional = c.execute("SELECT o.id FROM organisations o WHERE level = 'regional' ORDER BY "
                             "(SELECT count(*) FROM organisations x WHERE x.path LIKE o.path || '%%') DESC "
                             "LIMIT 1").fetchone()[0]
        primary = c.execute("SELECT org_id FROM members GROUP BY org_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    return {"central": central, "regional": regional, "primary": primary}


def ensure_counts(app) -> dict:
    from sqlalchemy import text

    from portal.extensions import db
    from portal.stats.counts import rebuild_all
    from portal.stats.models import StatCount

    with app.app_context():
        # Migration 0014 already counts the age bands of the generated members: look for the totals.
        have = db.session.query(StatCount).filter(StatCount.key == "members").count()
        t0 = time.perf_counter()
        if not have:
            rebuild_all()
            db.session.commit()
        out = {"rebuilt": not have, "seconds": round(time.perf_counter() - t0, 2)}
        db.session.execute(text("ANALYZE stat_counts"))  # fresh statistics after a rebuild or the migration's fill
        db.session.commit()
        db.session.remove()
    return out


def raw_sql(url: str, orgs: dict, n: int) -> dict:
    with psycopg.connect(conninfo(url), autocommit=True) as c:
        c.execute("SET jit = off")
        return {"load": os.getloadavg(),"raw_rollup_from_members": timings(lambda: c.execute(RAW_ROLLUP).fetchall(), max(3, n // 10), 1),
                "raw_read_kept_counts": timings(lambda: c.execute(RAW_KEPT).fetchall(), n),
                **{f"raw_kept_subtree_{k}": timings(lambda oid=oid: c.execute(RAW_SUBTREE, (oid,)).fetchall(), n)
                   for k, oid in orgs.items()}}


def whole_union(app, orgs: dict, n: int) -> dict:
    from portal.clock import today
    from portal.extensions import db
    from portal.registry.models import Organisation
    from portal.stats.report import compute

    with app.app_context():
        central = db.session.get(Organisation, orgs["central"])

        def run():
            compute(central, today())
            db.session.rollback()

        out = {"load_before": os.getloadavg(), "whole_union_report": timings(run, n, 1)}

        def run_children_only():
            compute(central, today(), children_only=True)
            db.session.rollback()

        out["central_children_only_report"] = timings(run_children_only, n, 1)
        regional = db.session.get(Organisation, orgs["regional"])
        out["regional_children_only_report"] = timings(
            lambda: (compute(regional, today(), children_only=True), db.session.rollback()), n, 1)
        primary = db.session.get(Organisation, orgs["primary"])
        out["primary_report"] = timings(lambda: (compute(primary, today()), db.session.rollback()), n, 1)

        from datetime import timedelta

        from portal.stats.counts import advance_ages

        # The daily age job's work for one day (tomorrow's birthdays), rolled back so the state stays today's.
        out["daily_age_job_one_day"] = timings(lambda: (advance_ages(today() + timedelta(days=1)),
                                                        db.session.rollback()), 5, 1)

        def run_no_ages():
            compute(central, today(), ages=False)
            db.session.rollback()

        out["whole_union_report_without_age_bands"] = timings(run_no_ages, n, 1)
        out["load_after"] = os.getloadavg()
        past = date(today().year, 1, 1)
        if past < today():
            out["whole_union_report_past_date"] = timings(lambda: (compute(central, past), db.session.rollback()),
                                                          max(2, n // 5), 0)
        db.session.remove()
    return out


def over_http(app, url: str, orgs: dict, n: int, workdir: Path) -> dict:
    users = {
        "primary": ensure_users(app, [orgs["primary"]], "primary_chair", "stats-ppo")[0],
        "regional": ensure_users(app, [orgs["regional"]], "regional_chair", "stats-reg")[0],
        "central": ensure_users(app, [orgs["central"]], "central_admin", "stats-cs")[0],
    }
    upgrade_with_current_code(url, workdir)
    server = Gunicorn(conninfo(url), str(workdir / "instance"), str(workdir / "gunicorn.log"))
    out = {"load_before": os.getloadavg()}
    try:
        for level, u in users.items():
            b = Browser("127.0.0.1", server.port)
            b.login(u["login"], PASSWORD)

            def get(path, b=b):
                status, _h, _body = b.get(path)
                if status != 200:
                    raise RuntimeError(f"GET {path}: {status}")

            out[f"passport_analytics_{level}"] = timings(lambda oid=orgs[level], get=get: get(
                f"/orgs/{oid}/analytics"), n if level != "central" else max(5, n // 5))
            if level == "regional":
                out["progress_table_regional"] = timings(lambda get=get: get(f"/orgs/{orgs['regional']}/progress"), n)
            b.close()
        out["load_after"] = os.getloadavg()
    finally:
        server.stop()
    return out


def maintenance_cost(app, orgs: dict, n: int, import_rows: int, workdir: Path) -> dict:
    from sqlalchemy import event, select
    from sqlalchemy.orm import Session

    from portal.extensions import db
    from portal.registry import operations as ops
    from portal.registry.models import Category, Member, MemberStatus, Organisation
    from portal.stats import counts

    out = {"load_before": os.getloadavg()}
    with app.app_context():
        ids = db.session.scalars(select(Member.id).where(Member.org_id == orgs["primary"],
                                                         Member.status == MemberStatus.ACTIVE).limit(n)).all()
        cats = [Category.WORKING, Category.PENSIONER]

        def edit(i=[0]):  # noqa: B006  (a counter kept between calls)
            m = db.session.get(Member, ids[i[0] % len(ids)])
            ops.update_member(None, m, {"category": cats[i[0] % 2]})
            db.session.commit()
            i[0] += 1

        # Alternating rounds (the machine is shared: a burst of load should hit both sides), wall and CPU time.
        walls: dict[str, list[float]] = {"with": [], "without": []}
        cpus: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(2):
            edit()
        for _round in range(5):
            for side in ("without", "with"):
                if side == "without":
                    event.remove(Session, "after_flush", counts._after_flush)
                    event.remove(Session, "before_flush", counts._before_flush)
                try:
                    for _ in range(max(1, n // 5)):
                        t0, c0 = time.perf_counter(), time.process_time()
                        edit()
                        walls[side].append(time.perf_counter() - t0)
                        cpus[side].append(time.process_time() - c0)
                finally:
                    if side == "without":
                        event.listen(Session, "after_flush", counts._after_flush)
                        event.listen(Session, "before_flush", counts._before_flush)
        for side in ("without", "with"):
            xs = sorted(walls[side])
            out[f"member_edit_{side}_counts"] = {
                "n": len(xs), "p50_ms": round(1000 * statistics.median(xs), 2),
                "p95_ms": round(1000 * xs[min(len(xs) - 1, int(0.95 * len(xs)))], 2),
                "cpu_p50_ms": round(1000 * statistics.median(cpus[side]), 2)}
        counts.refresh_orgs([orgs["primary"]])
        db.session.commit()
        # The import's extra work is one recount of its organisation: time it on an organisation of the import's size.
        org = db.session.get(Organisation, orgs["primary"])
        size = db.session.query(Member).filter(Member.org_id == org.id).count()
        out["recount_one_org"] = {"members": size, **timings(lambda: (counts.refresh_orgs([org.id]),
                                                                       db.session.rollback()), 5, 1)}
        if import_rows:
            out["import"] = _import(app, import_rows, workdir)
        out["load_after"] = os.getloadavg()
        db.session.remove()
    return out


def _letters(n: int) -> str:
    """A number as Cyrillic letters: surnames take no digits."""
    abc = "абвгдежзиклмнопрстуфхцчшэюя"
    out = ""
    while True:
        out = abc[n % len(abc)] + out
        n //= len(abc)
        if not n:
            return out.capitalize()


def _import(app, rows: int, workdir: Path) -> dict:
    """Import `rows` generated rows into a fresh primary twice (with and without the final recount)."""
    import csv

    from sqlalchemy import select

    from portal.extensions import db
    from portal.registry import operations as ops
    from portal.registry.imports import import_file
    from portal.registry.models import InstitutionKind, Organisation, OrgLevel
    from portal.stats import counts

    def make_file(tag: str) -> Path:
        path = workdir / f"stats-import-{tag}.csv"
        rng = random.Random(tag)
        base = _letters(rng.randrange(10**8))  # a fresh surname stem per file: no duplicates across runs
        with open(path, "w", encoding="cp1251", newline="") as f:
            w = csv.writer(f, delimiter=";")
            w.writerow(["Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Должность", "Образование",
                        "Форма уплаты взносов", "Дата вступления в Профсоюз", "Категория"])
            for i in range(rows):
                w.writerow([f"{base}-{_letters(i)}", rng.choice(("Иван", "Пётр", "Олег")), "Петрович",
                            f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(1960, 2000)}", "м",
                            "учитель", "высшее", "безналичная", "01.09.2020", "работающий"])
        return path

    region = db.session.scalar(select(Organisation).where(Organisation.level == OrgLevel.REGIONAL).limit(1))
    out = {}
    stamp = time.time_ns()
    for label, keep in (("without_counts", False), ("with_counts", True), ("without_counts_2", False),
                        ("with_counts_2", True)):
        org = ops.add_organisation(None, region, OrgLevel.PRIMARY, f"Бенчмарк статистики {label} {stamp}",
                                   kind=InstitutionKind.SCHOOL, staff_count=rows)
        db.session.commit()
        path = make_file(f"{label}{stamp}")
        original = counts.refresh_orgs
        if not keep:
            counts.refresh_orgs = lambda ids: None
        try:
            t0 = time.perf_counter()
            result = import_file(org, path, path.name, None)
            db.session.commit()
            dt = time.perf_counter() - t0
        finally:
            counts.refresh_orgs = original
        out[label] = {"rows": rows, "imported": result.imported, "seconds": round(dt, 2),
                      "rows_per_second": round(result.imported / dt)}
        if not keep:  # untimed: leave the database's counters right (`portal stats check` must pass after a run)
            counts.refresh_orgs([org.id])
            db.session.commit()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=1_300_000)
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    p.add_argument("--import-rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--only", default="raw,report,http,maintenance",
                   help="comma-separated parts to run (default all): raw, report, http, maintenance")
    p.add_argument("--json")
    args = p.parse_args(argv)
    url = args.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    workdir = Path(tempfile.mkdtemp(prefix="profportal-bench-stats-"))
    os.environ["PORTAL_INSTANCE"] = str(workdir / "instance")
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(8).hex())
    run: dict = {"members": args.members, "date": date.today().isoformat()}
    if prepare_database(url, args.members, args.fresh):
        app = make_app(url)
        migrate(app)
        run["generation"] = fill(url, args.members, args.seed)
    app = make_app(url, WTF_CSRF_ENABLED=False)
    migrate(app)
    run["counts"] = ensure_counts(app)
    orgs = pick(url)
    run["orgs"] = orgs
    log(f"organisations: {orgs}")
    parts = {x.strip() for x in args.only.split(",")}
    if "raw" in parts:
        run["raw"] = raw_sql(url, orgs, args.requests)
        log(f"raw: {run['raw']}")
    if "report" in parts:
        run["report"] = whole_union(app, orgs, max(3, args.requests // 5))
        log(f"report: {run['report']}")
    if "http" in parts and not args.skip_http:
        run["http"] = over_http(app, url, orgs, args.requests, workdir)
        log(f"http: {run['http']}")
    if "maintenance" in parts:
        run["maintenance"] = maintenance_cost(app, orgs, args.requests, args.import_rows, workdir)
        log(f"maintenance: {run['maintenance']}")
    text = json.dumps(run, ensure_ascii=False, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
