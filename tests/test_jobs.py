"""The job runner: schedules across month and year ends, catch-up after downtime, claims, retries, takeover.

Runs on SQLite and on PostgreSQL (TEST_DATABASE_URL); two runners at once are tested on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import runner, schedule
from portal.jobs.models import JobRun
from portal.jobs.runner import JobError, run_due, run_job
from portal.jobs.schedule import MOSCOW, Daily, MonthDays, register
from tests.conftest import create_user, login


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MOSCOW)


@pytest.fixture
def registry(monkeypatch):
    """An empty job registry for the test (the portal's own job modules are not loaded)."""
    monkeypatch.setattr(schedule, "JOBS", {})
    monkeypatch.setattr(schedule, "JOB_MODULES", [])
    return schedule.JOBS


class Recorder:
    """A job function that records the slots it ran for; fails while `failures` is positive."""

    def __init__(self, failures: int = 0, pause: float = 0.0):
        self.slots: list[datetime] = []
        self.failures = failures
        self.pause = pause
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def __call__(self, slot: datetime) -> str:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.pause:
                time.sleep(self.pause)
            with self.lock:
                self.slots.append(slot)
                if self.failures > 0:
                    self.failures -= 1
                    raise RuntimeError("нет связи с банком")
            return f"обработано за {slot:%d.%m.%Y}"
        finally:
            with self.lock:
                self.active -= 1


def runs_of(name: str) -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(select(JobRun).where(JobRun.job == name).order_by(JobRun.slot)))


def utc(value: datetime) -> datetime:
    """Times are stored in UTC (SQLite keeps the wall-clock digits only)."""
    return value.astimezone(UTC)


def as_msk(value: datetime) -> datetime:
    return runner.moscow(value)


# ---- schedules ---------------------------------------------------------------------------------------------------


def test_month_days_across_month_ends():
    s = MonthDays(days=(1, 15), hour=0, minute=0)
    slots = s.slots_between(msk(2026, 1, 31, 0, 0), msk(2026, 3, 1, 0, 0))
    assert slots == [msk(2026, 2, 1), msk(2026, 2, 15), msk(2026, 3, 1)]
    assert all(x.utcoffset() == timedelta(hours=3) for x in slots)  # Moscow has no DST
    # (after, until]: a slot exactly at `after` is not repeated, one exactly at `until` is included
    assert s.slots_between(msk(2026, 2, 1), msk(2026, 2, 15)) == [msk(2026, 2, 15)]
    # the same instant given in UTC: 1 March 00:00 MSK is 28 February 21:00 UTC
    assert s.slots_between(datetime(2026, 2, 20, tzinfo=UTC), datetime(2026, 2, 28, 21, 0, tzinfo=UTC)) == [
        msk(2026, 3, 1)]


def test_month_days_31st_and_february():
    last = MonthDays(days=(31,), hour=3, minute=30)
    got = last.slots_between(msk(2026, 1, 1), msk(2026, 5, 1))
    assert got == [msk(2026, 1, 31, 3, 30), msk(2026, 2, 28, 3, 30), msk(2026, 3, 31, 3, 30), msk(2026, 4, 30, 3, 30)]
    assert last.slots_between(msk(2028, 2, 1), msk(2028, 3, 1)) == [msk(2028, 2, 29, 3, 30)]  # leap year
    # days that land on the same date in a short month give one slot
    assert MonthDays(days=(29, 30, 31)).slots_between(msk(2026, 2, 1), msk(2026, 3, 1)) == [msk(2026, 2, 28)]


def test_year_end():
    assert MonthDays(days=(1, 15)).slots_between(msk(2025, 12, 10), msk(2026, 1, 20)) == [
        msk(2025, 12, 15), msk(2026, 1, 1), msk(2026, 1, 15)]
    assert Daily(hour=1).slots_between(msk(2025, 12, 30, 2, 0), msk(2026, 1, 2, 1, 0)) == [
        msk(2025, 12, 31, 1), msk(2026, 1, 1, 1), msk(2026, 1, 2, 1)]
    assert Daily(hour=23, minute=59).latest(msk(2026, 1, 1, 0, 0)) == msk(2025, 12, 31, 23, 59)
    assert MonthDays(days=(1, 15)).latest(msk(2026, 1, 14)) == msk(2026, 1, 1)


def test_schedule_refuses_bad_input(registry):
    with pytest.raises(ValueError):
        Daily(hour=24)
    with pytest.raises(ValueError):
        MonthDays(days=(0, 15))
    with pytest.raises(ValueError):
        Daily(1).slots_between(datetime(2026, 1, 1), msk(2026, 1, 2))  # naive
    with pytest.raises(ValueError):
        register("x", Daily(1), Recorder(), title="x", catch_up="sometimes")


