"""Logging in and out, password change, throttling, session lifetime, and staff accounts of organisations below."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import case, delete, select, update

from forms.auth import AccountActionForm, AccountForm, ChangePasswordForm, LoginForm
from portal import audit, policy
from portal.auth.models import LoginThrottle, User, burn_password_check
from portal.clock import now
from portal.extensions import db, login_manager
from portal.i18n import LANGUAGES
from portal.policy import Permission
from portal.text import fold

bp = Blueprint("auth", __name__)


def init_login(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Войдите, чтобы продолжить."
    login_manager.localize_callback = gettext  # the message is a msgid, flashed in the chosen language
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"

    @app.before_request
    def enforce_session_limits():
        """Idle timeout (30 min) and absolute lifetime (12 h) checked on the server, then the forced password change.

        The signed cookie also expires after 30 idle minutes, but the server keeps its own clock ("seen",
        "started") so a session without them, or with them too old, ends whatever the browser kept.
        """
        session.permanent = True
        if not current_user.is_authenticated:
            return None
        moment = now().timestamp()
        started, seen = session.get("started"), session.get("seen")
        idle = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
        absolute = current_app.config["SESSION_ABSOLUTE_HOURS"] * 3600
        message = None
        if not isinstance(started, int | float) or not isinstance(seen, int | float):
            message = gettext("Сеанс завершён. Войдите снова.")
        elif moment - started > absolute:
            message = gettext("Сеанс завершён: прошло %(hours)s часов. Войдите снова.",
                              hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
        elif moment - seen > idle:
            message = gettext("Сеанс завершён из-за бездействия. Войдите снова.")
        if message:
            lang = session.get("lang")
            to = "cabinet.login" if policy.is_member_principal(current_user) else "auth.login"
            logout_user()
            session.clear()
            if lang in LANGUAGES:
                session["lang"] = lang
            flash(message, "warning")
            return redirect(url_for(to))
        session["seen"] = moment
        if current_user.must_change_password and request.endpoint not in _ALLOWED_BEFORE_PASSWORD_CHANGE:
            return redirect(url_for("auth.change_password"))
        return None


# A password handed over by the higher organisation is changed before anything else can be done.
_ALLOWED_BEFORE_PASSWORD_CHANGE = {"auth.change_password", "auth.logout", "static", "bootstrap.static", "i18n.switch"}


@login_manager.user_loader
def load_user(user_id: str):
    """The session names the account and its session version; an older version is an ended session.

    Member accounts' ids are namespaced ("m:<id>:<version>") and loaded by the cabinet; a staff id is never one.
    """
    if isinstance(user_id, str) and user_id.startswith("m:"):
        from portal.cabinet.operations import load_member_session

        return load_member_session(user_id)
    try:
        uid, version = (int(x) for x in user_id.split(":"))
    except (ValueError, AttributeError):
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or not user.is_enabled:
        return None
    return user


# ---- throttling ------------------------------------------------------------------------------------------------


def _throttle_keys(login: str) -> list[str]:
    return [f"login:{fold(login)[:150]}", f"addr:{request.remote_addr or '-'}"]


def _blocked_for(keys: list[str]) -> int:
    """Seconds until any of the keys may try again (0 = free)."""
    rows = db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    moment = now()
    wait = 0
    for row in rows:
        if row.blocked_until:
            until = row.blocked_until if row.blocked_until.tzinfo else row.blocked_until.replace(tzinfo=UTC)
            if until > moment:
                wait = max(wait, int((until - moment).total_seconds()) + 1)
    return wait


def _count_failure(key: str, moment: datetime) -> int:
    """Add one failure to a key in one statement (no lost updates under parallel guessing); return the count.

    Failures older than the window are forgotten, so an address shared by a whole school is not slowed down
    for ever by typos spread over weeks.
    """
    window = timedelta(seconds=current_app.config.get("LOGIN_FAILURE_WINDOW_SECONDS", 3600))
    table = LoginThrottle.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(key=key, failures=1, updated_at=moment)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"failures": case((table.c.updated_at < moment - window, 1), else_=table.c.failures + 1),
              "updated_at": moment},
    ).returning(table.c.failures)
    return db.session.execute(stmt).scalar_one()


def _record_failure(keys: list[str]) -> None:
    """Count a failed attempt per account and per address; from LOGIN_FREE_ATTEMPTS on, wait 2, 4, 8 … seconds
    (capped), never a permanent lockout."""
    free = current_app.config["LOGIN_FREE_ATTEMPTS"]
    cap = current_app.config["LOGIN_MAX_DELAY_SECONDS"]
    moment = now()
    for key in keys:
        failures = _count_failure(key, moment)
        if failures >= free:
            delay = min(2 ** min(failures - free + 1, 30), cap)
            db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                               .values(blocked_until=moment + timedelta(seconds=delay)))


def _clear_failures(login_key: str) -> None:
    """A correct password clears the account's counter only: knowing one password says nothing about the
    address, which keeps its count (else an attacker with one account could reset it between guesses)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == login_key))


