"""Logging in and out, password change, throttling, session lifetime, and staff accounts of organisations below."""

from __future__ import annotations

import re
import secrets
import string

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from forms.auth import AccountActionForm, AccountForm, ChangePasswordForm, LoginForm
from portal import audit, policy
from portal.auth.models import User, burn_password_check
from portal.auth.throttle import attempt_failed, attempt_succeeded, login_keys, reserve_attempt
from portal.clock import now
from portal.extensions import db, login_manager
from portal.i18n import LANGUAGES
from portal.policy import Permission
from portal.sessions import is_static_request, touch_seen
from portal.text import fold
from portal.urls import safe_next

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
        if is_static_request() or not current_user.is_authenticated:
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
        touch_seen(session, moment, current_app.config.get("SESSION_SEEN_GRANULARITY", 60))
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


# ---- views -----------------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Staff login by login and password; the same answer for an unknown login and a wrong password."""
    if current_user.is_authenticated:
        return redirect(url_for("registry.home"))
    form = LoginForm()
    if form.validate_on_submit():
        keys = login_keys("", form.login.data)
        wait = reserve_attempt(keys)
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
        if not ok:  # the account was counted by reserve_attempt, the address is now
            attempt_failed(keys)
            # The typed login is kept only when it names an account: an unknown "login" is often a password
            # typed into the wrong field, and the audit log never holds passwords.
            if user is not None:
                audit.record("login", user, outcome="denied", actor=user, reason="wrong_password_or_disabled")
            else:
                audit.record("login", object_type="users", outcome="denied", reason="unknown_login")
            db.session.commit()
            return render_template("auth/login.html", form=form, error=gettext("Неверный логин или пароль.")), 200
        attempt_succeeded(keys)
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
            # The handed-over password was typed a moment ago: the forced change does not ask for it again.
            session[TEMP_PASSWORD_CHECKED] = now().timestamp()
            flash(gettext("Это первый вход с паролем, выданным вышестоящей организацией. Задайте свой пароль."), "info")
            return redirect(url_for("auth.change_password"))
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


# Session key: when the temporary password was checked at login; within TEMP_PASSWORD_WINDOW the forced change
# skips the current-password field (asking again for what was just typed helps nobody).
TEMP_PASSWORD_CHECKED = "temp_password_checked"
TEMP_PASSWORD_WINDOW = 15 * 60


def _just_logged_in_with_temporary_password(user) -> bool:
    checked = session.get(TEMP_PASSWORD_CHECKED)
    return bool(user.must_change_password and isinstance(checked, int | float)
                and 0 <= now().timestamp() - checked <= TEMP_PASSWORD_WINDOW)


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
@policy.requires(policy.LOGGED_IN)
def change_password():
    """Change one's own password; every other session ends.

    Checking the current password is throttled like a login (same counters): otherwise a stolen session could try
    passwords at full speed here and then take the account over with a new one.
    """
    form = ChangePasswordForm()
    user = db.session.get(User, current_user.id)
    fresh = _just_logged_in_with_temporary_password(user)
    if fresh:
        del form.current  # checked at login a moment ago
    if form.validate_on_submit():
        keys = login_keys("", user.login)
        wait = 0 if fresh else reserve_attempt(keys)
        if wait:
            form.current.errors.append(gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.",
                                               wait=wait))
            return render_template("auth/password.html", form=form, fresh=fresh), 429
        if not fresh and not user.check_password(form.current.data):  # the account counted by reserve_attempt
            attempt_failed(keys)
            audit.record("password_change", user, actor=user, outcome="denied", reason="wrong_current_password")
            db.session.commit()
            form.current.errors.append(gettext("Текущий пароль введён неверно."))
        elif user.check_password(form.new.data):
            if not fresh:
                attempt_succeeded(keys)
                db.session.commit()
            form.new.errors.append(gettext("Новый пароль должен отличаться от текущего."))
        else:
            session.pop(TEMP_PASSWORD_CHECKED, None)
            user.set_password(form.new.data)
            user.must_change_password = False
            user.end_sessions()
            attempt_succeeded(keys)
            audit.record("password_change", user, actor=user)
            db.session.commit()
            login_user(user)
            flash(gettext("Пароль изменён."), "success")
            return redirect(url_for("registry.home"))
    return render_template("auth/password.html", form=form, fresh=fresh)


