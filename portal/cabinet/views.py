"""The member's cabinet (/cabinet/): registration, login, reset, the virtual card, my data, family, API tokens.

Members and staff are separate principals: `policy.separate_principals` answers 404 to a staff session here and to
a member session on any staff page; `_members_only` sends anonymous visitors of the cabinet to its own login.
"""

from __future__ import annotations

import time
from functools import lru_cache

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from forms.cabinet import (
    ActionForm,
    ContactsForm,
    FamilyForm,
    MemberLoginForm,
    PhoneCodeForm,
    RegisterAccountForm,
    RegisterIdentityForm,
    ResetForm,
    ResetRequestForm,
    WithdrawForm,
)
from portal import audit
from portal.auth import throttle
from portal.cabinet import operations as ops
from portal.cabinet.models import FamilyMember, MemberAccount
from portal.clock import now
from portal.extensions import db
from portal.i18n import LANGUAGES
from portal.policy import parse_id
from workflows import WorkflowError

bp = Blueprint("cabinet", __name__, url_prefix="/cabinet")

# Pages an anonymous visitor may open (everything else needs a member's session).
PUBLIC_ENDPOINTS = frozenset({
    "cabinet.register", "cabinet.register_account", "cabinet.registered", "cabinet.confirm_email", "cabinet.login",
    "cabinet.reset_request", "cabinet.reset", "cabinet.manifest", "cabinet.service_worker", "cabinet.closed",
    "cabinet.confirm_email_change",
})
REGISTRATION_MINUTES = 20  # step 2 must follow step 1 within this time
# A refused registration or login takes at least this long, so timing does not tell which check failed.
MIN_ANSWER_SECONDS = 0.25


@bp.before_request
def _members_only():
    """Anonymous visitors of a member page go to the cabinet's login (staff sessions were refused app-wide)."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return redirect(url_for("cabinet.login", next=request.full_path if request.method == "GET" else None))


@bp.app_template_filter("ru_datetime")
def ru_datetime(value, fmt="d MMMM y, HH:mm"):
    """A moment in Moscow time («4 декабря 2026, 17:45»), for the card's «Обновлено» and the readers' list."""
    from flask_babel import format_datetime

    return format_datetime(value, fmt) if value else ""


def _account() -> MemberAccount:
    return current_user._get_current_object()


def _pad(started: float) -> None:
    """Sleep up to MIN_ANSWER_SECONDS since `started` (skipped in tests that set CABINET_PAD_SECONDS = 0)."""
    floor = current_app.config.get("CABINET_PAD_SECONDS", MIN_ANSWER_SECONDS)
    left = floor - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)


def _start_session(account: MemberAccount) -> None:
    """A new session at login (no fixation); only the language survives."""
    lang = session.get("lang")
    session.clear()
    if lang in LANGUAGES:
        session["lang"] = lang
    login_user(account)
    session["started"] = session["seen"] = now().timestamp()


def _end_session() -> None:
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang in LANGUAGES:
        session["lang"] = lang


def _safe_next(target: str | None) -> str:
    from portal.urls import safe_next as staff_safe_next

    home = url_for("cabinet.home")
    if not target or not target.startswith("/cabinet/"):
        return home
    safe = staff_safe_next(target)
    return safe if safe.startswith("/cabinet/") else home


# ---- registration ---------------------------------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Step 1 (seed 003 §2.2): surname, name, patronymic and card number must match an active member whose card was
    issued and whose consent is signed; one refusal for every reason. Throttled per card and per address."""
    form = RegisterIdentityForm()
    error = None
    if form.validate_on_submit():
        started = time.monotonic()
        keys = ops.throttle_keys(form.card_number.data)
        wait = ops.blocked_for(keys)
        if wait:
            error = gettext("Слишком много попыток. Повторите через %(wait)s с.", wait=wait)
            return render_template("cabinet/register.html", form=form, error=error), 429
        member = ops.eligible_member(form.last_name.data, form.first_name.data, form.patronymic.data or "",
                                     form.card_number.data)
        if member is None:
            ops.record_failure(keys)
            audit.record("member_register", object_type="member_accounts", outcome="denied", reason="no_match")
            db.session.commit()
            _pad(started)
            return render_template("cabinet/register.html", form=form, error=ops.refusal_message()), 200
        if ops.account_of(member) is not None:
            db.session.commit()
            return render_template("cabinet/already.html"), 200
        session["cabinet_reg"] = {"member_id": member.id, "at": now().timestamp()}
        db.session.commit()
        return redirect(url_for("cabinet.register_account"))
    return render_template("cabinet/register.html", form=form, error=error)


