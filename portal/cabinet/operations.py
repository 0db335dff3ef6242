"""Member operations: registration by card, login, tokens, password reset, consent withdrawal, "my data".

Views (the cabinet's pages and the JSON API) are thin; both call these functions, so the rules are the same.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, has_request_context, request, url_for
from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload, with_expression

from portal import audit
from portal.auth import throttle
from portal.cabinet.models import (
    FamilyMember,
    MemberAccount,
    MemberToken,
    burn_member_password_check,
    token_hash,
)
from portal.clock import now, today
from portal.extensions import db
from portal.i18n import N_
from portal.mail.models import OutboxMessage
from portal.mail.outbox import queue_mail
from portal.registry.models import CardStatus, ConsentStatus, Member, MemberStatus
from portal.text import fold

EMAIL_CONFIRM_TTL = timedelta(days=3)
RESET_TTL = timedelta(hours=1)
PHONE_CODE_TTL = timedelta(minutes=15)
PHONE_CODE_ATTEMPTS = 5
API_TOKEN_TTL = timedelta(days=30)

# Support contacts of the programme (seed 003 §2.3), shown wherever a member can get stuck.
SUPPORT_PHONE = "8 (800) 250-74-46"
SUPPORT_EMAIL = "help@profcards.ru"


class MemberActor:
    """A member as the workflow engine and the audit log see them: role "member", no staff id (actor_id stays empty,
    the foreign key is to staff users), named "member:<account id>"."""

    role = "member"
    is_member = True
    id = None

    def __init__(self, account: MemberAccount):
        self.member_id = account.member_id
        self.login = account.login


# ---- sessions and throttling -------------------------------------------------------------------------------------


def load_member_session(user_id: str) -> MemberAccount | None:
    """A member session "m:<id>:<version>": the account if the version is current and the account open.

    One statement per request loads the account with its member and the member's organisation (every cabinet page
    names it), plus what the page being opened shows of the account (`PAGE_LOADS`: the card's family, the home's
    petition count), instead of a query for each of them afterwards.
    """
    try:
        _, raw_id, raw_version = user_id.split(":")
        account_id, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    options = _WITH_ORG
    if has_request_context() and request.endpoint in PAGE_LOADS:
        options = options + PAGE_LOADS[request.endpoint]()
    account = db.session.get(MemberAccount, account_id, options=options)
    if account is None or account.session_version != version or account.closed_at is not None:
        return None
    return account


_WITH_ORG = (joinedload(MemberAccount.member).joinedload(Member.org),)


def _petition_count_option():
    from portal.aid.models import AidPetition

    return (with_expression(MemberAccount.petition_count, select(func.count(AidPetition.id))
                            .where(AidPetition.member_id == MemberAccount.member_id).scalar_subquery()),)


# What a page shows of the account, loaded with it by the member session's statement (the pages fall back to their
# own query when the account came from elsewhere: `family`, `petition_count`).
PAGE_LOADS = {
    "cabinet.card": lambda: (joinedload(MemberAccount.family),),
    "cabinet.home": _petition_count_option,
}


def normalise_card(value: str | None) -> str:
    """The card number as typed, digits only (members copy it with spaces from the plastic card)."""
    return re.sub(r"[\s\-]", "", value or "")[:32]


def throttle_keys(card: str) -> list[str]:
    """Counters for the cabinet's other guessable forms (registration, reset requests): the card and the address."""
    return [f"member-card:{normalise_card(card)[:40]}", f"member-addr:{request.remote_addr or '-'}"]


def blocked_for(keys: list[str]) -> int:
    return throttle.blocked_for(keys)


def record_failure(keys: list[str]) -> None:
    """One miss per card and per address, each counted in one atomic statement (the staff logins' growing delay)."""
    throttle.count_failure(keys)


