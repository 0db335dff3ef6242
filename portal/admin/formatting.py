"""How the back office shows values: dates the Russian way (Moscow time), audit entries with names instead of ids.

A member's name shown this way is a read of personal data and is audited (the ids named, once per page).
Names are looked up only for objects inside the viewer's scope (`policy.scope_for`): an audit entry about a denied
foreign id keeps showing the bare number, so the log never tells a regional auditor who is behind another
region's id.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import after_this_request, g
from flask_admin.model import typefmt
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select

from portal import audit, policy
from portal.extensions import db
from portal.i18n import N_, tr

MOSCOW = ZoneInfo("Europe/Moscow")
NAMES_SHOWN = 10


def ru_datetime(view, value: datetime, name=None) -> str:
    """«05.03.2026 14:07» in Moscow time (stored times are UTC; a naive one is read as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")


def ru_date(view, value: date, name=None) -> str:
    return value.strftime("%d.%m.%Y")


TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: ru_datetime, date: ru_date}
DETAIL_TYPE_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, datetime: ru_datetime, date: ru_date}
EXPORT_TYPE_FORMATTERS = {**typefmt.EXPORT_FORMATTERS, datetime: ru_datetime, date: ru_date}


# ---- audit entries ------------------------------------------------------------------------------------------------


def _models() -> dict:
    from portal.auth.models import User
    from portal.registry.models import Member, Organisation

    return {"members": Member, "users": User, "organisations": Organisation}


def _label(obj) -> str:
    full = getattr(obj, "full_name", None)
    if getattr(obj, "login", None):  # an account: its login, with the person's name when known
        return f"{obj.login} ({full})" if full else obj.login
    return full or str(obj)


def names(object_type: str, ids) -> dict[int, str]:
    """id → a readable name for the ids of one object type that the current user may see (cached per request)."""
    model = _models().get(object_type)
    if model is None or not getattr(current_user, "is_authenticated", False):
        return {}
    cache = g.setdefault("_admin_names", {})
    wanted = {i for i in ids if isinstance(i, int) and (object_type, i) not in cache}
    if wanted:
        for i in wanted:
            cache[(object_type, i)] = None
        rows = db.session.scalars(select(model).where(model.id.in_(wanted), policy.scope_for(model, current_user)))
        for obj in rows:
            cache[(object_type, obj.id)] = _label(obj)
            if object_type == "members":
                _audit_named_member(obj.id)
    return {i: cache[(object_type, i)] for i in ids if isinstance(i, int) and cache.get((object_type, i))}


def _audit_named_member(member_id: int) -> None:
    """A member's name shown in the log is a read of their personal data: audited like any list, once per page
    (written after the page is rendered, with every member it named)."""
    named = g.get("_admin_named_members")
    if named is None:
        named = g._admin_named_members = []

        @after_this_request
        def record(response):
            if g._admin_named_members:
                audit.record("admin_audit_names_read", object_type="members", org_id=current_user.org_id,
                             ids=sorted(set(g._admin_named_members))[:1000])
                audit.commit_read()
            return response
    named.append(member_id)


def _named(object_type: str, ids: list) -> str:
    found = names(object_type, ids[:NAMES_SHOWN])
    shown = [found.get(i) or f"№ {i}" for i in ids[:NAMES_SHOWN]]
    rest = len(ids) - NAMES_SHOWN
    text = ", ".join(shown)
    if rest > 0:
        text += " " + tr(N_("и ещё %(n)s")) % {"n": rest}
    return text


# Readable titles of the keys audit entries use most (others are shown as they are).
_KEYS = {
    "ids": N_("Записи"), "count": N_("Всего"), "search": N_("Поиск"), "changed": N_("Изменено"),
    "reason": N_("Причина"), "via": N_("Через"), "role": N_("Роль"), "name": N_("Название"), "path": N_("Путь"),
    "fields": N_("Поля"), "filters": N_("Фильтры"), "page": N_("Страница"),
}


def audit_details(view, context, model, name) -> Markup:
    """The details of an audit entry as «Записи: Иванова М. П., Петров И. И.; Всего: 2» instead of raw JSON."""
    raw = model.details or ""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return escape(raw)
    if not isinstance(data, dict):
        return escape(raw)
    parts = []
    for key, value in data.items():
        title = tr(_KEYS[key]) if key in _KEYS else key
        if key == "ids" and isinstance(value, list):
            text = _named(model.object_type, value)
        elif isinstance(value, bool):
            text = tr(N_("да")) if value else tr(N_("нет"))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        parts.append(Markup("<strong>{}</strong>: {}").format(title, text))
    return Markup('<span class="audit-details">{}</span>').format(Markup("; ").join(parts))


def audit_object(view, context, model, name) -> str:
    """The object of an entry by its name when the viewer may see it, else its number."""
    if model.object_id is None:
        return ""
    found = names(model.object_type, [model.object_id])
    return found.get(model.object_id) or f"№ {model.object_id}"


def audit_org(view, context, model, name) -> str:
    if model.org_id is None:
        return ""
    found = names("organisations", [model.org_id])
    return found.get(model.org_id) or f"№ {model.org_id}"
