"""Outgoing email through the database outbox.

`queue_mail()` adds a message to the caller's transaction: it exists if and only if the change that causes it commits.
`send_pending()` (run by `portal worker`) sends due messages over SMTP, one commit per message:

* each message carries a Message-ID fixed when it was queued, so the rare duplicate after a crash between the SMTP
  server's "250 OK" and our commit is recognisable as the same letter;
* on PostgreSQL a message is taken with SELECT … FOR UPDATE SKIP LOCKED, so two workers never send the same one;
  elsewhere (SQLite) it is leased by an atomic UPDATE of next_attempt_at before sending;
* an SMTP error leaves the message pending with attempts + 1, the error and the next attempt 1, 2, 4 … minutes later,
  at most MAIL_MAX_BACKOFF_MINUTES (30) apart, for MAIL_RETRY_HOURS (72: an outage over a weekend loses nothing)
  counted from when it was queued or last resent; the attempt at the end of that period that fails too marks it
  «failed» (with failed_at). Nothing is ever deleted;
* a central administrator sees failed messages at /mail/outbox and resends one (`resend`) or all (`resend_failed`):
  the message goes back to «pending» with a fresh retry period, through a versioned UPDATE that only a «failed»
  row passes, so of two clicks one resends; the worker's claim (row lock / lease) then sends it once.

The Message-ID is fixed when the message is queued and its domain comes from configuration: MAIL_MESSAGE_ID_DOMAIN,
else the domain of MAIL_FROM, else «profportal.local» — never the host name of the process that queued it, so the
web process and the worker on different machines write the same kind of id.

Without MAIL_SERVER (the default) nothing is sent: messages are marked "stored" and read on /mail/outbox.

A mailing's letters (portal.news.mailings) are queued as references with an empty body, one row per recipient by
one INSERT … SELECT; `letter_body()` asks the registered renderer (`set_letter_renderer`) for the text when the
letter is sent (or read on /mail/outbox) and the sent text is written into the row. The renderer may answer None —
the member unsubscribed or closed their cabinet after the mailing was queued — and the letter is then «cancelled»,
never sent.

Headers never take raw input: the address is validated (no CR/LF, email_validator), CR/LF in the subject become
spaces, and the standard library's email policy refuses line breaks in any header as a last line of defence.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as _default_policy
from email.utils import format_datetime, formataddr, parseaddr
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import or_, select, update

from portal import clock
from portal.extensions import db
from portal.mail.models import OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_RETRY_HOURS = 72  # MAIL_RETRY_HOURS: how long a message is retried before it is marked failed
DEFAULT_MAX_BACKOFF_MINUTES = 30  # MAIL_MAX_BACKOFF_MINUTES: the longest wait between two attempts
DEFAULT_ID_DOMAIN = "profportal.local"
LEASE = timedelta(minutes=10)  # SQLite: how long a taken message is hidden from other workers
SUBJECT_MAX = 300
_POLICY = _default_policy.clone(cte_type="7bit")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


# A mailing's letter → its text, or None when it must not be sent any more (set by portal.news.mailings).
_letter_renderer: Callable[[OutboxMessage], str | None] | None = None


def set_letter_renderer(renderer: Callable[[OutboxMessage], str | None]) -> None:
    global _letter_renderer
    _letter_renderer = renderer


def letter_body(msg: OutboxMessage) -> str | None:
    """The text of a letter: its body, or for a mailing's letter queued as a reference the renderer's text (None:
    not to be sent — cancelled)."""
    if msg.mailing_id is None or msg.body:
        return msg.body or ""
    if _letter_renderer is None:
        raise RuntimeError("no renderer for mailing letters (portal.news.mailings is not imported)")
    return _letter_renderer(msg)


class SendResult(NamedTuple):
    sent: int  # delivered to the SMTP server (or stored, without MAIL_SERVER)
    failed: int  # attempts that failed in this pass (retry scheduled, or given up)


# ---- queueing ------------------------------------------------------------------------------------------------------


def check_address(address) -> str:
    """The address, normalised; ValueError with a Russian message if it is not one plain email address."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError("Не указан адрес электронной почты.")
    if _CONTROL.search(address):
        raise ValueError("Адрес электронной почты содержит переводы строк или управляющие символы.")
    try:
        result = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise ValueError(f"Некорректный адрес электронной почты «{address.strip()[:100]}».") from err
    if len(result.normalized) > 200:
        raise ValueError("Адрес электронной почты слишком длинный.")
    return result.normalized