# ---- running -----------------------------------------------------------------------------------------------------


def test_first_run_takes_only_the_latest_slot_and_second_run_nothing(app, registry):
    rec = Recorder()
    register("daily", Daily(hour=1), rec, title="Ежедневное")
    now = msk(2026, 3, 10, 8, 0)
    runs = run_due(now)
    assert [(r.job, r.status) for r in runs] == [("daily", "done")]
    assert rec.slots == [msk(2026, 3, 10, 1)]
    assert rec.slots[0].tzinfo is not None and rec.slots[0].utcoffset() == timedelta(hours=3)
    assert run_due(now) == []
    assert run_due(now + timedelta(hours=5)) == []
    assert len(rec.slots) == 1
    (run,) = runs_of("daily")
    assert run.output == "обработано за 10.03.2026" and run.attempts == 1 and run.finished_at is not None


def test_catch_up_each_runs_every_missed_slot_once_in_order(app, registry):
    rec = Recorder()
    register("cards", MonthDays(days=(1, 15)), rec, title="Карты", catch_up="each")
    assert len(run_due(msk(2026, 1, 1, 0, 5))) == 1  # first run: the 1 January slot
    # a month and a half of downtime
    runs = run_due(msk(2026, 2, 20, 12, 0))
    assert [as_msk(r.slot) for r in runs] == [msk(2026, 1, 15), msk(2026, 2, 1), msk(2026, 2, 15)]
    assert all(r.status == "done" for r in runs)
    assert rec.slots == [msk(2026, 1, 1), msk(2026, 1, 15), msk(2026, 2, 1), msk(2026, 2, 15)]
    assert run_due(msk(2026, 2, 20, 12, 1)) == []
    assert [r.status for r in runs_of("cards")] == ["done"] * 4


def test_catch_up_latest_runs_once_and_records_skipped(app, registry):
    rec = Recorder()
    register("export", Daily(hour=1), rec, title="Выгрузка")
    run_due(msk(2026, 1, 1, 2, 0))
    runs = run_due(msk(2026, 1, 10, 3, 0))  # nine days down
    assert rec.slots == [msk(2026, 1, 1, 1), msk(2026, 1, 10, 1)]
    by_status = {}
    for r in runs_of("export"):
        by_status.setdefault(r.status, []).append(as_msk(r.slot))
    assert by_status["done"] == [msk(2026, 1, 1, 1), msk(2026, 1, 10, 1)]
    assert by_status["skipped"] == [msk(2026, 1, d, 1) for d in range(2, 10)]
    skipped = [r for r in runs_of("export") if r.status == "skipped"]
    assert all(r.output == "покрыт запуском 10.01.2026 01:00" for r in skipped)
    assert sorted(r.status for r in runs) == ["done"] + ["skipped"] * 8
    assert run_due(msk(2026, 1, 10, 3, 1)) == []


def test_start_catches_up_from_the_start(app, registry):
    rec = Recorder()
    register("from_start", MonthDays(days=(1, 15)), rec, title="С начала", catch_up="each", start=msk(2026, 1, 10))
    run_due(msk(2026, 2, 2))
    assert rec.slots == [msk(2026, 1, 15), msk(2026, 2, 1)]


def test_failing_job_is_recorded_and_retried(app, registry):
    rec = Recorder(failures=1)
    register("flaky", Daily(hour=1), rec, title="Нестабильное")
    now = msk(2026, 4, 1, 9, 0)
    (run,) = run_due(now)
    assert run.status == "failed" and run.attempts == 1
    assert "RuntimeError: нет связи с банком" in run.output
    (run,) = run_due(now + timedelta(minutes=1))
    assert run.status == "done" and run.attempts == 2
    assert "нет связи с банком" in run.output and "обработано за 01.04.2026" in run.output  # the error is kept
    assert run_due(now + timedelta(minutes=2)) == []
    assert rec.slots == [msk(2026, 4, 1, 1)] * 2


def test_retries_stop_after_max_attempts(make_app, registry):
    app = make_app(JOBS_MAX_ATTEMPTS=3)
    with app.app_context():
        rec = Recorder(failures=100)
        register("broken", Daily(hour=1), rec, title="Сломанное")
        now = msk(2026, 4, 1, 9, 0)
        for i in range(5):
            run_due(now + timedelta(minutes=i))
        (run,) = runs_of("broken")
        assert run.status == "failed" and run.attempts == 3 and run.output.count("Попытка") == 3
        assert len(rec.slots) == 3
        # the next day's slot is not blocked by the exhausted one
        runs = run_due(msk(2026, 4, 2, 9, 0))
        assert [as_msk(r.slot) for r in runs] == [msk(2026, 4, 2, 1)]