def authenticate(card: str, password: str) -> tuple[MemberAccount | None, int]:
    """(account, 0) on success; (None, seconds to wait) when throttled; (None, 0) on a wrong card or password.

    An unknown card burns a dummy hash with the members' parameters, so both failures cost the same time. A closed
    account (consent withdrawn) or one without a confirmed email answers like a wrong password too, but only after
    the password was right: the page then says why (`login_problem`).
    """
    # The staff logins' three counters (card, card from this address, address), reserved atomically before the
    # hash is checked: parallel guesses get exactly the free attempts, and the owner elsewhere is not locked out.
    keys = throttle.login_keys("member-", normalise_card(card)[:40])
    wait = throttle.reserve_attempt(keys)
    if wait:
        return None, wait
    number = normalise_card(card)
    account = db.session.scalar(select(MemberAccount).join(Member, Member.id == MemberAccount.member_id)
                                .where(Member.card_number == number)) if number.isdigit() else None
    if account is None:
        burn_member_password_check(password)
        ok = False
    else:
        ok = account.check_password(password)  # rehashes an old hash in this transaction
    if not ok:  # the card was counted by reserve_attempt, the address is now
        throttle.attempt_failed(keys)
        audit.record("member_login", object_type="member_accounts", object_id=account.id if account else None,
                     org_id=account.member.org_id if account else None, outcome="denied",
                     actor=MemberActor(account) if account else None)
        db.session.commit()
        return None, 0
    throttle.attempt_succeeded(keys)
    return account, 0


def login_problem(account: MemberAccount) -> str | None:
    """Why a member with the right password may still not enter (after the password was checked)."""
    if account.closed_at is not None:
        return gettext("Личный кабинет закрыт: вы отозвали согласие на обработку персональных данных. "
                       "Обратитесь к председателю своей профсоюзной организации.")
    if account.email_confirmed_at is None:
        return gettext("Подтвердите адрес электронной почты: откройте ссылку из письма, которое мы отправили "
                       "при регистрации.")
    return None


def record_login(account: MemberAccount, via: str = "web") -> None:
    account.last_login_at = now()
    audit.write("member_login", object_type="member_accounts", object_id=account.id,
                 org_id=account.member.org_id, actor=MemberActor(account), via=via)


# ---- registration --------------------------------------------------------------------------------------------------


def refusal_message(member: Member | None = None) -> str:
    """The one refusal of registration: what to check and whom to ask, never which fact was wrong."""
    return gettext("Вы не найдены среди членов Профсоюза, которым выдан электронный профсоюзный билет. "
                   "Проверьте, что фамилия, имя и отчество введены полностью, без сокращений, как в профсоюзном "
                   "билете, и номер билета — все 16 цифр. Если данные верны, обратитесь к председателю своей "
                   "первичной профсоюзной организации или в поддержку: %(phone)s, %(email)s.",
                   phone=SUPPORT_PHONE, email=SUPPORT_EMAIL)


def eligible_member(last_name: str, first_name: str, patronymic: str, card: str) -> Member | None:
    """The member whose card this is, if every fact holds: the names match (case, ё/е and spaces forgiven), the
    member is active, the card was issued (ВЫДАН) and the consent is signed or transferred (withdrawn is neither).

    One indexed query by card number whatever the input, then comparisons in Python: a wrong name and a wrong card
    take the same time.
    """
    number = normalise_card(card)
    member = db.session.scalar(select(Member).where(Member.card_number == number)) if (
        number.isdigit() and len(number) == 16) else None
    if member is None:
        return None
    checks = (
        fold(member.last_name) == fold(last_name),
        fold(member.first_name) == fold(first_name),
        fold(member.patronymic) == fold(patronymic),
        member.status == MemberStatus.ACTIVE,
        member.card_status == CardStatus.ISSUED,
        member.consent_status in (ConsentStatus.SIGNED, ConsentStatus.TRANSFERRED),
    )
    return member if all(checks) else None


def account_of(member: Member) -> MemberAccount | None:
    return db.session.scalar(select(MemberAccount).where(MemberAccount.member_id == member.id))


