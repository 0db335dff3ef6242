"""Профпортал: the union's registry, card, aid and bonus-programme portal.

`create_app(overrides)` builds the application; nothing imports a live app.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, abort, g, render_template, request, url_for
from flask_babel import format_date, get_locale, gettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from portal.config import build_config
from portal.extensions import babel, bootstrap, csrf, db, login_manager, migrate
from portal.i18n import N_, current_path, install_template_gettext, remember_choice, select_locale, tr
from portal.sessions import PortalSessionInterface
from portal.text import money as format_money
from portal.text import number as format_number
from portal.text import percent as format_percent
from portal.text import years as format_years

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_app(overrides: dict | None = None) -> Flask:
    """Build the Flask app: config (defaults ← environment ← overrides), extensions, blueprints, admin, CLI."""
    instance_path = os.environ.get("PORTAL_INSTANCE") or str(Path(__file__).resolve().parent.parent / "instance")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(build_config(Path(app.instance_path)))
    if overrides:
        app.config.update(overrides)

    app.session_interface = PortalSessionInterface()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, default_locale="ru", locale_selector=select_locale)
    install_template_gettext(app)
    app.before_request(refuse_nul_bytes)  # before everything: no view, hook or query ever sees a NUL
    app.before_request(remember_choice)  # so every message of the request is in the chosen language
    bootstrap.init_app(app)
    login_manager.init_app(app)

    from portal import models  # noqa: F401  (register every model on the metadata)
    from portal.admin import init_admin
    from portal.aid.views import bp as aid_bp
    from portal.api.views import bp as api_bp
    from portal.auth.views import bp as auth_bp
    from portal.auth.views import init_login
    from portal.cabinet.staff_views import bp as cabinet_staff_bp
    from portal.cabinet.verify import bp as verify_bp
    from portal.cabinet.views import bp as cabinet_bp
    from portal.cards.views import bp as cards_bp
    from portal.consent.views import bp as consent_bp
    from portal.flows import setup as setup_workflows
    from portal.i18n import bp as i18n_bp
    from portal.mail.views import bp as service_bp
    from portal.news import member_views  # noqa: F401  (the members' news routes, on the cabinet's blueprint)
    from portal.news.views import bp as news_bp
    from portal.news.views import public_bp as public_news_bp
    from portal.policy import IdConverter
    from portal.policy import separate_principals as policy_separate_principals
    from portal.registry.import_views import bp as imports_bp
    from portal.registry.views import bp as registry_bp
    from portal.stats.views import bp as stats_bp
    from portal.workflow_views import bp as workflow_bp

    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its rules
    setup_workflows()  # the domain packages bind their workflows and register guards and effects with the engine
    init_login(app)
    app.before_request(policy_separate_principals)  # after the session checks: members and staff never cross
    app.register_blueprint(auth_bp)
    app.register_blueprint(registry_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(service_bp)
    app.register_blueprint(consent_bp)
    app.register_blueprint(cards_bp)
    app.register_blueprint(workflow_bp)
    app.register_blueprint(aid_bp)
    app.register_blueprint(i18n_bp)
    app.register_blueprint(news_bp)
    app.register_blueprint(public_news_bp)
    app.register_blueprint(cabinet_bp)
    app.register_blueprint(verify_bp)
    app.register_blueprint(cabinet_staff_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(stats_bp)
    init_admin(app)
    _register_cli(app)
    _register_errors(app)
    _register_template_helpers(app)
    _register_security_headers(app)
    return app


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals) for key, vals in values.lists())


def refuse_nul_bytes():
    """Refuse a NUL byte anywhere in the path, the query string or a posted form, before any view runs: 400 with a
    Russian page. PostgreSQL rejects NUL in text (a 500 in every search, filter, export and back-office list), XLSX
    cannot hold it, and no field of the portal ever needs one. One place instead of a check in every view."""
    bad = "\x00" in request.path or _has_nul(request.args)
    if not bad and request.method in ("POST", "PUT", "PATCH"):
        bad = _has_nul(request.form) or any("\x00" in (f.filename or "") for f in request.files.values())
    if bad:
        abort(400, gettext("Запрос содержит недопустимый символ (нулевой байт). Проверьте введённые данные."))
    return None


def _register_cli(app: Flask) -> None:
    """Expose the portal's own commands on app.cli too, so `flask` and the test CLI runner see them."""
    from portal.cli import main

    for name, command in main.commands.items():
        if name not in ("run", "shell", "routes") and name not in app.cli.commands:
            app.cli.add_command(command, name)