# ---- views -----------------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Staff login by login and password; the same answer for an unknown login and a wrong password."""
    if current_user.is_authenticated:
        return redirect(url_for("registry.home"))
    form = LoginForm()
    if form.validate_on_submit():
        keys = _throttle_keys(form.login.data)
        wait = _blocked_for(keys)
        if wait:
            return render_template("auth/login.html", form=form,
                                   error=gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.",
                                                 wait=wait)), 429
        user = db.session.scalar(select(User).where(User.login == form.login.data.strip()))
        if user is None:
            burn_password_check(form.password.data)
            ok = False
        else:
            ok = user.check_password(form.password.data) and user.is_enabled
        if not ok:
            _record_failure(keys)
            # The typed login is kept only when it names an account: an unknown "login" is often a password
            # typed into the wrong field, and the audit log never holds passwords.
            if user is not None:
                audit.record("login", user, outcome="denied", actor=user, reason="wrong_password_or_disabled")
            else:
                audit.record("login", object_type="users", outcome="denied", reason="unknown_login")
            db.session.commit()
            return render_template("auth/login.html", form=form, error=gettext("Неверный логин или пароль.")), 200
        _clear_failures(keys[0])
        user.last_login_at = now()
        audit.record("login", user, actor=user)
        db.session.commit()
        lang = session.get("lang")
        session.clear()  # a new session at login (no fixation): nothing planted before survives but the language
        if lang in LANGUAGES:
            session["lang"] = lang
        login_user(user)
        session["started"] = session["seen"] = now().timestamp()
        if user.must_change_password:
            flash(gettext("Это первый вход с паролем, выданным вышестоящей организацией. Задайте свой пароль."), "info")
            return redirect(url_for("auth.change_password"))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


def _safe_next(target: str | None) -> str:
    """Redirect only to the portal's own paths.

    Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so "/\t/evil.example" and
    "/\\evil.example" would leave the portal: any control character, space or backslash is refused.
    """
    home = url_for("registry.home")
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return home
    if "\\" in target or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return home
    return target


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out everywhere: bumping the session version ends this and every other session of the account."""
    user = db.session.get(User, current_user.id)
    user.end_sessions()
    audit.record("logout", user, actor=user)
    db.session.commit()
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang in LANGUAGES:
        session["lang"] = lang
    flash(gettext("Вы вышли из портала."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password; every other session ends.

    Checking the current password is throttled like a login (same counters): otherwise a stolen session could try
    passwords at full speed here and then take the account over with a new one.
    """
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = db.session.get(User, current_user.id)
        keys = _throttle_keys(user.login)
        wait = _blocked_for(keys)
        if wait:
            form.current.errors.append(gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.",
                                               wait=wait))
            return render_template("auth/password.html", form=form), 429
        if not user.check_password(form.current.data):
            _record_failure(keys)
            audit.record("password_change", user, actor=user, outcome="denied", reason="wrong_current_password")
            db.session.commit()
            form.current.errors.append(gettext("Текущий пароль введён неверно."))
        elif form.new.data == form.current.data:
            form.new.errors.append(gettext("Новый пароль должен отличаться от текущего."))
        else:
            user.set_password(form.new.data)
            user.must_change_password = False
            user.end_sessions()
            _clear_failures(keys[0])
            audit.record("password_change", user, actor=user)
            db.session.commit()
            login_user(user)
            flash(gettext("Пароль изменён."), "success")
            return redirect(url_for("registry.home"))
    return render_template("auth/password.html", form=form)


