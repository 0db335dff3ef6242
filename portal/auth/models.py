"""Staff accounts and login throttling."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import Organisation, TitledEnum, _enum

# argon2id with the library's default cost (RFC 9106 low-memory profile). The test suite sets
# PASSWORD_HASH_COST = "test" (argon2's cheapest parameters): every test makes several accounts, and at ~0.3 s a hash
# the standard cost was most of the suite's time. Nothing but an explicit config override selects it.
_HASHERS = {"standard": PasswordHasher(), "test": PasswordHasher.from_parameters(profiles.CHEAPEST)}


class _ConfiguredHasher:
    """The app's PasswordHasher, chosen by PASSWORD_HASH_COST (standard outside an app context)."""

    @staticmethod
    def current() -> PasswordHasher:
        name = current_app.config.get("PASSWORD_HASH_COST", "standard") if has_app_context() else "standard"
        return _HASHERS.get(name, _HASHERS["standard"])

    def hash(self, password: str) -> str:
        return self.current().hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        return self.current().verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return self.current().check_needs_rehash(password_hash)


_hasher = _ConfiguredHasher()
# A hash of a random password per hasher, verified against when the login is unknown so both answers take the same time.
_DUMMY_HASHES: dict[int, str] = {}


class Role(TitledEnum):
    CENTRAL_ADMIN = "central_admin", N_("Администратор ЦС")
    REGIONAL_CHAIR = "regional_chair", N_("Председатель региональной организации")
    REGIONAL_STAFF = "regional_staff", N_("Специалист аппарата региональной организации")
    TERRITORIAL_CHAIR = "territorial_chair", N_("Председатель территориальной организации")
    PRIMARY_CHAIR = "primary_chair", N_("Председатель первичной организации")
    PRESIDIUM_MEMBER = "presidium_member", N_("Член Президиума региональной организации")
    ACCOUNTANT = "accountant", N_("Бухгалтер региональной организации")
    # Central (ЦС) or regional; writes and publishes news and mailings for their organisation's subtree.
    NEWS_EDITOR = "news_editor", N_("Редактор новостей")


class User(UserMixin, db.Model):
    """A staff account bound to one organisation; what it may see is that organisation's subtree."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_org_id", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped by logout, password change, disabling and an admin's kill: every older session ends at once.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    must_change_password: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organisation] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.login} {self.role.value}>"

    def __str__(self) -> str:
        return self.full_name or self.login

    def get_id(self) -> str:
        # The session version is part of the id, so bumping it invalidates every cookie issued before.
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    def set_password(self, password: str) -> None:
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        try:
            ok = _hasher.verify(self.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if ok and _hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return ok

    def end_sessions(self) -> None:
        self.session_version = (self.session_version or 0) + 1


def burn_password_check(password: str) -> None:
    """Spend the time of a real check, so an unknown login answers like a wrong password."""
    hasher = _hasher.current() if isinstance(_hasher, _ConfiguredHasher) else _hasher
    if id(hasher) not in _DUMMY_HASHES:
        _DUMMY_HASHES[id(hasher)] = hasher.hash("no such account: dummy password for timing")
    try:
        hasher.verify(_DUMMY_HASHES[id(hasher)], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass


class LoginThrottle(db.Model):
    """Failed-login counters per account and per address; a growing delay, never a permanent lockout."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<LoginThrottle {self.key} {self.failures}>"
