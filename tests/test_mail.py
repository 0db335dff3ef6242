"""The mail outbox against a real SMTP server (aiosmtpd on 127.0.0.1): transactions, delivery once, SMTP down,
header injection, the stored-mail page and the worker. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs import schedule
from portal.jobs.schedule import Daily, register
from portal.mail.models import OutboxMessage
from portal.mail.outbox import backoff, queue_mail, retry_deadline, send_pending
from tests.conftest import login


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.envelopes = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def letters(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


class SMTPServer:
    def __init__(self, port: int):
        self.port = port
        self.handler = Collector()
        self.controller = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(make_app, smtp, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    a = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_FROM="Профпортал <noreply@profportal.ru>",
                 MAIL_LOCAL_HOSTNAME="localhost")
    with a.app_context():
        yield a
        db.session.remove()


def outbox_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


SUBJECTS = ["Заявка на профсоюзный билет принята", "Ваше согласие отозвано", "Материальная помощь: решение"]


# ---- transactions and delivery --------------------------------------------------------------------------------------


def test_rolled_back_transaction_sends_nothing(mail_app, smtp):
    for i, subject in enumerate(SUBJECTS):
        queue_mail(f"member{i}@example.ru", subject, "Текст письма")
    db.session.rollback()
    assert send_pending() == (0, 0)
    assert smtp.handler.envelopes == []
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_committed_messages_are_delivered_once_each(mail_app, smtp):
    queued = []
    for i, subject in enumerate(SUBJECTS):
        queued.append(queue_mail(f"Member{i}@Example.RU", subject,
                                 f"Здравствуйте, Анна Петровна!\n\nСообщение № {i}.\n— Профпортал", kind="test"))
    db.session.commit()
    ids = {m.message_id for m in queued}
    assert len(ids) == 3 and all(mid.startswith("<") and mid.endswith("@profportal.ru>") for mid in ids)
    assert send_pending() == (3, 0)
    assert send_pending() == (0, 0)  # nothing twice
    assert len(smtp.handler.envelopes) == 3
    by_id = {letter["Message-ID"]: (letter, env) for letter, env in zip(smtp.handler.letters, smtp.handler.envelopes, strict=True)}
    assert set(by_id) == ids
    for i, m in enumerate(queued):
        letter, env = by_id[m.message_id]
        assert env.rcpt_tos == [f"Member{i}@example.ru"]
        assert env.mail_from == "noreply@profportal.ru"
        assert str(letter["Subject"]) == SUBJECTS[i]
        assert letter.get_content().replace("\r\n", "\n").rstrip("\n") == \
            f"Здравствуйте, Анна Петровна!\n\nСообщение № {i}.\n— Профпортал"
        assert str(letter["From"]) == "Профпортал <noreply@profportal.ru>"
        raw_headers = env.content.split(b"\r\n\r\n", 1)[0]
        raw_headers.decode("ascii")  # headers travel as 7-bit ASCII
        assert b"=?utf-8?" in raw_headers  # the Russian subject as RFC 2047 UTF-8 encoded words
    for row in outbox_rows():
        assert row.status == "sent" and row.sent_at is not None and row.attempts == 1 and row.last_error == ""


def test_smtp_down_keeps_messages_and_delivers_them_once_later(make_app, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    port = free_port()  # nothing listens here yet
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_FROM="noreply@profportal.ru", MAIL_TIMEOUT=5)
    with app.app_context():
        queue_mail("a@example.ru", "Первое", "Один")
        queue_mail("b@example.ru", "Второе", "Два")
        db.session.commit()
        t0 = datetime.now(UTC)
        assert send_pending(now=t0) == (0, 2)
        rows = outbox_rows()
        assert [r.status for r in rows] == ["pending", "pending"]
        assert all(r.attempts == 1 and "Connection" in r.last_error for r in rows)
        assert all(abs(r.next_attempt_at.replace(tzinfo=UTC) - (t0 + timedelta(minutes=1))) < timedelta(seconds=1)
                   for r in rows)
        assert send_pending(now=t0 + timedelta(seconds=30)) == (0, 0)  # not due yet: no attempt
        assert send_pending(now=t0 + timedelta(minutes=1, seconds=1)) == (0, 2)
        rows = outbox_rows()
        assert all(r.attempts == 2 and r.status == "pending" for r in rows)
        # the server comes up
        server = SMTPServer(port)
        server.start()
        try:
            later = t0 + timedelta(minutes=3, seconds=2)
            assert send_pending(now=later) == (2, 0)
            assert send_pending(now=later + timedelta(hours=2)) == (0, 0)
            assert sorted(e.rcpt_tos[0] for e in server.handler.envelopes) == ["a@example.ru", "b@example.ru"]
            rows = outbox_rows()
            assert all(r.status == "sent" and r.attempts == 3 for r in rows)
        finally:
            server.stop()
        db.session.remove()


def test_backoff_grows_to_thirty_minutes():
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 7, 50)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 30, 30, 30)]
    assert backoff(7, timedelta(minutes=10)) == timedelta(minutes=10)


def _drive(now: datetime, until: datetime) -> list[datetime]:
    """Run the sender at each moment the message is due, until `until`; returns the attempt times."""
    times = []
    while now <= until:
        send_pending(now=now)
        times.append(now)
        (row,) = outbox_rows()
        if row.status != "pending":
            break
        now = row.next_attempt_at.replace(tzinfo=UTC) + timedelta(seconds=1)
    return times


def test_an_outage_of_a_day_loses_nothing_and_the_letter_goes_once(make_app, monkeypatch):
    """Server down for 26 hours: retries every ≤ 30 min, still pending; the server comes up; sent once."""
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    port = free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_FROM="noreply@profportal.ru", MAIL_TIMEOUT=5)
    with app.app_context():
        queue_mail("a@example.ru", "Заявка обработана", "Текст")
        db.session.commit()
        t0 = datetime.now(UTC)
        times = _drive(t0, t0 + timedelta(hours=26))
        (row,) = outbox_rows()
        assert row.status == "pending" and row.failed_at is None and row.attempts == len(times) > 50
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(gaps) <= timedelta(minutes=30, seconds=1) and gaps[0] < timedelta(minutes=2)
        server = SMTPServer(port)
        server.start()
        try:
            later = row.next_attempt_at.replace(tzinfo=UTC)
            assert send_pending(now=later) == (1, 0)
            assert send_pending(now=later + timedelta(hours=5)) == (0, 0)
            assert [e.rcpt_tos for e in server.handler.envelopes] == [["a@example.ru"]]
            (row,) = outbox_rows()
            assert row.status == "sent" and row.last_error == ""
        finally:
            server.stop()
        db.session.remove()


def test_after_the_retry_period_the_message_fails_and_an_admin_resends_it_once(make_app, world, monkeypatch):
    """MAIL_RETRY_HOURS of refusals (three days by default; 8 hours here to keep the test short) → «failed», shown
    to central admins; a resend (POST, CSRF, audited) is taken once of two clicks, and two workers deliver it once."""
    from portal.audit import AuditEntry

    monkeypatch.delenv("MAIL_SERVER", raising=False)
    port = free_port()
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_FROM": "noreply@profportal.ru", "MAIL_TIMEOUT": 5,
              "MAIL_RETRY_HOURS": 8}
    with make_app(MAIL_SERVER="127.0.0.1").app_context():  # the default period
        m = queue_mail("x@example.ru", "Тема", "Текст")
        assert retry_deadline(m) - m.created_at == timedelta(days=3)
        db.session.rollback()
    app = make_app(**config)
    with app.app_context():
        m = queue_mail("late@example.ru", "Решение по заявке", "Текст")
        db.session.commit()
        msg_id = m.id
        t0 = datetime.now(UTC)
        times = _drive(t0, t0 + timedelta(days=1))
        (row,) = outbox_rows()
        assert row.status == "failed" and row.failed_at is not None
        start = row.retry_since.replace(tzinfo=UTC)
        assert times[-1] >= start + timedelta(hours=8) > times[-2]  # retried to the end of the period, not longer
        assert send_pending(now=t0 + timedelta(days=5)) == (0, 0)  # failed is not retried by itself
        db.session.remove()

    admin = make_app(**config).test_client()
    login(admin, "central")
    page = admin.get("/mail/outbox").get_data(as_text=True)
    assert 'data-testid="failed-mail"' in page and "Отправить снова все неотправленные" in page
    one = admin.get(f"/mail/outbox/{msg_id}").get_data(as_text=True)
    assert 'data-testid="resend"' in one
    chair = make_app(**config).test_client()
    login(chair, "regchair")
    assert chair.post(f"/mail/outbox/{msg_id}/resend", data={"version": 0}).status_code == 404
    assert chair.post("/mail/outbox/resend-failed").status_code == 404
    # Two clicks with the version the page showed: the first resends, the second is told it is already done.
    assert admin.post(f"/mail/outbox/{msg_id}/resend", data={"version": 0}).status_code == 302
    second = admin.post(f"/mail/outbox/{msg_id}/resend", data={"version": 0}, follow_redirects=True)
    assert "уже поставлено в очередь" in second.get_data(as_text=True)
    with app.app_context():
        (row,) = outbox_rows()
        assert (row.status, row.version, row.failed_at) == ("pending", 1, None)
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "outbox_resend")) == 1
        server = SMTPServer(port)
        server.start()
        barrier = threading.Barrier(2)
        results = []

        def worker():
            with app.app_context():
                barrier.wait()
                results.append(send_pending())
                db.session.remove()

        try:
            threads = [threading.Thread(target=worker) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(r.sent for r in results) == [0, 1]
            assert [e.rcpt_tos for e in server.handler.envelopes] == [["late@example.ru"]]
        finally:
            server.stop()
        (row,) = outbox_rows()
        assert row.status == "sent"
        db.session.remove()


def test_resend_all_failed_is_csrf_protected_and_audited(make_app, world, monkeypatch):
    from portal.audit import AuditEntry

    monkeypatch.delenv("MAIL_SERVER", raising=False)
    for i in range(3):
        db.session.add(OutboxMessage(message_id=f"<f{i}@profportal.ru>", to_addr=f"f{i}@example.ru", subject="x",
                                     body="b", status="failed" if i < 2 else "sent", attempts=5, last_error="down"))
    db.session.commit()
    from tests.conftest import PASSWORD
    from tests.security_helpers import csrf_token, login_with_csrf

    admin = make_app(WTF_CSRF_ENABLED=True).test_client()
    login_with_csrf(admin, "central", PASSWORD)
    assert admin.post("/mail/outbox/resend-failed").status_code in (400, 403)
    assert {r.status for r in outbox_rows()} == {"failed", "sent"}
    token = csrf_token(admin.get("/mail/outbox").get_data(as_text=True))
    assert admin.post("/mail/outbox/resend-failed", data={"csrf_token": token}).status_code == 302
    assert [r.status for r in outbox_rows()] == ["pending", "pending", "sent"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox_resend_failed"))
    assert entry is not None


@pytest.mark.parametrize(("config", "domain"), [
    ({"MAIL_MESSAGE_ID_DOMAIN": "mail.eseur.ru", "MAIL_FROM": "noreply@profportal.ru"}, "mail.eseur.ru"),
    ({"MAIL_FROM": "Профпортал <noreply@profportal.ru>"}, "profportal.ru"),
    ({}, "profportal.local"),
])
def test_message_id_domain_comes_from_configuration_not_the_host(make_app, monkeypatch, config, domain):
    monkeypatch.delenv("MAIL_FROM", raising=False)
    monkeypatch.delenv("MAIL_MESSAGE_ID_DOMAIN", raising=False)
    ids = []
    for host in ("web-1.internal", "worker-7.internal"):
        monkeypatch.setattr(socket, "gethostname", lambda h=host: h)
        monkeypatch.setattr(socket, "getfqdn", lambda name="", h=host: h)
        app = make_app(**config)
        with app.app_context():
            ids.append(queue_mail("x@example.ru", "Тема", "Текст").message_id)
            db.session.rollback()
            db.session.remove()
    assert all(i.endswith(f"@{domain}>") for i in ids) and ids[0] != ids[1]


def test_two_workers_never_send_the_same_message(mail_app, smtp):
    for i in range(30):
        queue_mail(f"m{i}@example.ru", f"Письмо {i}", "Текст")
    db.session.commit()
    barrier = threading.Barrier(3)
    results, errors = [], []

    def worker():
        try:
            with mail_app.app_context():
                barrier.wait()
                results.append(send_pending())
                db.session.remove()
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(sent for sent, _ in results) == 30
    ids = [e.content for e in smtp.handler.envelopes]
    assert len(ids) == 30
    assert len({letter["Message-ID"] for letter in smtp.handler.letters}) == 30
    assert all(r.status == "sent" for r in outbox_rows())


# ---- header injection --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "x@example.ru\r\nBcc: evil@example.ru",
    "x@example.ru\nBcc: evil@example.ru",
    "x@example.ru\r",
    "x@example.ru, evil@example.ru",
    "Иван <x@example.ru>",
    "not-an-address",
    "",
    None,
])
def test_bad_addresses_are_refused(app, address):
    with pytest.raises(ValueError) as err:
        queue_mail(address, "Тема", "Текст")
    assert any("а" <= c <= "я" for c in str(err.value).lower())  # a Russian message
    db.session.rollback()


def test_line_breaks_in_subject_are_neutralised(mail_app, smtp):
    m = queue_mail("x@example.ru", "Привет\r\nBcc: evil@example.ru\r\n\r\nтело", "Текст")
    db.session.commit()
    assert "\r" not in m.subject and "\n" not in m.subject
    # a row written past queue_mail (bad address, line breaks in the subject) is checked again when sent
    db.session.add(OutboxMessage(message_id="<direct-1@profportal.ru>", to_addr="y@example.ru\r\nBcc: evil@example.ru",
                                 subject="x", body="b", status="pending", attempts=0, last_error="",
                                 next_attempt_at=datetime.now(UTC)))
    db.session.add(OutboxMessage(message_id="<direct-2@profportal.ru>", to_addr="z@example.ru",
                                 subject="Тема\nBcc: evil@example.ru", body="b", status="pending", attempts=0,
                                 last_error="", next_attempt_at=datetime.now(UTC)))
    db.session.commit()
    assert send_pending() == (2, 1)
    assert sorted(e.rcpt_tos for e in smtp.handler.envelopes) == [["x@example.ru"], ["z@example.ru"]]
    for letter in smtp.handler.letters:
        assert letter["Bcc"] is None and len(letter.get_all("Subject")) == 1
        assert "\n" not in str(letter["Subject"])
    bad = db.session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "<direct-1@profportal.ru>"))
    assert bad.status == "failed" and "адрес" in bad.last_error.lower()


# ---- without a mail server: stored and shown to central admins ---------------------------------------------------


def test_without_mail_server_messages_are_stored_for_the_admin_page(make_app, world, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    m = queue_mail("anna@example.ru", "Ваша заявка <принята>", "Текст письма для <b>Анны</b>", kind="card_request")
    db.session.commit()
    assert send_pending() == (1, 0)
    (row,) = outbox_rows()
    assert row.status == "stored" and row.attempts == 0

    admin = make_app().test_client()
    login(admin, "central")
    page = admin.get("/mail/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "anna@example.ru" in html and "Ваша заявка &lt;принята&gt;" in html and "не настроен" in html
    assert "Ваша заявка" in admin.get("/mail/outbox?status=stored").get_data(as_text=True)
    assert "anna@example.ru" not in admin.get("/mail/outbox?status=sent").get_data(as_text=True)
    assert admin.get("/mail/outbox?status=bogus").status_code == 400
    one = admin.get(f"/mail/outbox/{m.id}")
    assert one.status_code == 200
    body = one.get_data(as_text=True)
    assert "Текст письма для &lt;b&gt;Анны&lt;/b&gt;" in body and str(escape(row.message_id)) in body

    chair = make_app().test_client()
    login(chair, "regchair")
    assert chair.get("/mail/outbox").status_code == 404
    assert chair.get(f"/mail/outbox/{m.id}").status_code == 404
    assert chair.get("/mail/outbox/999999").status_code == 404


def test_outbox_page_pages_newest_first(make_app, world, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER", raising=False)
    for i in range(55):
        queue_mail(f"p{i}@example.ru", f"Письмо номер {i:02d}", "Текст")
    db.session.commit()
    admin = make_app().test_client()
    login(admin, "central")
    first = admin.get("/mail/outbox").get_data(as_text=True)
    assert "Письмо номер 54" in first and "Письмо номер 05" in first and "Письмо номер 04" not in first
    assert first.index("Письмо номер 54") < first.index("Письмо номер 53")
    second = admin.get("/mail/outbox?page=2").get_data(as_text=True)
    assert "Письмо номер 04" in second and "Письмо номер 00" in second and "Письмо номер 54" not in second


# ---- the worker ----------------------------------------------------------------------------------------------------


def test_worker_once_runs_due_jobs_and_sends_mail(mail_app, smtp, monkeypatch):
    monkeypatch.setattr(schedule, "JOBS", {})
    monkeypatch.setattr(schedule, "JOB_MODULES", [])
    ran = []

    def notify(slot):
        queue_mail("chair@example.ru", "Ежедневная сводка", f"Сводка за {slot:%d.%m.%Y}", kind="digest")
        db.session.commit()
        ran.append(slot)
        return "сводка поставлена в очередь"

    register("digest", Daily(hour=0, minute=0), notify, title="Сводка")
    cli = mail_app.test_cli_runner()
    result = cli.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "digest" in result.output and "сводка поставлена в очередь" in result.output
    assert "Почта: отправлено 1" in result.output
    assert len(ran) == 1
    assert [str(letter["Subject"]) for letter in smtp.handler.letters] == ["Ежедневная сводка"]
    again = cli.invoke(args=["worker", "--once"])
    assert again.exit_code == 0 and again.output.strip() == ""
    assert len(ran) == 1 and len(smtp.handler.envelopes) == 1


# ---- faults: a worker dying with a message in hand, the database dropping connections ------------------------------


def test_message_held_by_a_dead_worker_is_sent_later_once(mail_app, smtp, database):
    from portal.mail import outbox

    first = queue_mail("held@example.ru", "Взято другим обработчиком", "Текст")
    queue_mail("free@example.ru", "Свободное", "Текст")
    db.session.commit()
    held_id = first.id
    now = datetime.now(UTC)
    if database["kind"] == "postgresql":
        # another worker has the row locked (SELECT … FOR UPDATE) and is killed before it commits
        other = db.engine.connect()
        other.begin()
        other.execute(select(OutboxMessage.id).where(OutboxMessage.id == held_id).with_for_update())
        assert send_pending(now=now) == (1, 0)  # the locked one is skipped, not waited for
        other.close()  # the process dies: its transaction is rolled back, the row is free again
        retry_at = now
    else:
        # another worker leased the message and died before sending it
        assert outbox._take_next(now, set()).id == held_id
        db.session.commit()
        assert send_pending(now=now) == (1, 0)
        assert send_pending(now=now + timedelta(minutes=5)) == (0, 0)  # lease still running
        retry_at = now + outbox.LEASE + timedelta(seconds=1)
    assert [e.rcpt_tos for e in smtp.handler.envelopes] == [["free@example.ru"]]
    assert send_pending(now=retry_at) == (1, 0)
    assert send_pending(now=retry_at + timedelta(hours=1)) == (0, 0)
    assert sorted(e.rcpt_tos[0] for e in smtp.handler.envelopes) == ["free@example.ru", "held@example.ru"]


@pytest.mark.postgres
def test_database_connections_dropped_between_passes(mail_app, smtp, database):
    if database["kind"] != "postgresql":
        pytest.skip("PostgreSQL only")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    queue_mail("a@example.ru", "До перезапуска базы", "Текст")
    db.session.commit()
    db.session.remove()
    admin = create_engine(make_url(database["url"]).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = :db AND pid <> pg_backend_pid()"),
                              {"db": make_url(database["url"]).database}).scalar()
    admin.dispose()
    assert killed >= 1  # the pool held a connection that is now dead
    assert send_pending() == (1, 0)  # pool_pre_ping replaced it
    assert len(smtp.handler.envelopes) == 1


def test_worker_stops_gracefully_on_sigterm_after_the_current_work(mail_app, smtp, monkeypatch):
    import os
    import signal

    monkeypatch.setattr(schedule, "JOBS", {})
    monkeypatch.setattr(schedule, "JOB_MODULES", [])
    ran = []

    def long_job(slot):
        if not ran:
            os.kill(os.getpid(), signal.SIGTERM)  # the stop arrives while the first slot is being processed
        ran.append(slot)
        return "готово"

    register("catch_up", Daily(hour=0), long_job, title="Догоняющее", catch_up="each",
             start=datetime.now(UTC) - timedelta(days=3))
    queue_mail("late@example.ru", "После остановки", "Текст")
    db.session.commit()
    before = signal.getsignal(signal.SIGTERM)
    result = mail_app.test_cli_runner().invoke(args=["worker", "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "Получен сигнал остановки" in result.output
    assert len(ran) == 1  # the slot in hand finished; the other missed slots wait for the next worker
    assert "catch_up" in result.output and "выполнено: готово" in result.output
    assert smtp.handler.envelopes == []  # nothing new was started
    assert signal.getsignal(signal.SIGTERM) is before
    (pending,) = outbox_rows()
    assert pending.status == "pending"