def register(member: Member, email: str, phone: str, password: str) -> MemberAccount:
    """Create the account; queue the email confirmation link and the phone code; caller commits.

    Both confirmations are sent through the outbox in this transaction: they exist if and only if the account does.
    """
    moment = now()
    account = MemberAccount(member_id=member.id, email=email.strip(), phone=phone.strip(), rules_accepted_at=moment,
                            session_version=1, verify_token=MemberAccount.new_verify_token(), closed_reason="")
    account.set_password(password)
    db.session.add(account)
    db.session.flush()
    send_email_confirmation(account)
    if account.phone:
        send_phone_code(account)
    audit.record("member_register", object_type="member_accounts", object_id=account.id, org_id=member.org_id,
                 actor=MemberActor(account))
    return account


# ---- tokens --------------------------------------------------------------------------------------------------------


def issue_token(account: MemberAccount, kind: str, ttl: timedelta, *, raw: str | None = None,
                label: str = "") -> str:
    """Store a new token's hash and return the raw value (shown or sent once, never stored)."""
    raw = raw or secrets.token_urlsafe(32)
    db.session.add(MemberToken(account_id=account.id, kind=kind, token_hash=token_hash(raw),
                               expires_at=now() + ttl, label=label[:100], attempts=0))
    return raw


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def live_token(raw: str | None, kind: str) -> MemberToken | None:
    """The token if it exists with this kind and is not used, revoked or expired."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(select(MemberToken).where(MemberToken.token_hash == token_hash(raw),
                                                        MemberToken.kind == kind))
    if token is None or token.used_at or token.revoked_at or _aware(token.expires_at) <= now():
        return None
    return token


def use_token(raw: str | None, kind: str) -> MemberToken | None:
    """Spend a single-use token: one UPDATE that only an unused token passes, so two clicks spend it once."""
    token = live_token(raw, kind)
    if token is None:
        return None
    spent = db.session.execute(update(MemberToken).where(MemberToken.id == token.id, MemberToken.used_at.is_(None))
                               .values(used_at=now())).rowcount
    return token if spent == 1 else None


def send_email_confirmation(account: MemberAccount) -> None:
    raw = issue_token(account, "email_confirm", EMAIL_CONFIRM_TTL)
    link = url_for("cabinet.confirm_email", token=raw, _external=True)
    queue_mail(account.email, "Профпортал: подтвердите адрес электронной почты",
               f"Здравствуйте, {account.member.first_name}!\n\n"
               f"Вы зарегистрировались в личном кабинете члена Профсоюза. Чтобы подтвердить адрес электронной почты "
               f"и войти, откройте ссылку (она действует {EMAIL_CONFIRM_TTL.days} дня):\n{link}\n\n"
               f"Логин — номер вашего профсоюзного билета. Если вы не регистрировались, просто удалите это письмо.\n",
               kind="member_confirm")


def confirm_email(raw: str) -> MemberAccount | None:
    token = use_token(raw, "email_confirm")
    if token is None:
        return None
    account = token.account
    account.email_confirmed_at = now()
    queue_mail(account.email, "Профпортал: личный кабинет создан",
               f"Здравствуйте, {account.member.first_name}!\n\nЛичный кабинет члена Профсоюза создан. "
               f"Входите по номеру профсоюзного билета и паролю: {url_for('cabinet.login', _external=True)}\n",
               kind="member_welcome")
    audit.record("member_email_confirmed", object_type="member_accounts", object_id=account.id,
                 org_id=account.member.org_id, actor=MemberActor(account))
    return account


class SmsSender:
    """Where SMS go. The default keeps each message in the outbox (kind "sms", status "stored"), as mail is kept
    without MAIL_SERVER; a gateway is plugged in as `app.config["SMS_SENDER"]` (an object with this `send`)."""

    def send(self, phone: str, text: str) -> None:
        db.session.add(OutboxMessage(message_id=f"<sms-{secrets.token_hex(16)}@profportal.local>",
                                     to_addr=f"sms:{phone}"[:200], subject="SMS", body=text, kind="sms",
                                     status="stored", attempts=0, last_error="", created_at=now(),
                                     next_attempt_at=None))


def sms_sender() -> SmsSender:
    return current_app.config.get("SMS_SENDER") or SmsSender()


def send_phone_code(account: MemberAccount) -> None:
    """A six-digit code for the phone (15 min, five tries), stored hashed with the account id and a nonce."""
    code = f"{secrets.randbelow(10**6):06d}"
    nonce = secrets.token_hex(16)  # kept beside the hash: equal codes never collide, and a hash alone says nothing
    issue_token(account, "phone_confirm", PHONE_CODE_TTL, raw=f"{account.id}:{code}:{nonce}", label=nonce)
    sms_sender().send(account.phone, f"Профпортал: код подтверждения телефона {code}")


def confirm_phone(account: MemberAccount, code: str) -> bool:
    """Check the typed code against the latest live one; five wrong codes spend it."""
    code = re.sub(r"\D", "", code or "")
    token = db.session.scalar(select(MemberToken).where(
        MemberToken.account_id == account.id, MemberToken.kind == "phone_confirm", MemberToken.used_at.is_(None),
        MemberToken.revoked_at.is_(None)).order_by(MemberToken.id.desc()).limit(1))
    if token is None or _aware(token.expires_at) <= now():
        return False
    if not secrets.compare_digest(token.token_hash, token_hash(f"{account.id}:{code}:{token.label}")):
        token.attempts += 1
        if token.attempts >= PHONE_CODE_ATTEMPTS:
            token.revoked_at = now()
        return False
    token.used_at = now()
    account.phone_confirmed_at = now()
    return True


# ---- changing the email or the phone -----------------------------------------------------------------------------

EMAIL_CHANGE_TTL = timedelta(days=1)


def _masked(email: str) -> str:
    """«m***@example.org»: enough for the owner to recognise, not a copy of the new address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def pending_email(account: MemberAccount) -> str | None:
    """The new address waiting for its link to be opened (the latest live request), if any."""
    token = db.session.scalar(select(MemberToken).where(
        MemberToken.account_id == account.id, MemberToken.kind == "email_change", MemberToken.used_at.is_(None),
        MemberToken.revoked_at.is_(None), MemberToken.expires_at > now()).order_by(MemberToken.id.desc()).limit(1))
    return token.label if token else None


