"""Logging in and out, password change, throttling, session lifetime, and staff accounts of organisations below."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta

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
#
# Three counters per attempt: the account ("login:…"), the account from this address ("pair:…") and the address
# ("addr:…"). An attempt is reserved BEFORE the password is checked, in one short transaction that locks the rows
# (an upsert takes the row lock on PostgreSQL and the write lock on SQLite): it is refused while blocked, otherwise
# counted as a failure at once. Forty parallel guesses therefore get exactly the free attempts, not as many as
# raced past a separate check. A right password then undoes what it was counted for.
#
# A per-account block stops the addresses that failed on the account, not its owner elsewhere: an address with no
# failure on the account within the window still gets its attempt (one, then its own counter blocks it), so an
# outsider who keeps an account blocked does not keep its owner out. The address counter is separate (one address
# guessing many accounts); a good login removes that account's failures from it (a school behind one NAT does not
# share a typo's lockout), never the failures on other accounts.


def _throttle_keys(login: str) -> list[str]:
    account = fold(login)[:150]
    address = (request.remote_addr or "-")[:45]
    return [f"login:{account}", f"pair:{account}|{address}", f"addr:{address}"]


def _upsert():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _reserve_attempt(keys: list[str]) -> int:
    """Atomically decide and record one attempt for the keys (account, account×address, address).

    Returns the seconds to wait (the attempt is refused and nothing is counted), or 0: the attempt is counted as a
    failure on every key and may check its password (`_attempt_succeeded` undoes it). Commits, so the row locks are
    held only for this step, never during the password hash.
    """
    cfg = current_app.config
    free = cfg["LOGIN_FREE_ATTEMPTS"]
    free_by_key = {keys[0]: free, keys[1]: free, keys[2]: cfg.get("LOGIN_ADDRESS_FREE_ATTEMPTS", free)}
    cap = cfg["LOGIN_MAX_DELAY_SECONDS"]
    window = timedelta(seconds=cfg.get("LOGIN_FAILURE_WINDOW_SECONDS", 3600))
    moment = now()
    table = LoginThrottle.__table__
    insert = _upsert()
    state = {}
    for key in sorted(keys):  # one lock order for everyone: no deadlock between two attempts
        stale = table.c.updated_at < moment - window
        stmt = insert(table).values(key=key, failures=0, updated_at=moment).on_conflict_do_update(
            index_elements=[table.c.key],
            # Old failures are forgotten (a school's typos spread over weeks); the row is locked either way.
            set_={"failures": case((stale, 0), else_=table.c.failures),
                  "blocked_until": case((stale, None), else_=table.c.blocked_until)},
        ).returning(table.c.failures, table.c.blocked_until)
        failures, blocked_until = db.session.execute(stmt).one()
        state[key] = (failures, _aware(blocked_until))
    account, pair, address = keys

    def wait_of(key: str) -> int:
        until = state[key][1]
        return int((until - moment).total_seconds()) + 1 if until and until > moment else 0

    wait = max(wait_of(pair), wait_of(address))
    if not wait and wait_of(account) and state[pair][0] > 0:
        wait = wait_of(account)  # this address is one of those failing on the blocked account
    if wait:
        db.session.commit()
        return wait
    for key in keys:
        failures = state[key][0] + 1
        values = {"failures": failures, "updated_at": moment}
        if failures >= free_by_key[key]:
            delay = min(2 ** min(failures - free_by_key[key] + 1, 30), cap)
            values["blocked_until"] = max(moment + timedelta(seconds=delay), state[key][1] or moment)
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key).values(**values))
    db.session.commit()
    return 0


def _attempt_succeeded(keys: list[str]) -> None:
    """A right password: the account's and this address's counters for it are cleared, and the address counter
    loses the failures of this account from this address (including the attempt just reserved)."""
    account, pair, address = keys
    mine = db.session.scalar(select(LoginThrottle.failures).where(LoginThrottle.key == pair)) or 0
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([account, pair])))
    if mine:
        free = current_app.config.get("LOGIN_ADDRESS_FREE_ATTEMPTS", current_app.config["LOGIN_FREE_ATTEMPTS"])
        left = case((LoginThrottle.failures > mine, LoginThrottle.failures - mine), else_=0)
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == address).values(
            failures=left, blocked_until=case((left < free, None), else_=LoginThrottle.blocked_until)))


# ---- views -----------------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Staff login by login and password; the same answer for an unknown login and a wrong password."""
    if current_user.is_authenticated:
        return redirect(url_for("registry.home"))
    form = LoginForm()
    if form.validate_on_submit():
        keys = _throttle_keys(form.login.data)
        wait = _reserve_attempt(keys)
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
        if not ok:  # already counted by _reserve_attempt
            # The typed login is kept only when it names an account: an unknown "login" is often a password
            # typed into the wrong field, and the audit log never holds passwords.
            if user is not None:
                audit.record("login", user, outcome="denied", actor=user, reason="wrong_password_or_disabled")
            else:
                audit.record("login", object_type="users", outcome="denied", reason="unknown_login")
            db.session.commit()
            return render_template("auth/login.html", form=form, error=gettext("Неверный логин или пароль.")), 200
        _attempt_succeeded(keys)
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
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form, error=None)


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
    if form.validate_on_submit():
        user = db.session.get(User, current_user.id)
        keys = _throttle_keys(user.login)
        wait = _reserve_attempt(keys)
        if wait:
            form.current.errors.append(gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.",
                                               wait=wait))
            return render_template("auth/password.html", form=form), 429
        if not user.check_password(form.current.data):  # already counted by _reserve_attempt
            audit.record("password_change", user, actor=user, outcome="denied", reason="wrong_current_password")
            db.session.commit()
            form.current.errors.append(gettext("Текущий пароль введён неверно."))
        elif form.new.data == form.current.data:
            _attempt_succeeded(keys)
            db.session.commit()
            form.new.errors.append(gettext("Новый пароль должен отличаться от текущего."))
        else:
            user.set_password(form.new.data)
            user.must_change_password = False
            user.end_sessions()
            _attempt_succeeded(keys)
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
@policy.requires(policy.Permission.MANAGE_ACCOUNTS)
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
@policy.requires(policy.Permission.MANAGE_ACCOUNTS)
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
