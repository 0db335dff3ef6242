"""The job runner: runs every due slot of every registered job once, records it, and catches up after downtime.

`run_due()` is safe to call from cron every minute and from several processes at once:

* a slot is claimed by INSERTing its `JobRun(status="running")` and committing; the unique (job, slot) makes a second
  runner's INSERT fail, and that runner leaves the job alone for this pass;
* a failed run is retried on a later pass (up to JOBS_MAX_ATTEMPTS, the errors kept in the output) and a run left
  "running" by a process that died is taken over after JOBS_STALE_MINUTES; both claims are one atomic UPDATE that only
  one runner can win;
* a job whose run is in progress elsewhere is skipped, so two runs of one job never overlap.

A job commits its own work, then the runner marks the run done. A crash between the two leaves the run "running",
and it runs again after the stale timeout: jobs must be safe to repeat for the same slot.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.extensions import db
from portal.jobs.models import JobRun
from portal.jobs.schedule import MOSCOW, Job, all_jobs, get_job

log = logging.getLogger(__name__)

DEFAULT_STALE_MINUTES = 30
DEFAULT_MAX_ATTEMPTS = 3
OUTPUT_LIMIT = 20_000

_current_run: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_job_run", default=None)


class JobError(Exception):
    """A job can't be run now (unknown, or already running); the message is for people."""


def utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands back naive UTC, PostgreSQL aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def moscow(value: datetime | None) -> datetime | None:
    value = utc(value)
    return value.astimezone(MOSCOW) if value is not None else None


def fmt_slot(value: datetime) -> str:
    return moscow(value).strftime("%d.%m.%Y %H:%M")


def _config(key: str, default: int) -> int:
    return int(current_app.config.get(key, default))


class _Clock:
    """The pass's notion of now: a fixed time when the caller gave one (tests), the real clock otherwise."""

    def __init__(self, fixed: datetime | None):
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("now: нужно время с часовым поясом")
        self.fixed = utc(fixed)

    def __call__(self) -> datetime:
        return self.fixed or clock.now()


def heartbeat() -> None:
    """Called from inside a long job between its commits: tells other runners the run is alive."""
    run_id = _current_run.get()
    if run_id is None:
        return
    with db.engine.begin() as conn:
        conn.execute(update(JobRun).where(JobRun.id == run_id, JobRun.status == "running")
                     .values(heartbeat_at=clock.now()))


# ---- claims ------------------------------------------------------------------------------------------------------


def _claim_new(job: Job, slot: datetime, skipped: list[datetime], now: datetime) -> JobRun | None:
    """INSERT the run for `slot` (and the skipped slots it covers) and commit; None if another runner was first."""
    run = JobRun(job=job.name, slot=slot.astimezone(UTC), status="running", attempts=1,
                 started_at=now, heartbeat_at=now, output="")
    db.session.add(run)
    note = f"покрыт запуском {fmt_slot(slot)}"
    for s in skipped:
        db.session.add(JobRun(job=job.name, slot=s.astimezone(UTC), status="skipped", attempts=0,
                              started_at=now, finished_at=now, output=note))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return run