def _register_errors(app: Flask) -> None:
    """Errors answer in Russian with a page of the portal, never a traceback; 404 is the same for missing and foreign."""
    messages = {
        400: N_("Запрос не понят. Проверьте введённые данные и попробуйте ещё раз."),
        403: N_("Недостаточно прав для этого действия."),
        404: N_("Страница не найдена."),
        405: N_("Это действие так не выполняется."),
        409: N_("Действие невозможно в текущем состоянии."),
        413: N_("Файл слишком большой."),
        429: N_("Слишком много попыток. Подождите и попробуйте снова."),
        500: N_("Внутренняя ошибка. Мы уже знаем о ней; попробуйте позже."),
    }

    def handler(err):
        if request.path.startswith("/api/"):  # the mobile app's API answers JSON, routing errors included
            from portal.api.views import json_error

            return json_error(err)
        code = getattr(err, "code", 500) or 500
        if code == 500:
            db.session.rollback()
        message = gettext(messages.get(code, N_("Ошибка.")))
        description = getattr(err, "description", None)
        # A portal's own explanation (already translated by the view) replaces the generic text; werkzeug's
        # English default descriptions never do.
        if (code in (400, 409, 429) and isinstance(description, str)
                and description != getattr(type(err), "description", None)
                and (any("а" <= c <= "я" for c in description.lower()) or str(get_locale()) == "en")):
            message = description
        return render_template("error.html", code=code, message=message), code

    for code in messages:
        app.register_error_handler(code, handler)

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return render_template("error.html", code=400,
                               message=gettext("Страница устарела или форма отправлена не с портала. "
                                               "Обновите страницу и повторите действие.")), 400


def _register_template_helpers(app: Flask) -> None:
    from portal.fragments import FragmentCache
    from portal.navigation import breadcrumbs, current_section

    app.jinja_env.add_extension(FragmentCache)  # {% cache %}: the layout's fixed parts rendered once
    from portal.policy import Permission, has_permission

    @app.context_processor
    def inject():
        return {
            "can": lambda perm: has_permission(current_user, perm),
            "P": Permission,
            "get_locale": get_locale,
            "current_path": current_path,
            "nav_section": current_section,
            "breadcrumbs": breadcrumbs,
        }

    @app.template_global("workflow_state")
    def workflow_state(wf, state):
        """The State (title, meaning) of a workflow by name or object and a state or its value (state badges)."""
        from workflows import ALL

        wf = ALL[wf] if isinstance(wf, str) else wf
        return wf.states[getattr(state, "value", state)]

    @app.get("/favicon.ico")
    def favicon():
        """The portal's icon where browsers look for it without a link (pages link the SVG and this one)."""
        return app.send_static_file("favicon.ico")

    @app.template_global("member_url")
    def member_url(member_id: int) -> str:
        """`url_for('registry.member', member_id=…)` for the rows of a list: the rule is built once per request and
        the id appended (the id is the rule's last part; tests/test_registry_pages.py holds the two equal)."""
        base = getattr(request, "_member_url_base", None)
        if base is None:
            base = request._member_url_base = url_for("registry.member", member_id=1)[:-1]
        return f"{base}{member_id}"

    @app.template_filter("tr")
    def translate(value):
        """Translate a Russian title kept as data (workflow states and actions, job titles); unknown text stays."""
        return tr(str(value)) if value else value

    @app.template_filter("ru_date")
    def ru_date(value, fmt="d MMMM y 'г.'"):
        """Russian dates as documents write them: «23 сентября 2018 г.»; on English pages «23 September 2018»."""
        if not value:
            return ""
        if str(get_locale()) == "en":
            fmt = fmt.replace(" 'г.'", "")
        return format_date(value, fmt)

    @app.template_filter("dmy")
    def dmy(value):
        return value.strftime("%d.%m.%Y") if value else ""

    @app.template_filter("money")
    def money(value):
        """Roubles with kopecks in the page's language (portal.text.money); «—» when unknown."""
        return "—" if value is None else format_money(value, str(get_locale()))

    @app.template_filter("percent")
    def percent(value, digits: int = 2):
        """A level in per cent in the page's language (portal.text.percent); «—» when unknown."""
        return "—" if value is None else format_percent(value, str(get_locale()), digits)

    @app.template_filter("number")
    def number(value):
        """A plain number in the page's language (portal.text.number): «80,5», «1 200»; «—» when unknown."""
        return "—" if value is None else format_number(value, str(get_locale()))

    @app.template_filter("years")
    def years(value):
        """A count of years with its plural in the page's language (portal.text.years): «21 год», «5 лет»."""
        return "—" if value is None else format_years(int(value), str(get_locale()))


# No inline script, style or handler anywhere (pages, Flask-Admin): scripts and styles are files under /static.
# img-src allows data: for the icons Bootstrap's CSS draws as data: SVGs (the menu button, select arrows, ×).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))
# The portal uses none of these browser features; no page (or anything injected into one) may ask for them.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "camera", "microphone", "geolocation", "payment", "usb", "serial", "bluetooth", "midi", "magnetometer",
    "gyroscope", "accelerometer", "display-capture", "interest-cohort", "browsing-topics"))


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        """Security headers on every response (HTML, files, errors): CSP, Permissions-Policy, no sniffing, no
        framing; no caching of what a logged-in user sees."""
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if getattr(g, "no_store", False) or (current_user and current_user.is_authenticated):
            response.headers["Cache-Control"] = "no-store"
        return response