def _registering():
    data = session.get("cabinet_reg")
    if not isinstance(data, dict) or now().timestamp() - float(data.get("at", 0)) > REGISTRATION_MINUTES * 60:
        return None
    from portal.registry.models import Member

    return db.session.get(Member, parse_id(data.get("member_id")) or 0)


@bp.route("/register/account", methods=["GET", "POST"])
def register_account():
    """Step 2: check the phone and email the registry holds, set a password twice, accept the rules."""
    member = _registering()
    if member is None:
        flash(gettext("Начните регистрацию заново: введите ФИО и номер билета."), "warning")
        return redirect(url_for("cabinet.register"))
    form = RegisterAccountForm()
    if request.method == "GET":
        form.email.data, form.phone.data = member.email, member.phone
    if form.validate_on_submit():
        # Checked again: the registry may have changed (consent withdrawn, card blocked) since step 1.
        still = ops.eligible_member(member.last_name, member.first_name, member.patronymic, member.card_number or "")
        if still is None:
            session.pop("cabinet_reg", None)
            return render_template("cabinet/register.html", form=RegisterIdentityForm(formdata=None),
                                   error=ops.refusal_message()), 200
        if ops.account_of(member) is not None:
            session.pop("cabinet_reg", None)
            return render_template("cabinet/already.html"), 200
        try:
            ops.register(member, form.email.data, form.phone.data or "", form.password.data)
        except ValueError as err:  # the outbox refused the address
            form.email.errors.append(str(err))
            return render_template("cabinet/register_account.html", form=form, member=member)
        db.session.commit()
        session.pop("cabinet_reg", None)
        session["cabinet_registered_email"] = form.email.data.strip()
        return redirect(url_for("cabinet.registered"))
    return render_template("cabinet/register_account.html", form=form, member=member)


@bp.route("/register/done")
def registered():
    """Registration is done: the confirmation link is on its way."""
    return render_template("cabinet/registered.html", email=session.get("cabinet_registered_email", ""))


@bp.route("/confirm/<token>")
def confirm_email(token: str):
    """The link from the confirmation email: confirms the address (single use) and asks to log in."""
    account = ops.confirm_email(token)
    if account is None:
        db.session.rollback()
        return render_template("cabinet/message.html", title=gettext("Ссылка недействительна"),
                               text=gettext("Ссылка уже использована или устарела. Войдите: если адрес ещё не "
                                            "подтверждён, мы предложим отправить письмо снова.")), 404
    db.session.commit()
    flash(gettext("Адрес электронной почты подтверждён. Войдите по номеру билета и паролю."), "success")
    return redirect(url_for("cabinet.login"))