# ---- accounts of organisations below ---------------------------------------------------------------------------


def _generate_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


@bp.route("/accounts")
@login_required
def accounts():
    """Accounts of the chairs of organisations below the user's own."""
    if not policy.has_permission(current_user, Permission.MANAGE_ACCOUNTS):
        abort(404)
    users = db.session.scalars(policy.visible_users(current_user).order_by(User.login).limit(500)).all()
    return render_template("auth/accounts.html", users=users, action_form=AccountActionForm())


def _account_org_choices():
    from portal.registry.models import Organisation

    q = policy.visible_orgs(current_user).order_by(Organisation.path).limit(2000)
    orgs = db.session.scalars(q).all()
    return [(o.id, f"{'— ' * max(o.depth - current_user.org.depth, 0)}{o}") for o in orgs
            if policy.roles_user_may_grant(current_user, o)]


@bp.route("/accounts/new", methods=["GET", "POST"])
@login_required
def new_account():
    """Create a chair's account for an organisation below; the one-time password is shown once to hand over."""
    if not policy.has_permission(current_user, Permission.MANAGE_ACCOUNTS):
        abort(404)
    form = AccountForm()
    form.org_id.choices = _account_org_choices()
    preset = request.args.get("org", type=int)
    if request.method == "GET" and preset:
        form.org_id.data = preset
    from portal.auth.models import Role

    form.role.choices = [(r.value, r.label) for r in Role]
    if form.validate_on_submit():
        org = policy.get_org(current_user, form.org_id.data)
        allowed = policy.roles_user_may_grant(current_user, org)
        role = Role(form.role.data)
        if role not in allowed:
            form.role.errors.append(gettext("Эту роль нельзя дать учётной записи этой организации: %(roles)s.",
                                            roles=", ".join(r.label for r in allowed)))
        elif db.session.scalar(select(User.id).where(User.login == form.login.data.strip())):
            form.login.errors.append(gettext("Такой логин уже занят."))
        else:
            password = _generate_password()
            user = User(login=form.login.data.strip(), full_name=form.full_name.data.strip(),
                        email=(form.email.data or "").strip(), role=role, org_id=org.id,
                        created_by_id=current_user.id, must_change_password=True)
            user.set_password(password)
            db.session.add(user)
            db.session.flush()
            audit.record("account_create", user, org_id=org.id, role=role.value)
            db.session.commit()
            return render_template("auth/account_created.html", user=user, password=password)
    return render_template("auth/account_new.html", form=form)


@bp.route("/accounts/<int:user_id>/<action>", methods=["POST"])
@login_required
def account_action(user_id: int, action: str):
    """Reset the password (a new one shown once), disable or enable an account; every change ends its sessions."""
    target = policy.get_user(current_user, user_id)
    form = AccountActionForm()
    if not form.validate_on_submit():
        abort(400)
    if action == "reset":
        password = _generate_password()
        target.set_password(password)
        target.must_change_password = True
        target.end_sessions()
        audit.record("account_reset", target, org_id=target.org_id)
        db.session.commit()
        return render_template("auth/account_created.html", user=target, password=password, reset=True)
    if action in ("disable", "enable"):
        if target.id == current_user.id:
            abort(409, gettext("Нельзя отключить собственную учётную запись."))
        target.is_enabled = action == "enable"
        target.end_sessions()
        audit.record(f"account_{action}", target, org_id=target.org_id)
        db.session.commit()
        flash(gettext("Учётная запись включена.") if target.is_enabled else gettext("Учётная запись отключена."),
              "success")
        return redirect(url_for("auth.accounts"))
    abort(404)