# ---- accounts of organisations below ---------------------------------------------------------------------------


def _generate_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


@bp.route("/accounts")
@login_required
@policy.requires(policy.Permission.MANAGE_ACCOUNTS)
def accounts():
    """Accounts of the chairs of organisations below the user's own."""
    if not policy.has_permission(current_user, Permission.MANAGE_ACCOUNTS):
        abort(404)
    users = db.session.scalars(policy.visible_users(current_user).order_by(User.login).limit(500)).all()
    return render_template("auth/accounts.html", users=users, action_form=AccountActionForm())


def natural_key(name: str) -> tuple:
    """Sort key that reads numbers as numbers: «СОШ № 5» before «СОШ № 17»."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", fold(name)))


def _account_orgs():
    """The organisations the user may make accounts for, in tree order: each after its parent, siblings by name."""
    from portal.registry.models import Organisation

    orgs = [o for o in db.session.scalars(policy.visible_orgs(current_user).order_by(Organisation.path).limit(2000))
            if policy.roles_user_may_grant(current_user, o)]
    ids = {o.id for o in orgs}
    children: dict[int | None, list] = {}
    for o in orgs:
        children.setdefault(o.parent_id if o.parent_id in ids else None, []).append(o)
    out = []

    def walk(parent_id):
        for o in sorted(children.get(parent_id, []), key=lambda o: (natural_key(o.name), o.id)):
            out.append(o)
            walk(o.id)

    walk(None)
    return out


def _account_org_choices(orgs):
    """(id, name) indented by depth below the user's own organisation: the tree as the select shows it."""
    base = current_user.org.depth
    indent = "\u00a0" * 4  # a select collapses plain spaces

    def label(o) -> str:
        level = max(o.depth - base - (0 if policy.is_central(current_user) else 1), 0)
        return f"{indent * max(level - 1, 0)}{'— ' if level else ''}{o.name}"

    return [(o.id, label(o)) for o in orgs]


def _grantable_roles(orgs) -> list:
    """Every role the user may give to an account of at least one of these organisations, in the Role order."""
    from portal.auth.models import Role

    allowed = {r for o in orgs for r in policy.roles_user_may_grant(current_user, o)}
    return [r for r in Role if r in allowed]


@bp.route("/accounts/new", methods=["GET", "POST"])
@login_required
@policy.requires(policy.Permission.MANAGE_ACCOUNTS)
def new_account():
    """Create a chair's account for an organisation below; the one-time password is shown once to hand over."""
    if not policy.has_permission(current_user, Permission.MANAGE_ACCOUNTS):
        abort(404)
    from portal.auth.models import Role

    form = AccountForm()
    orgs = _account_orgs()
    form.org_id.choices = _account_org_choices(orgs)
    # Only the roles this account may grant; the default is the role of the chosen (or most common) organisation.
    roles = _grantable_roles(orgs)
    form.role.choices = [(r.value, r.label) for r in roles]
    if request.method == "GET":
        preset = request.args.get("org", type=int)
        chosen = next((o for o in orgs if o.id == preset), None)
        if chosen is not None:
            form.org_id.data = chosen.id
        granted = policy.roles_user_may_grant(current_user, chosen) if chosen is not None else ()
        default = granted[0] if granted else (Role.PRIMARY_CHAIR if Role.PRIMARY_CHAIR in roles else
                                              (roles[0] if roles else None))
        form.role.data = default.value if default else None
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
@policy.requires(policy.Permission.MANAGE_ACCOUNTS)
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