# ---- login, logout, reset ---------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Login by card number and password; one answer (and the same time) for an unknown card and a wrong password."""
    if current_user.is_authenticated:
        return redirect(url_for("cabinet.home"))
    form = MemberLoginForm()
    g.clear_card_cache = request.args.get("bye") == "1"
    if form.validate_on_submit():
        started = time.monotonic()
        account, wait = ops.authenticate(form.card_number.data, form.password.data)
        if wait:
            return render_template("cabinet/login.html", form=form, error=gettext(
                "Слишком много неудачных попыток. Повторите через %(wait)s с.", wait=wait)), 429
        if account is None:
            _pad(started)
            return render_template("cabinet/login.html", form=form,
                                   error=gettext("Неверный номер билета или пароль.")), 200
        problem = ops.login_problem(account)
        if problem:
            if account.email_confirmed_at is None and account.closed_at is None:
                ops.send_email_confirmation(account)
            db.session.commit()
            return render_template("cabinet/login.html", form=form, error=problem), 200
        ops.record_login(account)
        # Committed keeping the loaded account: the session is started from it at once (its id and session
        # version, which this commit did not change; a «log out everywhere» that lands in between still wins,
        # since every later request compares the version with the database).
        audit.commit_read()
        _start_session(account)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("cabinet/login.html", form=form, error=None)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out everywhere: the session version moves on (every device) and API tokens are revoked (the form's CSRF
    token is checked app-wide by CSRFProtect, as for every POST)."""
    account = db.session.get(MemberAccount, _account().id)
    ops.end_everywhere(account)
    audit.record("member_logout", object_type="member_accounts", object_id=account.id, org_id=account.member.org_id,
                 actor=ops.MemberActor(account))
    db.session.commit()
    _end_session()
    flash(gettext("Вы вышли из личного кабинета на всех устройствах."), "info")
    return redirect(url_for("cabinet.login", bye=1))


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    """Ask for a reset link by card number; the same answer whether or not the card has an account."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        started = time.monotonic()
        keys = ops.throttle_keys(form.card_number.data)
        wait = ops.blocked_for(keys)
        if wait:
            return render_template("cabinet/reset_request.html", form=form, sent=False, error=gettext(
                "Слишком много попыток. Повторите через %(wait)s с.", wait=wait)), 429
        ops.record_failure(keys)  # every request counts: the form must not become a way to flood a mailbox
        ops.request_reset(form.card_number.data)
        db.session.commit()
        _pad(started)
        return render_template("cabinet/reset_request.html", form=form, sent=True, error=None)
    return render_template("cabinet/reset_request.html", form=form, sent=False, error=None)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password with the emailed link (single use, one hour); every session ends."""
    if ops.live_token(token, "password_reset") is None:
        return render_template("cabinet/message.html", title=gettext("Ссылка недействительна"),
                               text=gettext("Ссылка для восстановления пароля уже использована или устарела "
                                            "(она действует один час). Запросите новую.")), 404
    form = ResetForm()
    if form.validate_on_submit():
        account = ops.reset_password(token, form.password.data)
        if account is None:
            db.session.rollback()
            abort(404)
        db.session.commit()
        flash(gettext("Пароль изменён. Войдите с новым паролем."), "success")
        return redirect(url_for("cabinet.login"))
    return render_template("cabinet/reset.html", form=form)


@bp.route("/closed")
def closed():
    """After a withdrawal of consent: the cabinet is closed."""
    return render_template("cabinet/message.html", title=gettext("Личный кабинет закрыт"), clear_cache=True,
                           text=gettext("Согласие на обработку персональных данных отозвано. Передача данных в "
                                        "ПРОФКАРДС прекращена, программа получит отзыв. Личный кабинет закрыт; "
                                        "чтобы вернуться, дайте согласие снова у председателя своей организации."))


# ---- the cabinet ----------------------------------------------------------------------------------------------


@bp.route("/")
def home():
    """The cabinet's home: the card at a glance, what is left to do, links to the rest."""
    account = _account()
    return render_template("cabinet/home.html", account=account, member=account.member,
                           card=ops.card_data(account, with_family=False),
                           petition_count=ops.account_petition_count(account))


@bp.route("/card")
def card():
    """The virtual card with its QR code; the service worker keeps a copy that opens with no network."""
    account = _account()
    data = ops.card_data(account)
    svg = qr_svg(data["verify_url"])
    return render_template("cabinet/card.html", account=account, member=account.member, card=data, qr_svg=svg,
                           rendered_at=now())


@lru_cache(maxsize=4096)
def qr_svg(url: str) -> str:
    """The QR code of a verification link as inline SVG (no script, no style attribute). Encoding one takes
    milliseconds of pure Python, and a member's link never changes: kept per link."""
    import qrcode
    import qrcode.image.svg

    return qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8,
                       border=2).to_string(encoding="unicode")


