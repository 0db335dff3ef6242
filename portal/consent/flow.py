"""The consent workflow (workflows/consent.py) wired to the engine: bound to `Member`, its guards and effects."""

from __future__ import annotations

from flask_babel import gettext

from portal.clock import today
from portal.consent.models import ConsentRecord
from portal.registry.flow import date_param, member_in_scope
from portal.registry.models import Member
from workflows import CONSENT, InputProblem, bind, effect, guard

bind(CONSENT, Member, scope=member_in_scope)


@guard("signed_on_is_valid", checks_input=True)
def signed_on_is_valid(member, actor, params):
    signed_on = date_param(params, "on_date")
    if signed_on is None:
        return InputProblem("on_date", gettext("Укажите дату подписания согласия."))
    if signed_on > today():
        return InputProblem("on_date", gettext("Дата подписания не может быть в будущем."))
    if signed_on < member.joined_on.replace(year=max(member.joined_on.year - 1, 1)):
        return InputProblem("on_date", gettext("Дата подписания раньше вступления в Профсоюз."))
    return None


@guard("withdrawn_on_is_valid", checks_input=True)
def withdrawn_on_is_valid(member, actor, params):
    on = date_param(params, "on_date")
    if on is None:
        return InputProblem("on_date", gettext("Укажите дату отзыва согласия."))
    if on > today():
        return InputProblem("on_date", gettext("Дата отзыва не может быть в будущем."))
    return None


def _record(member, actor, kind, params, **extra):
    """A consent record to append (append-only): the engine writes it in the transition's own statement."""
    return [(ConsentRecord.__table__, {
        "member_id": member.id, "kind": kind, "on_date": params.get("on_date") or today(),
        "actor_id": getattr(actor, "id", None), "note": params.get("comment", ""), **extra})]


@effect("consent_printed", rows=True)
def consent_printed(member, actor, params):
    return _record(member, actor, "printed", params)


@effect("consent_signed", rows=True)
def consent_signed(member, actor, params):
    return _record(member, actor, "signed", params, scan_name=params.get("scan_name", ""),
                   scan_type=params.get("scan_type", ""))


@effect("consent_transferred", rows=True)
def consent_transferred(member, actor, params):
    return _record(member, actor, "transferred", params, export_id=params.get("export_id"))


@effect("consent_withdrawn", rows=True)
def consent_withdrawn(member, actor, params):
    return _record(member, actor, "withdrawn", params)
