"""The append-only audit log of staff reads and changes of personal data, exports, imports and denied access.

Entries never hold passwords, tokens or full card numbers (card numbers are masked to the last four digits).
On PostgreSQL a trigger (migration 0001) refuses UPDATE and DELETE on the table.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, insert
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db

# A card-like run: 13–19 digits, possibly grouped by spaces or dashes ("2200 1234 5678 9012"), not part of a longer
# number. Letters around it do not protect it (a \b-based pattern missed "card2200123456789012").
_CARD = re.compile(r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)")
# Any key naming a secret is blanked, whatever its exact spelling (password2, newPassword, api_token, …).
_SECRET_MARKERS = ("password", "passwd", "token", "secret", "session", "cookie", "authorization", "otp")


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "*" * (len(digits) - 4) + digits[-4:]


def _is_secret_key(key) -> bool:
    lowered = str(key).lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


class AuditEntry(db.Model):
    """One audited event: who, when, what object, from where, with what outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_actor", "actor_id", "at"),
        Index("ix_audit_log_org", "org_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_login: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    org_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    details: Mapped[str] = mapped_column(Text, default="")

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.object_type}:{self.object_id} {self.outcome}>"


def _scrub(value):
    """Blank secrets by key and mask card numbers (last four digits kept) anywhere in the details."""
    if isinstance(value, dict):
        return {k: ("***" if _is_secret_key(k) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _CARD.sub(_mask_card, value)
    return value


def record(action: str, obj=None, *, object_type: str = "", object_id: int | None = None,
           org_id: int | None = None, outcome: str = "ok", actor=None, **details) -> AuditEntry:
    """Add an audit entry to the current transaction (it commits with the change it describes)."""
    entry = AuditEntry(**_values(action, obj, object_type=object_type, object_id=object_id, org_id=org_id,
                                 outcome=outcome, actor=actor, **details))
    db.session.add(entry)
    return entry


def write(action: str, obj=None, *, object_type: str = "", object_id: int | None = None,
          org_id: int | None = None, outcome: str = "ok", actor=None, **details) -> None:
    """Insert an audit entry now, as one Core statement in the current transaction (it commits with it).

    For read pages: nothing is added to the session, so nothing is flushed, and the entry is not an object that
    the page's commit would have to track.
    """
    db.session.execute(insert(AuditEntry.__table__).values(
        _values(action, obj, object_type=object_type, object_id=object_id, org_id=org_id, outcome=outcome,
                actor=actor, **details)))


def commit_read() -> None:
    """Commit a read page's audit entry after the page is rendered, keeping what the request loaded as it is.

    A plain commit expires every loaded object; whatever touches one afterwards (the account's `is_active` in an
    after-request hook) reloads it, one statement each. Nothing is read after this commit, so nothing can be stale.
    """
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _values(action: str, obj=None, *, object_type: str = "", object_id: int | None = None,
            org_id: int | None = None, outcome: str = "ok", actor=None, **details) -> dict:
    """The columns of one entry: the object's type, id and organisation, the actor, the address, scrubbed details."""
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = object_id if object_id is not None else obj.id
        if org_id is None:
            org_id = getattr(obj, "org_id", None) if obj.__tablename__ != "organisations" else obj.id
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    address = (request.remote_addr or "") if has_request_context() else "cli"
    return dict(
        # A member acting in the cabinet is named by actor_login ("member:<account id>"); actor_id is for staff.
        actor_id=None if getattr(actor, "is_member", False) else getattr(actor, "id", None),
        actor_login=getattr(actor, "login", "") or "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        org_id=org_id,
        address=address,
        outcome=outcome,
        # Scrub after serialising too: a value json.dumps turns into text (a date, a Decimal) is checked as well.
        details=_CARD.sub(_mask_card, json.dumps(_scrub(details), ensure_ascii=False, default=str)) if details else "",
    )