@bp.route("/data")
def data():
    """My data (152-FZ art. 14): the registry's card, history and tenure, consent and its history, who read it."""
    account = _account()
    member = account.member
    return render_template("cabinet/data.html", account=account, member=member,
                           events=member.events, consent=ops.consent_history(member),
                           readers=ops.readers(member), petitions=ops.petition_data(member),
                           withdraw_form=WithdrawForm())


@bp.route("/data.json")
def data_json():
    """All my data as one JSON file (the member's copy)."""
    import json

    account = _account()
    body = json.dumps(ops.my_data(account), ensure_ascii=False, indent=1)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": "attachment; filename=my-data.json"})


@bp.route("/consent/withdraw", methods=["GET", "POST"])
def withdraw():
    """Withdraw consent online: the chairs' own transition with its effects; then the cabinet closes."""
    account = _account()
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            ops.withdraw_consent(db.session.get(MemberAccount, account.id))
        except WorkflowError as err:
            db.session.rollback()
            return render_template("cabinet/withdraw.html", form=form, member=account.member, error=str(err)), 409
        db.session.commit()
        _end_session()
        return redirect(url_for("cabinet.closed"))
    return render_template("cabinet/withdraw.html", form=form, member=account.member, error=None)


@bp.route("/phone", methods=["GET", "POST"])
def phone():
    """Confirm the phone with the SMS code (or ask for a new code)."""
    account = db.session.get(MemberAccount, _account().id)
    form = PhoneCodeForm()
    if request.method == "POST" and request.form.get("resend") and ActionForm().validate_on_submit():
        if account.phone:
            ops.send_phone_code(account)
            db.session.commit()
            flash(gettext("Новый код отправлен."), "info")
        return redirect(url_for("cabinet.phone"))
    if form.validate_on_submit():
        if ops.confirm_phone(account, form.code.data):
            db.session.commit()
            flash(gettext("Телефон подтверждён."), "success")
            return redirect(url_for("cabinet.home"))
        db.session.commit()
        form.code.errors.append(gettext("Код неверный или устарел. Запросите новый код."))
    return render_template("cabinet/phone.html", form=form, account=account)


@bp.route("/contacts", methods=["GET", "POST"])
def contacts():
    """Change the cabinet's email or phone. The current password is asked and checked like a login (the same
    counters: a stolen session cannot guess it at full speed); a new phone is stored at once (a code goes by SMS),
    a new email replaces the old one only when the link sent to it is opened, and the old address is told."""
    account = db.session.get(MemberAccount, _account().id)
    form = ContactsForm()
    if request.method == "GET":
        form.email.data, form.phone.data = account.email, account.phone
    pending = ops.pending_email(account)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("cabinet/contacts.html", form=form, account=account, pending=pending), status
    keys = throttle.login_keys("member-", account.member.card_number or f"account-{account.id}")
    wait = throttle.reserve_attempt(keys)
    if wait:
        form.current.errors.append(gettext("Слишком много неудачных попыток. Повторите через %(wait)s с.", wait=wait))
        return render_template("cabinet/contacts.html", form=form, account=account, pending=pending), 429
    account = db.session.get(MemberAccount, account.id)  # reserve_attempt committed: read the account again
    if not account.check_password(form.current.data):
        throttle.attempt_failed(keys)
        audit.record("member_contacts", object_type="member_accounts", object_id=account.id,
                     org_id=account.member.org_id, outcome="denied", actor=ops.MemberActor(account),
                     reason="wrong_password")
        db.session.commit()
        form.current.errors.append(gettext("Неверный пароль."))
        return render_template("cabinet/contacts.html", form=form, account=account, pending=pending), 422
    throttle.attempt_succeeded(keys)
    try:
        email_requested, phone_changed = ops.change_contacts(account, form.email.data, form.phone.data or "")
    except ValueError as err:  # the outbox refused the address
        db.session.rollback()
        form.email.errors.append(str(err))
        return render_template("cabinet/contacts.html", form=form, account=account, pending=pending), 422
    db.session.commit()
    if email_requested:
        flash(gettext("Мы отправили ссылку на новый адрес: он заменит прежний, когда вы её откроете. Прежний адрес "
                      "получил уведомление."), "info")
    if phone_changed:
        flash(gettext("Телефон сохранён."), "success")
    if not (email_requested or phone_changed):
        flash(gettext("Контакты не изменились."), "info")
    if phone_changed and account.phone:
        return redirect(url_for("cabinet.phone"))
    return redirect(url_for("cabinet.data"))