def change_contacts(account: MemberAccount, email: str, phone: str) -> tuple[bool, bool]:
    """After the current password was checked: store a new phone at once (unconfirmed; a code goes by SMS), and
    ask a new email to be confirmed by a link sent to it (earlier requests are revoked); the old address is told.
    Returns (email change requested, phone changed); caller commits."""
    email, phone = email.strip(), (phone or "").strip()
    phone_changed = phone != (account.phone or "")
    if phone_changed:
        account.phone = phone
        account.phone_confirmed_at = None
        if phone:
            send_phone_code(account)
    email_requested = email.casefold() != (account.email or "").casefold()
    if email_requested:
        db.session.execute(update(MemberToken).where(
            MemberToken.account_id == account.id, MemberToken.kind == "email_change", MemberToken.used_at.is_(None),
            MemberToken.revoked_at.is_(None)).values(revoked_at=now()))
        raw = issue_token(account, "email_change", EMAIL_CHANGE_TTL, label=email)
        link = url_for("cabinet.confirm_email_change", token=raw, _external=True)
        queue_mail(email, "Профпортал: подтвердите новый адрес электронной почты",
                   f"Здравствуйте, {account.member.first_name}!\n\nВ личном кабинете члена Профсоюза указан этот "
                   f"адрес как новый. Чтобы он заменил прежний, откройте ссылку (она действует сутки и один раз):"
                   f"\n{link}\n\nЕсли вы ничего не меняли, просто удалите это письмо.\n", kind="member_email_change")
        queue_mail(account.email, "Профпортал: запрошена смена адреса электронной почты",
                   f"Здравствуйте, {account.member.first_name}!\n\nВ вашем личном кабинете запрошена смена адреса "
                   f"электронной почты на {_masked(email)}. Прежний адрес действует, пока новый не подтверждён по "
                   f"ссылке из письма на него.\n\nЕсли это были не вы, войдите в кабинет, смените пароль "
                   f"(«Забыли пароль?») и выйдите на всех устройствах; поддержка: {SUPPORT_PHONE}, "
                   f"{SUPPORT_EMAIL}.\n", kind="member_email_notice")
    if email_requested or phone_changed:
        audit.record("member_contacts", object_type="member_accounts", object_id=account.id,
                     org_id=account.member.org_id, actor=MemberActor(account),
                     email_requested=email_requested, phone_changed=phone_changed)
    return email_requested, phone_changed