def _claim_existing(run_id: int, condition, now: datetime, **values) -> JobRun | None:
    """Atomically move an existing run to "running" if `condition` still holds; None if someone else got it."""
    result = db.session.execute(
        update(JobRun).where(JobRun.id == run_id, condition)
        .values(status="running", attempts=JobRun.attempts + 1, heartbeat_at=now, finished_at=None, **values)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(JobRun, run_id, populate_existing=True)


def _abandon(run_id: int, stale_cutoff: datetime, now: datetime, note: str) -> None:
    """Close a run a dead process left "running" without running it again (only if it is still stale)."""
    run = db.session.get(JobRun, run_id)
    output = ((run.output or "") + "\n" + note).strip()
    db.session.execute(update(JobRun).where(JobRun.id == run_id, _stale_condition(stale_cutoff))
                       .values(status="failed", finished_at=now, output=output)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _stale_condition(cutoff: datetime):
    return and_(JobRun.status == "running", func.coalesce(JobRun.heartbeat_at, JobRun.started_at) < cutoff)


# ---- running one claimed slot -------------------------------------------------------------------------------------


def _execute(job: Job, run: JobRun, now: Callable[[], datetime]) -> JobRun:
    """Run the job for the claimed slot and record the outcome (done, or failed with the error)."""
    run_id, attempt, previous = run.id, run.attempts, run.output or ""
    slot = moscow(run.slot)
    token = _current_run.set(run_id)
    try:
        report = job.fn(slot)
        status, text = "done", str(report if report is not None else "")
    except Exception as err:  # noqa: BLE001 — any error of a job is recorded, never propagated into the runner
        db.session.rollback()
        log.exception("Задание %s (%s) завершилось ошибкой", job.name, fmt_slot(slot))
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        status, text = "failed", f"Попытка {attempt}: ошибка: {detail}"
    finally:
        _current_run.reset(token)
    # A job commits its own work; whatever it left uncommitted (or a failed transaction) is discarded here.
    db.session.rollback()
    output = (previous + "\n" + text).strip() if previous else text
    if len(output) > OUTPUT_LIMIT:
        output = "…" + output[-OUTPUT_LIMIT:]
    db.session.execute(update(JobRun).where(JobRun.id == run_id)
                       .values(status=status, output=output, finished_at=now(), heartbeat_at=now())
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return db.session.get(JobRun, run_id, populate_existing=True)


# ---- deciding what is due ---------------------------------------------------------------------------------------


def _plan(job: Job, now: datetime, stale_cutoff: datetime, max_attempts: int):
    """What to do for a job in this pass: a list of ("new", slot, skipped) / ("retry"|"takeover", run) items.

    Returns None if a run of the job is in progress elsewhere (the job is left alone this pass).
    """
    rows = db.session.execute(
        select(JobRun.id, JobRun.slot, JobRun.status, JobRun.attempts, JobRun.heartbeat_at, JobRun.started_at)
        .where(JobRun.job == job.name).order_by(JobRun.slot.desc()).limit(2000)).all()
    taken = {utc(r.slot) for r in rows}
    last_done = None
    for r in rows:  # newest first: the last scheduled slot that is finished (done or covered)
        if r.status in ("done", "skipped") and job.schedule.is_slot(utc(r.slot)):
            last_done = utc(r.slot)
            break
    recovers = []
    for r in sorted(rows, key=lambda r: utc(r.slot)):
        if r.status == "running":
            beat = utc(r.heartbeat_at) or utc(r.started_at)
            if beat is not None and beat >= stale_cutoff:
                return None  # alive elsewhere
            recovers.append(("takeover", r))
        elif (r.status == "failed" and r.attempts < max_attempts
              and (last_done is None or utc(r.slot) > last_done)):
            recovers.append(("retry", r))

    if last_done is not None or job.start is not None:
        anchor = max(x for x in (last_done, job.start and job.start - timedelta(microseconds=1)) if x is not None)
        slots = [s for s in job.schedule.slots_between(anchor, now) if s.astimezone(UTC) not in taken]
    else:
        latest = job.schedule.latest(now)
        slots = [latest] if latest is not None and latest.astimezone(UTC) not in taken else []

    if job.catch_up == "each":
        return recovers + [("new", s, []) for s in slots]
    # "latest": only the newest slot runs; it covers everything before it (a run left behind by a dead process
    # included), unless the newest is an earlier failed or interrupted run, which is then retried.
    if recovers and (not slots or utc(recovers[-1][1].slot) > slots[-1]):
        return [("abandon", r) for _, r in recovers[:-1] if r.status == "running"] + recovers[-1:]
    if slots:
        return [("abandon", r) for _, r in recovers if r.status == "running"] + [("new", slots[-1], slots[:-1])]
    return []


def _run_job_pass(job: Job, now: Callable[[], datetime], should_stop: Callable[[], bool] | None) -> list[JobRun]:
    start = now()
    stale_cutoff = start - timedelta(minutes=_config("JOBS_STALE_MINUTES", DEFAULT_STALE_MINUTES))
    max_attempts = _config("JOBS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    plan = _plan(job, start, stale_cutoff, max_attempts)
    db.session.rollback()  # end the read transaction before claiming
    if not plan:
        return []
    done: list[JobRun] = []
    for item in plan:
        if should_stop and should_stop():
            break
        kind = item[0]
        if kind == "abandon":
            _abandon(item[1].id, stale_cutoff, now(), "Прервано (процесс завершился); покрыто более поздним запуском.")
            continue
        if kind == "new":
            _, slot, skipped = item
            run = _claim_new(job, slot, skipped, now())
            if run is not None and skipped:
                done.extend(db.session.scalars(select(JobRun).where(
                    JobRun.job == job.name, JobRun.slot.in_([s.astimezone(UTC) for s in skipped]))).all())
        else:
            row = item[1]
            if kind == "takeover":
                if row.attempts >= max_attempts:
                    _abandon(row.id, stale_cutoff, now(), "Прервано (процесс завершился); попытки исчерпаны.")
                    continue
                run = _claim_existing(row.id, _stale_condition(stale_cutoff), now())
            else:
                run = _claim_existing(row.id, and_(JobRun.status == "failed", JobRun.attempts == row.attempts), now())
        if run is None:
            break  # another runner is ahead on this job
        run = _execute(job, run, now)
        done.append(run)
        if run.status == "failed":
            break  # keep the order: later slots wait for this one
    return done


# ---- public API ------------------------------------------------------------------------------------------------


def run_due(now: datetime | None = None, *, names: list[str] | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[JobRun]:
    """Run every due slot of every registered job (or of `names`); returns the runs recorded in this pass."""
    current = _Clock(now)
    runs: list[JobRun] = []
    for job in all_jobs():
        if names is not None and job.name not in names:
            continue
        if should_stop and should_stop():
            break
        try:
            runs.extend(_run_job_pass(job, current, should_stop))
        except Exception:
            # A database error for one job (connection lost, lock timeout) must not stop the others.
            db.session.rollback()
            log.exception("Не удалось обработать задание %s", job.name)
    return runs


def run_job(name: str, slot: datetime | None = None, *, now: datetime | None = None) -> JobRun:
    """Run one job now by hand.

    Without `slot` the run gets its own slot (the current time, which is not on the schedule, so scheduled catch-up
    is unaffected). With `slot` that slot runs (again, if it already ran). Refused if the job is running elsewhere.
    """
    job = get_job(name)
    if job is None:
        raise JobError(gettext("Задание «%(name)s» не найдено.", name=name))
    current = _Clock(now)
    start = current()
    stale_cutoff = start - timedelta(minutes=_config("JOBS_STALE_MINUTES", DEFAULT_STALE_MINUTES))
    busy = db.session.scalar(select(JobRun.id).where(
        JobRun.job == name, JobRun.status == "running",
        func.coalesce(JobRun.heartbeat_at, JobRun.started_at) >= stale_cutoff).limit(1))
    if busy is not None:
        db.session.rollback()
        raise JobError(gettext("Задание «%(title)s» уже выполняется.", title=gettext(job.title)))
    if slot is None:
        # Never exactly on a scheduled minute (those have zero seconds), so scheduled catch-up ignores it.
        slot = start.replace(microsecond=start.microsecond or 1)
    if slot.tzinfo is None:
        raise ValueError("slot: нужно время с часовым поясом")
    existing_id = db.session.scalar(select(JobRun.id).where(JobRun.job == name, JobRun.slot == slot.astimezone(UTC)))
    db.session.rollback()
    if existing_id is None:
        run = _claim_new(job, slot, [], start)
    else:
        run = _claim_existing(existing_id, or_(JobRun.status != "running", _stale_condition(stale_cutoff)), start)
    if run is None:
        raise JobError(gettext("Задание «%(title)s» уже выполняется.", title=gettext(job.title)))
    return _execute(job, run, current)


def last_runs(name: str, limit: int = 10) -> list[JobRun]:
    return list(db.session.scalars(
        select(JobRun).where(JobRun.job == name).order_by(JobRun.slot.desc(), JobRun.id.desc()).limit(limit)))