@bp.route("/email/<token>")
def confirm_email_change(token: str):
    """The link sent to a new address: it replaces the old one (single use, a day)."""
    account = ops.confirm_email_change(token)
    if account is None:
        db.session.rollback()
        return render_template("cabinet/message.html", title=gettext("Ссылка недействительна"),
                               text=gettext("Ссылка уже использована или устарела. Войдите и укажите новый адрес "
                                            "ещё раз.")), 404
    db.session.commit()
    flash(gettext("Новый адрес электронной почты подтверждён."), "success")
    return redirect(url_for("cabinet.data" if current_user.is_authenticated else "cabinet.login"))


def _family_form() -> FamilyForm:
    form = FamilyForm()
    form.relation.choices = [(k, gettext(v)) for k, v in ops.FAMILY_RELATIONS.items()]
    return form


@bp.route("/family", methods=["GET", "POST"])
def family():
    """Family members I list for the union's discounts (shown on the card)."""
    account = _account()
    form = _family_form()
    rows = ops.family(account)
    if form.validate_on_submit():
        if len(rows) >= ops.FAMILY_LIMIT:
            form.full_name.errors.append(gettext("Можно указать не больше %(n)s членов семьи.", n=ops.FAMILY_LIMIT))
        else:
            db.session.add(FamilyMember(account_id=account.id, full_name=" ".join(form.full_name.data.split()),
                                        relation=form.relation.data, birth_date=form.birth_date.data))
            db.session.commit()
            flash(gettext("Член семьи добавлен."), "success")
            return redirect(url_for("cabinet.family"))
    return render_template("cabinet/family.html", form=form, rows=rows, relations=ops.FAMILY_RELATIONS,
                           action_form=ActionForm())


@bp.route("/family/<int:family_id>/delete", methods=["POST"])
def family_delete(family_id: int):
    """Remove a family member of my own; another member's row answers 404 like a missing one."""
    row = db.session.get(FamilyMember, family_id)
    if row is None or row.account_id != _account().id or not ActionForm().validate_on_submit():
        abort(404)
    db.session.delete(row)
    db.session.commit()
    return redirect(url_for("cabinet.family"))


@bp.route("/tokens")
def tokens():
    """The mobile app's sessions (API tokens): where they were issued and until when; each can be revoked."""
    return render_template("cabinet/tokens.html", rows=ops.api_tokens(_account()), action_form=ActionForm())


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(token_id: int):
    """Revoke one API token of my own (another's answers 404)."""
    if not ActionForm().validate_on_submit() or not ops.revoke_api_token(_account(), token_id):
        abort(404)
    db.session.commit()
    flash(gettext("Доступ приложения отозван."), "info")
    return redirect(url_for("cabinet.tokens"))


# ---- the installable web app ----------------------------------------------------------------------------------


@bp.route("/manifest.webmanifest")
def manifest():
    """The web app manifest: the cabinet installs to a phone's home screen and opens on the card."""
    import json

    body = {
        "name": gettext("Профпортал — электронный профсоюзный билет"),
        "short_name": gettext("Профбилет"),
        "start_url": url_for("cabinet.card"),
        "scope": url_for("cabinet.home"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0d6efd",
        "lang": "ru",
        "icons": [{"src": url_for("static", filename=f"cabinet/icon-{n}.png"), "sizes": f"{n}x{n}",
                   "type": "image/png", "purpose": "any maskable"} for n in (192, 512)],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from /cabinet/ so that its scope is the cabinet (a static file, no inline code)."""
    response = send_from_directory(current_app.static_folder, "cabinet/sw.js", mimetype="text/javascript",
                                   max_age=0)
    response.headers["Service-Worker-Allowed"] = url_for("cabinet.home")
    response.headers["Cache-Control"] = "no-cache"
    return response


