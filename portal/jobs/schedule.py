"""Schedules of the portal's recurring work, and the registry of jobs that follow them.

Times are Moscow wall-clock times (Europe/Moscow, UTC+3 all year since 2014). A schedule answers one question:
which moments ("slots") fall in the half-open interval (after, until]. The runner (`portal.jobs.runner`) runs each
slot of each job once, records it in `job_runs`, and catches up after downtime.

Jobs are registered by the modules that own the work, at import time:

    register("card_processing", MonthDays(days=(1, 15), hour=0), process_card_requests,
             title="Обработка заявок", catch_up="each")

`fn(slot)` runs inside an application context, commits its own work and returns a short report. A slot can run again
after a crash (a run left "running" is taken over after the stale timeout), so a job must be safe to repeat for the
same slot. The runner imports the modules in `JOB_MODULES` before it looks at the registry.
"""

from __future__ import annotations

import calendar
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext

MOSCOW = ZoneInfo("Europe/Moscow")

# Modules that register jobs; imported lazily by the runner (a module that does not exist yet is left out).
JOB_MODULES: list[str] = [
    "portal.consent.jobs",
    "portal.cards.jobs",
    "portal.jobs.retention",
    "portal.news.jobs",
    "portal.stats.jobs",
]

CATCH_UP_MODES = ("latest", "each")

log = logging.getLogger(__name__)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: нужно время с часовым поясом, получено {value!r}")
    return value


def _check_time(hour: int, minute: int) -> None:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"Неверное время расписания: {hour}:{minute}")


def _dates(after: datetime, until: datetime):
    """Moscow dates from the one containing `after` to the one containing `until`."""
    day = after.astimezone(MOSCOW).date()
    last = until.astimezone(MOSCOW).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


class Schedule:
    """Base class: a schedule lists its slots in an interval; the rest is derived from that."""

    # The longest gap between two slots; `latest()` looks back this far.
    max_gap = timedelta(days=1)

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Slots s with after < s <= until, in order, as Moscow-aware datetimes."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def latest(self, until: datetime) -> datetime | None:
        """The last slot at or before `until`."""
        slots = self.slots_between(until - self.max_gap - timedelta(days=1), until)
        return slots[-1] if slots else None

    def is_slot(self, moment: datetime) -> bool:
        """Whether `moment` is one of the schedule's slots (a run by hand usually is not)."""
        _aware(moment, "moment")
        return bool(self.slots_between(moment - timedelta(microseconds=1), moment))

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Daily(Schedule):
    """Every day at hour:minute Moscow time."""

    hour: int = 0
    minute: int = 0

    def __post_init__(self):
        _check_time(self.hour, self.minute)

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        _aware(after, "after")
        _aware(until, "until")
        at = time(self.hour, self.minute)
        out = []
        for day in _dates(after, until):
            slot = datetime.combine(day, at, tzinfo=MOSCOW)
            if after < slot <= until:
                out.append(slot)
        return out

    def describe(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d}"
        return gettext("ежедневно в %(time)s (МСК)", time=at)


@dataclass(frozen=True)
class MonthDays(Schedule):
    """On the given days of every month at hour:minute Moscow time.

    A day the month does not have (the 31st in April, the 29th–31st in February) falls on the month's last day,
    so "the 31st" means "the last day of the month"; two days that land on the same date give one slot.
    """

    days: tuple[int, ...] = (1, 15)
    hour: int = 0
    minute: int = 0
    max_gap = timedelta(days=62)

    def __post_init__(self):
        _check_time(self.hour, self.minute)
        days = tuple(sorted(set(self.days)))
        if not days or any(not (1 <= d <= 31) for d in days):
            raise ValueError(f"Дни месяца должны быть от 1 до 31: {self.days!r}")
        object.__setattr__(self, "days", days)

    def _month_slots(self, year: int, month: int) -> list[datetime]:
        length = calendar.monthrange(year, month)[1]
        dates = sorted({date(year, month, min(d, length)) for d in self.days})
        return [datetime.combine(d, time(self.hour, self.minute), tzinfo=MOSCOW) for d in dates]

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        _aware(after, "after")
        _aware(until, "until")
        first = after.astimezone(MOSCOW)
        last = until.astimezone(MOSCOW)
        year, month = first.year, first.month
        out = []
        while (year, month) <= (last.year, last.month):
            out.extend(s for s in self._month_slots(year, month) if after < s <= until)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def describe(self) -> str:
        days = ", ".join(str(d) for d in self.days)
        at = f"{self.hour:02d}:{self.minute:02d}"
        if len(self.days) > 1:
            return gettext("%(days)s числа в %(time)s (МСК)", days=days, time=at)
        return gettext("%(days)s числа каждого месяца в %(time)s (МСК)", days=days, time=at)