def confirm_email_change(raw: str) -> MemberAccount | None:
    """The link sent to the new address: it replaces the old one now (single use, a day)."""
    token = use_token(raw, "email_change")
    if token is None:
        return None
    account = token.account
    if account.closed_at is not None:
        return None
    old, account.email = account.email, token.label
    account.email_confirmed_at = now()
    audit.record("member_email_changed", object_type="member_accounts", object_id=account.id,
                 org_id=account.member.org_id, actor=MemberActor(account))
    queue_mail(old, "Профпортал: адрес электронной почты изменён",
               f"Здравствуйте, {account.member.first_name}!\n\nАдрес электронной почты личного кабинета изменён на "
               f"{_masked(account.email)}. Если это были не вы, обратитесь в поддержку: {SUPPORT_PHONE}, "
               f"{SUPPORT_EMAIL}.\n", kind="member_email_notice")
    return account


# ---- password reset and sessions -----------------------------------------------------------------------------------


def request_reset(card: str) -> None:
    """Email a single-use reset link (1 h) to the account of this card, if there is one; the page answers the same
    either way, so the form tells nobody which cards have accounts."""
    number = normalise_card(card)
    account = db.session.scalar(select(MemberAccount).join(Member, Member.id == MemberAccount.member_id)
                                .where(Member.card_number == number)) if number.isdigit() else None
    if account is None or account.closed_at is not None:
        return
    raw = issue_token(account, "password_reset", RESET_TTL)
    link = url_for("cabinet.reset", token=raw, _external=True)
    queue_mail(account.email, "Профпортал: восстановление пароля",
               f"Здравствуйте, {account.member.first_name}!\n\nЧтобы задать новый пароль личного кабинета, откройте "
               f"ссылку в течение часа (она действует один раз):\n{link}\n\n"
               f"Если вы не просили сменить пароль, ничего не делайте: пароль останется прежним.\n",
               kind="member_reset")
    audit.record("member_reset_requested", object_type="member_accounts", object_id=account.id,
                 org_id=account.member.org_id, actor=MemberActor(account))


def reset_password(raw: str, password: str) -> MemberAccount | None:
    """Set a new password with a live reset link (spent now); every session and API token of the account ends."""
    token = use_token(raw, "password_reset")
    if token is None:
        return None
    account = token.account
    account.set_password(password)
    # The link proves the mailbox: an unconfirmed address is confirmed by it.
    account.email_confirmed_at = account.email_confirmed_at or now()
    end_everywhere(account)
    audit.record("member_password_reset", object_type="member_accounts", object_id=account.id,
                 org_id=account.member.org_id, actor=MemberActor(account))
    return account


def end_everywhere(account: MemberAccount) -> None:
    """Log out everywhere: the session version moves on and every API token is revoked."""
    account.end_sessions()
    db.session.execute(update(MemberToken).where(MemberToken.account_id == account.id, MemberToken.kind == "api",
                                                 MemberToken.revoked_at.is_(None)).values(revoked_at=now()))


# ---- API tokens ----------------------------------------------------------------------------------------------------


def issue_api_token(account: MemberAccount, label: str = "") -> tuple[str, datetime]:
    raw = issue_token(account, "api", API_TOKEN_TTL, label=label or "API")
    return raw, now() + API_TOKEN_TTL


