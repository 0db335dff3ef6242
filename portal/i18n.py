"""The interface language: Russian by default, English when the user chooses it (the footer switch or `?lang=en`).

The msgids are the Russian texts themselves, so `ru` needs no catalogue; `portal/translations/en` holds the English
one. The browser's Accept-Language is deliberately ignored: the union's staff often run English browsers.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, g, has_request_context, redirect, request, session
from flask_babel import get_translations, lazy_gettext, refresh

from portal.urls import safe_next

LANGUAGES = ("ru", "en")
DEFAULT = "ru"

bp = Blueprint("i18n", __name__)


def N_(text: str) -> str:
    """Mark a Russian text for the catalogue where it must stay Russian in data (enum titles, workflow titles)."""
    return text


def translations():
    """This request's catalogue, looked up once: Flask-Babel finds the domain, the locale and its cache again on
    every call, which a list page (three enum titles a row, the template's own strings) made some 170 times."""
    try:
        return g._portal_translations
    except AttributeError:
        t = g._portal_translations = get_translations()
        return t
    except RuntimeError:  # outside an application context: Flask-Babel gives the untranslated texts
        return get_translations()


def tr(text: str) -> str:
    """Translate a text marked with N_ for the current request (enum and workflow titles on pages)."""
    return translations().ugettext(text) if text else text


def install_template_gettext(app) -> None:
    """The templates' `_`, `ngettext`, … through `translations()` (Flask-Babel's own look the catalogue up each
    time); new-style as Flask-Babel installs them: `_('… %(name)s', name=…)` formats and escapes."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True)


def lazy(text: str):
    """A lazily translated form of a text marked with N_ (select choices built at import time)."""
    return lazy_gettext(text)


def select_locale() -> str:
    """`?lang=` of this request, else the choice kept in the session, else Russian; outside a request Russian."""
    if not has_request_context():
        return DEFAULT
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        return lang
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


def remember_choice() -> None:
    """Keep `?lang=` for the next pages too, so a link with it switches the language like the footer does.

    Flask-Babel caches the locale on `g`, which outlives a request when an app context was already pushed (tests,
    the CLI): forget it first, so every request chooses again.
    """
    refresh()
    g.pop("_portal_translations", None)
    lang = request.args.get("lang")
    if lang in LANGUAGES and session.get("lang") != lang:
        session["lang"] = lang


def current_path() -> str:
    """This page's path and query without `lang=`, for the switch to come back to (else ?lang would win again)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + ("?" + urlencode(args) if args else "")


@bp.get("/lang/<code>")
def switch(code: str):
    """The footer switch: remember the language and go back to the page the user was on (only a portal path)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))
