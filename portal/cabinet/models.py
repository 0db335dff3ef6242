"""Member accounts (separate from staff `User`), their single-use tokens and the family members they list.

A member account belongs to one registry card (`members`). Flask-Login ids are namespaced: a member's session id is
"m:<account id>:<session version>", a staff session's "<user id>:<version>", so neither can be read as the other.
Tokens (email confirmation, password reset, phone code, API bearer tokens) are stored as SHA-256 hashes only.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from portal.extensions import db
from portal.registry.models import Member

# Members: argon2id at OWASP's minimum (19 MiB, t=2, p=1) — about a quarter of the library default's time, so a
# mailing day's logins fit two cores (bench/cabinet.py), and still memory-hard. Tests select the cheapest profile.
_MEMBER_HASHERS = {
    "standard": PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),
    "test": PasswordHasher.from_parameters(profiles.CHEAPEST),
}
_DUMMY: dict[int, str] = {}


def member_hasher() -> PasswordHasher:
    name = current_app.config.get("PASSWORD_HASH_COST", "standard") if has_app_context() else "standard"
    return _MEMBER_HASHERS.get(name, _MEMBER_HASHERS["standard"])


def burn_member_password_check(password: str) -> None:
    """Verify against a dummy hash with the same parameters: an unknown card answers as slowly as a wrong password."""
    hasher = member_hasher()
    if id(hasher) not in _DUMMY:
        _DUMMY[id(hasher)] = hasher.hash("no such member account: dummy password for timing")
    try:
        hasher.verify(_DUMMY[id(hasher)], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass


def token_hash(raw: str) -> str:
    """What is stored of a token: its SHA-256 (tokens are 256-bit random, so no salt or slow hash is needed)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class MemberAccount(UserMixin, db.Model):
    """A member's account in the cabinet: login by card number + password; one per registry card."""

    __tablename__ = "member_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    email: Mapped[str] = mapped_column(String(200))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_hash: Mapped[str] = mapped_column(String(255))
    rules_accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Bumped by "log out everywhere", a password reset and closing: every older session ends at once.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # The opaque value in the card's QR code (never the card number): random, so verification cannot enumerate.
    verify_token: Mapped[str] = mapped_column(String(64), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_reason: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    member: Mapped[Member] = relationship(lazy="joined")
    # Read-only views for the pages that show them, loaded with the account in the member session's one statement
    # (portal.cabinet.operations.PAGE_LOADS); elsewhere the family is read with `operations.family`.
    family: Mapped[list[FamilyMember]] = relationship(order_by="FamilyMember.id", viewonly=True)
    petition_count: Mapped[int | None] = query_expression()

    # What the rest of the portal asks of a principal: a member is no staff role and changes no password on entry.
    is_member = True
    role = None
    must_change_password = False

    def __repr__(self) -> str:
        return f"<MemberAccount {self.id} member={self.member_id}>"

    def get_id(self) -> str:
        return f"m:{self.id}:{self.session_version}"

    @property
    def login(self) -> str:
        """How audit entries and workflow history name a member (never the card number)."""
        return f"member:{self.id}"

    @property
    def org_id(self) -> int:
        return self.member.org_id

    @property
    def is_active(self) -> bool:
        return self.closed_at is None

    def set_password(self, password: str) -> None:
        self.password_hash = member_hasher().hash(password)

    def check_password(self, password: str) -> bool:
        """Verify; a hash made with older (or other) parameters is rehashed with the current ones."""
        hasher = member_hasher()
        try:
            ok = hasher.verify(self.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if ok and hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return ok

    def end_sessions(self) -> None:
        self.session_version = (self.session_version or 0) + 1

    @staticmethod
    def new_verify_token() -> str:
        return secrets.token_urlsafe(24)


class MemberToken(db.Model):
    """A single-use or expiring secret of a member account; only its hash is kept."""

    __tablename__ = "member_tokens"
    __table_args__ = (Index("ix_member_tokens_account", "account_id", "kind"),)

    KINDS = ("email_confirm", "email_change", "password_reset", "phone_confirm", "api")

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("member_accounts.id"))
    kind: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # an API token's device (shown in the cabinet); a phone code's nonce; an email change's new address
    label: Mapped[str] = mapped_column(String(100), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong phone codes typed against it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    account: Mapped[MemberAccount] = relationship()

    def __repr__(self) -> str:
        return f"<MemberToken {self.id} {self.kind}>"


class FamilyMember(db.Model):
    """A family member a member lists for the union's discounts (shown on the virtual card)."""

    __tablename__ = "member_family"
    __table_args__ = (Index("ix_member_family_account", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("member_accounts.id"))
    full_name: Mapped[str] = mapped_column(String(300))
    relation: Mapped[str] = mapped_column(String(40))
    birth_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<FamilyMember {self.id} account={self.account_id}>"