def test_each_keeps_order_when_a_slot_fails(app, registry):
    rec = Recorder()
    register("ordered", MonthDays(days=(1, 15)), rec, title="По порядку", catch_up="each")
    run_due(msk(2026, 1, 1, 1))
    rec.failures = 1
    runs = run_due(msk(2026, 2, 16))  # 15 Jan fails: 1 and 15 Feb wait for it
    assert [(as_msk(r.slot), r.status) for r in runs] == [(msk(2026, 1, 15), "failed")]
    runs = run_due(msk(2026, 2, 16, 0, 1))
    assert [(as_msk(r.slot), r.status) for r in runs] == [
        (msk(2026, 1, 15), "done"), (msk(2026, 2, 1), "done"), (msk(2026, 2, 15), "done")]


def test_stale_running_claim_is_taken_over(app, registry):
    rec = Recorder()
    register("stuck", Daily(hour=1), rec, title="Зависшее")
    now = msk(2026, 5, 5, 10, 0)
    slot = msk(2026, 5, 5, 1)
    # a process claimed the slot 10 minutes ago and is still alive: nothing runs (never two at once)
    db.session.add(JobRun(job="stuck", slot=slot.astimezone(UTC), status="running", attempts=1,
                          started_at=utc(now - timedelta(minutes=10)), heartbeat_at=utc(now - timedelta(minutes=10)),
                          output=""))
    db.session.commit()
    assert run_due(now) == []
    assert run_job_refused("stuck", now)
    assert rec.slots == []
    # 40 minutes without a heartbeat: the process is gone, the run is taken over
    (run,) = run_due(now + timedelta(minutes=30))
    assert run.status == "done" and run.attempts == 2 and as_msk(run.slot) == slot
    assert rec.slots == [slot]
    assert run_due(now + timedelta(minutes=31)) == []


def run_job_refused(name, now) -> bool:
    try:
        run_job(name, now=now)
    except JobError as err:
        assert "уже выполняется" in str(err)
        return True
    return False


def test_stale_timeout_is_configurable(make_app, registry):
    app = make_app(JOBS_STALE_MINUTES=5)
    with app.app_context():
        rec = Recorder()
        register("quick", Daily(hour=1), rec, title="Быстрое")
        now = msk(2026, 5, 5, 10, 0)
        db.session.add(JobRun(job="quick", slot=msk(2026, 5, 5, 1).astimezone(UTC), status="running", attempts=1,
                              started_at=utc(now - timedelta(minutes=6)), heartbeat_at=None, output=""))
        db.session.commit()
        (run,) = run_due(now)
        assert run.status == "done" and run.attempts == 2


def test_run_job_by_hand_leaves_the_schedule_alone(app, registry):
    rec = Recorder()
    register("manual", Daily(hour=1), rec, title="Вручную")
    run_due(msk(2026, 6, 1, 2))
    run = run_job("manual", now=msk(2026, 6, 1, 12, 0))
    assert run.status == "done" and not Daily(hour=1).is_slot(runner.utc(run.slot))
    runs = run_due(msk(2026, 6, 2, 2))  # the next scheduled slot still runs
    assert [as_msk(r.slot) for r in runs] == [msk(2026, 6, 2, 1)]
    # a given slot runs again by hand, as a new attempt of the same run
    again = run_job("manual", msk(2026, 6, 2, 1), now=msk(2026, 6, 2, 3))
    assert again.status == "done" and again.attempts == 2
    with pytest.raises(JobError):
        run_job("no_such_job")


@pytest.mark.postgres
def test_two_runners_at_once_run_each_slot_once(app, registry, database):
    if database["kind"] != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    rec = Recorder(pause=0.15)
    register("parallel", MonthDays(days=(1, 15)), rec, title="Параллельное", catch_up="each", start=msk(2026, 1, 1))
    daily = Recorder(pause=0.1)
    register("parallel_daily", Daily(hour=1), daily, title="Ежедневное", start=msk(2026, 1, 1))
    now = msk(2026, 3, 2)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                results.append([(r.job, r.slot, r.status) for r in run_due(now)])
                db.session.remove()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    expected = [msk(2026, 1, 1), msk(2026, 1, 15), msk(2026, 2, 1), msk(2026, 2, 15), msk(2026, 3, 1)]
    assert sorted(rec.slots) == expected  # each slot exactly once
    assert rec.max_active == 1 and daily.max_active == 1  # and never two runs of a job at once
    assert daily.slots == [msk(2026, 3, 1, 1)]
    assert [r.status for r in runs_of("parallel")] == ["done"] * 5
    done_by = [sum(1 for job, _, status in res if job == "parallel" and status == "done") for res in results]
    assert sum(done_by) == 5


