"""`portal worker`: one long-running process for the scheduled jobs and the mail outbox.

Every pass runs the due jobs (`run_due`) and sends due mail (`send_pending`), then waits `interval` seconds.
SIGTERM or SIGINT stop it gracefully: the job or message in hand is finished, nothing new is started; a second
signal stops it at once (whatever was in hand is then picked up again by the next worker: a run after the stale
timeout, a message at once on PostgreSQL or after its lease on SQLite).

An error in a pass (the database restarting, say) is logged and the next pass tries again; the pool's pre-ping
replaces dead connections.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from portal.extensions import db
from portal.jobs import runner
from portal.jobs.runner import fmt_slot
from portal.mail import outbox

log = logging.getLogger(__name__)

STATUS_WORDS = {"done": "выполнено", "failed": "ошибка", "skipped": "пропущено", "running": "выполняется"}


def describe_run(run) -> str:
    first_line = (run.output or "").strip().splitlines()[-1:] or [""]
    return f"{run.job} {fmt_slot(run.slot)} — {STATUS_WORDS.get(run.status, run.status)}: {first_line[0]}".rstrip(": ")


class Worker:
    def __init__(self, interval: float = 30.0, echo: Callable[[str], None] = print, mail_limit: int = 100):
        self.interval = interval
        self.echo = echo
        self.mail_limit = mail_limit
        self.stopping = threading.Event()
        self._previous: dict[int, object] = {}

    # -- signals --------------------------------------------------------------------------------------------------

    def _handle(self, signum, frame):
        if self.stopping.is_set():
            self.restore_signals()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.echo("Получен сигнал остановки: завершаю текущую работу…")
        self.stopping.set()

    def install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore_signals(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    # -- work -------------------------------------------------------------------------------------------------------

    def run_pass(self) -> bool:
        """One pass: due jobs, then due mail. False if the pass failed (it is logged)."""
        ok = True
        try:
            for run in runner.run_due(should_stop=self.stopping.is_set):
                self.echo(describe_run(run))
        except Exception:  # noqa: BLE001 — the worker outlives a bad pass
            ok = False
            db.session.rollback()
            log.exception("Проход заданий не удался")
            self.echo("Ошибка при запуске заданий (подробности в журнале).")
        if self.stopping.is_set():
            return ok
        try:
            result = outbox.send_pending(self.mail_limit, should_stop=self.stopping.is_set)
            if result.sent or result.failed:
                word = "отправлено" if outbox.mail_configured() else "сохранено"
                self.echo(f"Почта: {word} {result.sent}, не удалось {result.failed}.")
        except Exception:  # noqa: BLE001
            ok = False
            db.session.rollback()
            log.exception("Отправка почты не удалась")
            self.echo("Ошибка при отправке почты (подробности в журнале).")
        finally:
            db.session.remove()
        return ok

    def run(self, once: bool = False) -> bool:
        self.install_signals()
        try:
            while True:
                ok = self.run_pass()
                if once or self.stopping.is_set():
                    return ok
                if self.stopping.wait(self.interval):
                    return ok
        finally:
            self.restore_signals()