def api_account(raw: str | None) -> MemberAccount | None:
    """The open account behind a live bearer token (revoked, expired and closed accounts answer None)."""
    token = live_token(raw, "api")
    if token is None or token.account.closed_at is not None:
        return None
    token.last_used_at = now()
    return token.account


def revoke_api_token(account: MemberAccount, token_id: int) -> bool:
    return db.session.execute(update(MemberToken).where(
        MemberToken.id == token_id, MemberToken.account_id == account.id, MemberToken.kind == "api",
        MemberToken.revoked_at.is_(None)).values(revoked_at=now())).rowcount == 1


def api_tokens(account: MemberAccount) -> list[MemberToken]:
    return db.session.scalars(select(MemberToken).where(
        MemberToken.account_id == account.id, MemberToken.kind == "api", MemberToken.revoked_at.is_(None),
        MemberToken.expires_at > now()).order_by(MemberToken.id.desc())).all()


# ---- consent ------------------------------------------------------------------------------------------------------


def withdraw_consent(account: MemberAccount) -> None:
    """Withdraw consent from the cabinet: the chairs' own transition (no further transfer, the withdrawal is
    transferred by the daily job), then the cabinet closes — it exists on the strength of that consent."""
    from portal.consent.operations import withdraw

    member = account.member
    withdraw(MemberActor(account), member, today(), "Отозвано членом Профсоюза в личном кабинете")
    account.closed_at = now()
    account.closed_reason = "consent_withdrawn"
    end_everywhere(account)
    queue_mail(account.email, "Профпортал: согласие отозвано",
               f"Здравствуйте, {member.first_name}!\n\nВы отозвали согласие на обработку персональных данных. "
               f"Передача данных в ПРОФКАРДС прекращена, программа получит отзыв; личный кабинет закрыт.\n",
               kind="member_withdrawn")


# ---- my data ------------------------------------------------------------------------------------------------------

READ_ACTIONS = ("member_read", "member_card_copy", "admin_members_read")


@dataclass
class Reading:
    at: datetime
    organisation: str
    role: str


def readers(member: Member, limit: int = 200) -> list[Reading]:
    """Staff reads of my card from the audit log: the reader's organisation, role and date, never their name."""
    from portal.audit import AuditEntry
    from portal.auth.models import User
    from portal.registry.models import Organisation

    rows = db.session.execute(
        select(AuditEntry.at, Organisation.name, User.role)
        .join(User, User.id == AuditEntry.actor_id).join(Organisation, Organisation.id == User.org_id)
        .where(AuditEntry.object_type == "members", AuditEntry.object_id == member.id,
               AuditEntry.action.in_(READ_ACTIONS), AuditEntry.outcome == "ok")
        .order_by(AuditEntry.id.desc()).limit(limit)).all()
    return [Reading(at, org, role.label) for at, org, role in rows]


def consent_history(member: Member):
    from portal.consent.models import ConsentRecord

    return db.session.scalars(select(ConsentRecord).where(ConsentRecord.member_id == member.id)
                              .order_by(ConsentRecord.id)).all()


def petitions(member: Member):
    from portal.aid.models import AidPetition

    return db.session.scalars(select(AidPetition).where(AidPetition.member_id == member.id)
                              .order_by(AidPetition.id.desc())).all()


def family(account: MemberAccount) -> list[FamilyMember]:
    """The family members I listed, oldest first (as loaded with the account when the page asked for them)."""
    if "family" in account.__dict__:
        return list(account.family)
    return db.session.scalars(select(FamilyMember).where(FamilyMember.account_id == account.id)
                              .order_by(FamilyMember.id)).all()


FAMILY_RELATIONS = {"spouse": N_("супруг(а)"), "child": N_("ребёнок"), "parent": N_("родитель"),
                    "other": N_("другой родственник")}
FAMILY_LIMIT = 10