# ---- command line and page ---------------------------------------------------------------------------------------


def test_cli_run_due_list_and_run(app, registry):
    rec = Recorder()
    register("cli_job", Daily(hour=0, minute=0), rec, title="Задание для командной строки")
    cli = app.test_cli_runner()
    result = cli.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    assert "cli_job: Задание для командной строки — ежедневно в 00:00 (МСК)" in result.output
    assert "последний запуск: не было" in result.output
    result = cli.invoke(args=["jobs", "run-due"])
    assert result.exit_code == 0, result.output
    assert "cli_job" in result.output and "выполнено" in result.output
    assert cli.invoke(args=["jobs", "run-due"]).output.strip() == "Нет заданий к запуску."
    result = cli.invoke(args=["jobs", "run", "cli_job"])
    assert result.exit_code == 0 and "выполнено" in result.output
    assert len(rec.slots) == 2
    result = cli.invoke(args=["jobs", "run", "nope"])
    assert result.exit_code != 0 and "не найдено" in result.output


def test_jobs_page_for_central_admins_only(make_app, world, registry):
    rec = Recorder()
    register("page_job", Daily(hour=1), rec, title="Задание на странице")
    csrf_app = make_app(WTF_CSRF_ENABLED=True)
    client = csrf_app.test_client()
    login_with_csrf(client, "central")
    page = client.get("/jobs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Задание на странице" in html and "ежедневно в 01:00 (МСК)" in html and "Запустить сейчас" in html
    # without the form's token the POST is refused and nothing runs
    assert client.post("/jobs/page_job/run").status_code == 400
    assert rec.slots == []
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/jobs/page_job/run", data={"csrf_token": token})
    assert r.status_code == 302
    assert len(rec.slots) == 1
    html = client.get("/jobs").get_data(as_text=True)
    assert "Задание выполнено" in html and "вручную" in html
    assert client.post("/jobs/unknown/run", data={"csrf_token": token}).status_code == 404

    other = csrf_app.test_client()
    login_with_csrf(other, "regchair")
    assert other.get("/jobs").status_code == 404
    assert other.post("/jobs/page_job/run", data={"csrf_token": token}).status_code in (400, 404)
    assert len(rec.slots) == 1


def login_with_csrf(client, name):
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0] \
        if 'name="csrf_token" type="hidden" value="' in page else page.split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/login", data={"login": name, "password": "correct-horse-battery", "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]


def test_service_pages_need_back_office_in_the_central_organisation(make_app, world):
    from portal.auth.models import Role

    create_user(world.central, Role.CENTRAL_ADMIN, "central2")
    # every login on its own app: the test's pushed app context would otherwise keep Flask-Login's cached user
    for login_name, expected in [("regstaff", 404), ("regchair", 404), ("schoolchair", 404), ("central2", 200)]:
        client = make_app().test_client()
        login(client, login_name)
        for url in ("/jobs", "/mail/outbox", "/mail/outbox/1"):
            want = 404 if url.endswith("/1") else expected  # no message 1: 404 for everyone
            assert client.get(url).status_code == want, (login_name, url)
    anonymous = make_app().test_client()
    assert anonymous.get("/mail/outbox").status_code == 302


def test_heartbeat_keeps_a_long_run_alive(app, registry):
    from sqlalchemy import text

    seen = []

    def long_job(slot):
        runner.heartbeat()
        with db.engine.connect() as conn:
            seen.append(conn.execute(text("SELECT heartbeat_at FROM job_runs WHERE job = 'long'")).scalar())
        return "ok"

    register("long", Daily(hour=1), long_job, title="Долгое")
    claimed_at = msk(2020, 1, 1, 2)  # the pass's fixed time, long ago
    (run,) = run_due(claimed_at)
    assert run.status == "done"
    beat = seen[0]
    if isinstance(beat, str):  # SQLite hands raw text back through a plain connection
        beat = datetime.fromisoformat(beat)
    assert runner.utc(beat) > claimed_at + timedelta(days=365)  # the heartbeat is the real clock's