def clean_subject(subject) -> str:
    """One line of text: CR, LF and other control characters become spaces; trimmed to the column's length."""
    text = _CONTROL.sub(" ", str(subject or ""))
    text = re.sub(r"\s+", " ", text).strip()
    return text[:SUBJECT_MAX] or "(без темы)"


def _message_id() -> str:
    return f"<{uuid.uuid4().hex}@{_id_domain()}>"


def _id_domain() -> str:
    """The Message-ID's domain: configured, else MAIL_FROM's domain, else a fixed one (never the host name)."""
    configured = _cfg("MAIL_MESSAGE_ID_DOMAIN")
    if configured and not _CONTROL.search(str(configured)) and "@" not in str(configured):
        return str(configured).strip().strip("<>")
    sender = parseaddr(str(_cfg("MAIL_FROM") or ""))[1]
    return sender.rpartition("@")[2] or DEFAULT_ID_DOMAIN


def queue_mail(to: str, subject: str, body: str, *, kind: str = "") -> OutboxMessage:
    """Add a message to the current transaction (not committed here); ValueError on a bad address."""
    now = clock.now()
    msg = OutboxMessage(
        message_id=_message_id(),
        to_addr=check_address(to),
        subject=clean_subject(subject),
        body=str(body or ""),
        kind=(kind or "")[:40],
        status="pending",
        attempts=0,
        last_error="",
        created_at=now,
        next_attempt_at=now,
        retry_since=now,
        version=0,
    )
    db.session.add(msg)
    return msg


# ---- configuration ---------------------------------------------------------------------------------------------------


def _cfg(key: str, default=None):
    """Mail settings from the app config, falling back to the environment (MAIL_SERVER=… portal worker)."""
    value = current_app.config.get(key)
    if value is None:
        value = os.environ.get(key)
    return default if value is None or value == "" else value


