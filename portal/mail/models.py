"""The outbox: every email is a row written in the same transaction as the change that causes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class OutboxMessage(db.Model):
    """One letter: queued in the transaction that causes it, sent by the worker, kept (never deleted).

    A mailing's letter (portal.news.mailings) is queued as a reference — `mailing_id`, `member_id`, the address
    and subject, an empty body — by one INSERT … SELECT for all its recipients; its text (the mailing's body and the
    member's signed unsubscribe links) is written by the mailing's renderer when it is sent
    (`portal.mail.outbox.letter_body`). The unique (mailing_id, member_id) is what makes a mailing reach a member at
    most once, however often or concurrently it is queued (other letters have NULLs there, which never collide).
    Neither column is a foreign key: the rows are written 1.3 M at a time from existing mailings and members, and
    a per-row reference check would cost as much as the insert itself; nothing deletes mailings or members.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),
                      UniqueConstraint("mailing_id", "member_id", name="uq_outbox_mailing_member"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(120), unique=True)  # stable, so a resend is recognisable
    to_addr: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40), default="")
    # pending | sent | stored | failed | cancelled (a mailing's letter whose member unsubscribed or left meanwhile)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    version: Mapped[int] = mapped_column(Integer, default=0)  # advanced by every resend: of two clicks one wins
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # queued or resent: retries from
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mailing_id: Mapped[int | None] = mapped_column(Integer)  # a mailing's letter: rendered when sent
    member_id: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