def card_data(account: MemberAccount, *, with_family: bool = True) -> dict:
    """What the virtual card shows (the page and the API alike); the cabinet home leaves out the family (one query
    fewer: it shows the card at a glance, not the family's discounts)."""
    m = account.member
    data = {
        "full_name": m.full_name,
        "card_number": m.card_number,
        "organisation": m.org.name,
        "status": m.card_status.value,
        "status_title": m.card_status.label,
        "member_status": m.status.value,
        "valid": card_is_valid(account),
        "verify_url": url_for("verify.card", token=account.verify_token, _external=True),
    }
    if with_family:
        data["family"] = [{"full_name": f.full_name, "relation": f.relation} for f in family(account)]
    return data


def petition_count(member: Member) -> int:
    """How many material-aid petitions the member has (the cabinet home's badge; one count, no rows loaded)."""
    from portal.aid.models import AidPetition

    return db.session.scalar(select(func.count(AidPetition.id)).where(AidPetition.member_id == member.id)) or 0


def account_petition_count(account: MemberAccount) -> int:
    """The petition count loaded with the account (the home page's PAGE_LOADS), else counted now."""
    loaded = account.__dict__.get("petition_count")
    return loaded if loaded is not None else petition_count(account.member)


def card_is_valid(account: MemberAccount) -> bool:
    m = account.member
    return card_valid(account.closed_at, m.status, m.card_status)


def card_valid(closed_at: datetime | None, member_status: MemberStatus, card_status: CardStatus) -> bool:
    """The card is valid while its cabinet is open, the member active and the card issued (the verification page
    reads just these columns)."""
    return closed_at is None and member_status == MemberStatus.ACTIVE and card_status == CardStatus.ISSUED


def my_data(account: MemberAccount) -> dict:
    """Everything the registry and the cabinet hold about me (152-FZ art. 14), as plain values."""
    m = account.member
    return {
        "member": {
            "last_name": m.last_name, "first_name": m.first_name, "patronymic": m.patronymic,
            "birth_date": m.birth_date.isoformat(), "gender": m.gender.value, "organisation": m.org.name,
            "department": m.department, "position": m.position, "education": m.education.value,
            "dues_form": m.dues_form.value, "category": m.category.value, "joined_on": m.joined_on.isoformat(),
            "tenure_start": m.tenure_start.isoformat(), "tenure_years": m.tenure_years(),
            "address": m.address, "phone": m.phone, "email": m.email, "status": m.status.value,
            "card_number": m.card_number, "card_status": m.card_status.value,
            "consent_status": m.consent_status.value,
        },
        "history": [{"kind": e.kind.value, "on_date": e.on_date.isoformat(),
                     "from": e.from_org.name if e.from_org else None, "to": e.to_org.name if e.to_org else None}
                    for e in m.events],
        "consent": [{"kind": r.kind, "on_date": r.on_date.isoformat(), "text_version": r.text_version}
                    for r in consent_history(m)],
        "account": {"email": account.email, "email_confirmed": account.email_confirmed_at is not None,
                    "email_pending": pending_email(account),
                    "phone": account.phone, "phone_confirmed": account.phone_confirmed_at is not None,
                    "registered_at": account.created_at.isoformat() if account.created_at else None},
        "family": [{"full_name": f.full_name, "relation": f.relation,
                    "birth_date": f.birth_date.isoformat() if f.birth_date else None} for f in family(account)],
        "readers": [{"at": r.at.isoformat(), "organisation": r.organisation, "role": r.role}
                    for r in readers(m)],
        "petitions": petition_data(m),
    }


def petition_data(member: Member) -> list[dict]:
    return [{"id": p.id, "filed_on": p.filed_on.isoformat(), "state": p.state.value,
             "state_title": p.state.label,
             "amount": str(p.amount) if getattr(p, "amount", None) is not None else None}
            for p in petitions(member)]


def cabinet_count(member_condition) -> int:
    """Active members (under a condition on Member, e.g. an organisation's subtree) with an open cabinet."""
    return db.session.scalar(select(func.count(MemberAccount.id)).join(Member, Member.id == MemberAccount.member_id)
                             .where(member_condition, Member.status == MemberStatus.ACTIVE,
                                    MemberAccount.closed_at.is_(None))) or 0