@dataclass(frozen=True)
class Every(Schedule):
    """Every `minutes` minutes, on the multiples of it since midnight Moscow time (work that must not wait a day:
    scheduled publication, queued mailings)."""

    minutes: int = 1

    def __post_init__(self):
        if not 1 <= self.minutes <= 720 or 1440 % self.minutes:
            raise ValueError(f"Интервал в минутах должен делить сутки: {self.minutes!r}")

    @property
    def max_gap(self) -> timedelta:  # type: ignore[override]
        return timedelta(minutes=self.minutes)

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        _aware(after, "after")
        _aware(until, "until")
        step = timedelta(minutes=self.minutes)
        start = after.astimezone(MOSCOW)
        midnight = datetime.combine(start.date(), time(0, 0), tzinfo=MOSCOW)
        slot = midnight + step * ((start - midnight) // step)
        out = []
        while slot <= until:
            if slot > after:
                out.append(slot)
            slot += step
        return out

    def latest(self, until: datetime) -> datetime | None:
        slots = self.slots_between(until - timedelta(minutes=self.minutes) * 2, until)
        return slots[-1] if slots else None

    def describe(self) -> str:
        return gettext("каждые %(n)s мин.", n=self.minutes)


@dataclass
class Job:
    name: str
    schedule: Schedule
    fn: Callable[[datetime], str]
    title: str
    catch_up: str = "latest"
    start: datetime | None = None


JOBS: dict[str, Job] = {}


def register(name: str, schedule: Schedule, fn: Callable[[datetime], str], *, title: str,
             catch_up: str = "latest", start: datetime | None = None) -> Job:
    """Register (or replace) a job.

    catch_up="latest": after downtime only the latest missed slot runs, the earlier ones are recorded as skipped;
    catch_up="each": every missed slot runs, oldest first. `start` (aware): slots before it never run; with it, the
    first run catches up from `start`, without it the first run takes only the latest due slot.
    """
    if not name or len(name) > 60:
        raise ValueError("Имя задания: от 1 до 60 символов.")
    if catch_up not in CATCH_UP_MODES:
        raise ValueError(f"catch_up должен быть одним из {CATCH_UP_MODES}, получено {catch_up!r}")
    if not isinstance(schedule, Schedule):
        raise TypeError("schedule должен быть расписанием (Daily, MonthDays, Every)")
    if start is not None:
        _aware(start, "start")
    job = Job(name=name, schedule=schedule, fn=fn, title=title, catch_up=catch_up, start=start)
    JOBS[name] = job
    return job


def unregister(name: str) -> None:
    JOBS.pop(name, None)


def load_job_modules() -> None:
    """Import the modules that register jobs; a module that does not exist (yet) is skipped with a log line."""
    for path in JOB_MODULES:
        try:
            importlib.import_module(path)
        except ModuleNotFoundError as err:
            # Only the job module itself (or its package) missing is tolerated; a broken import inside it is not.
            if err.name and (path == err.name or path.startswith(err.name + ".")):
                log.info("Модуль заданий %s не найден, пропущен", path)
                continue
            raise


def get_job(name: str) -> Job | None:
    load_job_modules()
    return JOBS.get(name)


def all_jobs() -> list[Job]:
    load_job_modules()
    return [JOBS[k] for k in sorted(JOBS)]