def _flag(key: str) -> bool:
    value = _cfg(key, False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def mail_configured() -> bool:
    return bool(_cfg("MAIL_SERVER"))


def _sender() -> tuple[str, str]:
    """(From header, envelope sender) from MAIL_FROM, e.g. "Профпортал <noreply@union.ru>"."""
    raw = str(_cfg("MAIL_FROM", "Профпортал <noreply@profportal.local>"))
    if _CONTROL.search(raw):
        raise ValueError("MAIL_FROM содержит переводы строк.")
    name, addr = parseaddr(raw)
    if not addr or "@" not in addr:
        raise ValueError(f"MAIL_FROM не похож на адрес: {raw!r}")
    return (formataddr((name, addr)) if name else addr), addr


# ---- sending --------------------------------------------------------------------------------------------------------


class _PermanentError(Exception):
    """The message can never be sent as it is (a bad address): failed at once, no retries."""


def backoff(attempts: int, cap: timedelta = timedelta(minutes=DEFAULT_MAX_BACKOFF_MINUTES)) -> timedelta:
    """Delay before the next attempt after `attempts` failed ones: 1, 2, 4 … minutes, at most `cap`."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), cap) if attempts < 20 else cap


def retry_period() -> timedelta:
    return timedelta(hours=float(_cfg("MAIL_RETRY_HOURS", DEFAULT_RETRY_HOURS)))


def max_backoff() -> timedelta:
    return timedelta(minutes=float(_cfg("MAIL_MAX_BACKOFF_MINUTES", DEFAULT_MAX_BACKOFF_MINUTES)))


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def retry_deadline(msg: OutboxMessage) -> datetime:
    """Until when a message is retried: its retry period from when it was queued or last resent."""
    return _aware(msg.retry_since or msg.created_at) + retry_period()


def build_message(msg: OutboxMessage) -> tuple[EmailMessage, str, str]:
    """The letter to send, its envelope sender and recipient. Headers are re-checked here, whatever is in the row."""
    try:
        to = validate_email(check_address(msg.to_addr), check_deliverability=False,
                            allow_smtputf8=False).ascii_email
    except ValueError as err:
        raise _PermanentError(str(err)) from err
    header_from, envelope_from = _sender()
    # email.policy.default: non-ASCII headers as RFC 2047 UTF-8, line breaks in a header refused; 7-bit transfer
    # encoding of the body (base64 or quoted-printable), which every server accepts.
    letter = EmailMessage(policy=_POLICY)
    letter["From"] = header_from
    letter["To"] = to
    letter["Subject"] = clean_subject(msg.subject)
    letter["Date"] = format_datetime(clock.now())
    letter["Message-ID"] = msg.message_id
    letter["Auto-Submitted"] = "auto-generated"
    letter.set_content(msg.body or "", charset="utf-8")  # rendered by send_pending (letter_body) beforehand
    return letter, envelope_from, to


class _Connection:
    """One SMTP connection for a pass, opened on first use and reopened once after a drop."""

    def __init__(self):
        self.smtp: smtplib.SMTP | None = None
        self.down: str | None = None  # set when the server can't be reached: the rest of the pass is not tried

    def open(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        host, port = str(_cfg("MAIL_SERVER")), int(_cfg("MAIL_PORT", 25))
        timeout = float(_cfg("MAIL_TIMEOUT", 30))
        local = _cfg("MAIL_LOCAL_HOSTNAME")  # the EHLO name; the machine's FQDN if unset
        context = ssl.create_default_context()
        if _flag("MAIL_USE_SSL"):
            smtp = smtplib.SMTP_SSL(host, port, local_hostname=local, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=local, timeout=timeout)
            if _flag("MAIL_USE_TLS"):
                smtp.starttls(context=context)
        username = _cfg("MAIL_USERNAME")
        if username:
            smtp.login(str(username), str(_cfg("MAIL_PASSWORD", "")))
        self.smtp = smtp
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                try:
                    self.smtp.close()
                except OSError:
                    pass
            self.smtp = None

    def send(self, letter: EmailMessage, envelope_from: str, to: str) -> None:
        for attempt in (1, 2):
            try:
                smtp = self.open()
            except (smtplib.SMTPException, OSError) as err:
                self.drop()
                self.down = _describe(err)
                raise
            try:
                smtp.send_message(letter, from_addr=envelope_from, to_addrs=[to])
                return
            except smtplib.SMTPServerDisconnected:
                self.drop()
                if attempt == 2:
                    raise
            except smtplib.SMTPRecipientsRefused as err:
                codes = [code for code, _ in err.recipients.values()]
                if codes and all(500 <= c < 600 for c in codes):
                    raise _PermanentError(f"Адрес отклонён почтовым сервером: {_describe(err)}") from err
                raise


def _describe(err: BaseException) -> str:
    text = str(err) or err.__class__.__name__
    return f"{err.__class__.__name__}: {text}"[:1000]


def _take_next(now: datetime, exclude: set[int]) -> OutboxMessage | None:
    """The next due message, now reserved for this worker (row lock on PostgreSQL, a lease elsewhere)."""
    due = (select(OutboxMessage)
           .where(OutboxMessage.status == "pending",
                  or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id))
    if exclude:
        due = due.where(OutboxMessage.id.not_in(exclude))
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(due.limit(1).with_for_update(skip_locked=True))
    while True:
        msg_id = db.session.scalar(due.with_only_columns(OutboxMessage.id).limit(1))
        if msg_id is None:
            db.session.rollback()
            return None
        leased = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == msg_id, OutboxMessage.status == "pending",
                   or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False))
        db.session.commit()
        if leased.rowcount == 1:
            return db.session.get(OutboxMessage, msg_id, populate_existing=True)
        exclude.add(msg_id)  # another worker leased it between our SELECT and UPDATE
        due = due.where(OutboxMessage.id != msg_id)


def send_pending(limit: int = 100, *, now: datetime | None = None,
                 should_stop: Callable[[], bool] | None = None) -> SendResult:
    """Send (or, without MAIL_SERVER, store) up to `limit` due messages; one commit per message."""
    moment = now or clock.now()
    cap = max_backoff()
    configured = mail_configured()
    conn = _Connection()
    sent = failed = 0
    seen: set[int] = set()
    if db.session.new or db.session.dirty or db.session.deleted:
        # Sending commits; it must never commit (or drop) someone else's half-done change.
        raise RuntimeError("send_pending: в сессии есть незафиксированные изменения; сначала commit или rollback.")
    db.session.rollback()  # end any read transaction, so each message is taken in a fresh one
    try:
        for _ in range(max(limit, 0)):
            if should_stop and should_stop():
                break
            msg = _take_next(moment, seen)
            if msg is None:
                break
            seen.add(msg.id)
            if msg.mailing_id is not None and not msg.body:
                body = letter_body(msg)
                if body is None:
                    msg.status = "cancelled"
                    msg.last_error = "Получатель отписался от рассылки или закрыл кабинет после постановки в очередь."
                    db.session.commit()
                    continue
                msg.body = body  # the row keeps the text that was sent
            if not configured:
                msg.status = "stored"
                msg.last_error = ""
                db.session.commit()
                sent += 1
                continue
            try:
                if conn.down:
                    raise ConnectionError(conn.down)
                letter, envelope_from, to = build_message(msg)
                conn.send(letter, envelope_from, to)
            except _PermanentError as err:
                msg.attempts += 1
                msg.status = "failed"
                msg.failed_at = clock.now()
                msg.last_error = str(err)[:2000]
                failed += 1
            except (smtplib.SMTPException, OSError, ValueError) as err:
                msg.attempts += 1
                msg.last_error = _describe(err)
                deadline = retry_deadline(msg)
                if moment >= deadline:
                    msg.status = "failed"
                    msg.failed_at = clock.now()
                else:
                    # The last attempt falls on the deadline itself, so the whole period is used.
                    msg.next_attempt_at = min(moment + backoff(msg.attempts, cap), deadline)
                failed += 1
                log.warning("Письмо %s не отправлено (попытка %s): %s", msg.message_id, msg.attempts, msg.last_error)
            else:
                msg.attempts += 1
                msg.status = "sent"
                msg.sent_at = clock.now()
                msg.last_error = ""
                sent += 1
            db.session.commit()
    finally:
        conn.drop()
    return SendResult(sent, failed)


# ---- resending what failed (central administrators, /mail/outbox) ----------------------------------------------------


def _resend_values(now: datetime) -> dict:
    return {"status": "pending", "version": OutboxMessage.version + 1, "retry_since": now, "next_attempt_at": now,
            "failed_at": None}


def resend(msg_id: int, version: int) -> bool:
    """Put one failed message back in the queue with a fresh retry period; False if it is not (any more) failed at
    this version — someone resent it first. The caller audits and commits.

    The UPDATE's WHERE is the claim: only a «failed» row at the version the administrator saw passes, so two
    clicks (or two administrators) resend it once, and the worker's own claim sends it once.
    """
    done = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, OutboxMessage.status == "failed", OutboxMessage.version == version)
        .values(**_resend_values(clock.now()))
        .execution_options(synchronize_session=False))
    return done.rowcount == 1


def resend_failed() -> list[int]:
    """Put every failed message back in the queue; returns their ids (the caller audits and commits)."""
    ids = list(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "failed")
                                  .order_by(OutboxMessage.id)))
    resent = []
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        stmt = (update(OutboxMessage).where(OutboxMessage.id.in_(chunk), OutboxMessage.status == "failed")
                .values(**_resend_values(clock.now())).execution_options(synchronize_session=False))
        resent += list(db.session.scalars(stmt.returning(OutboxMessage.id)))  # only the rows this UPDATE moved
    return sorted(resent)
