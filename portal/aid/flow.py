"""The material-aid petition workflow (workflows/aid_petition.py) wired to the engine: bound to `AidPetition`, its
guards and effects, and the parsing of a typed amount they share with the pages."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import gettext

from portal import policy
from portal.aid.models import AidPetition, AttachmentKind
from portal.aid.operations import petition_problems
from portal.clock import today
from portal.text import fold
from workflows import AID_PETITION, InputProblem, bind, effect, guard

bind(AID_PETITION, AidPetition, scope=policy.petition_in_scope)

MAX_AMOUNT = Decimal("1000000.00")  # an override above a million roubles is a typing error, not a decision


def _date(params, key) -> date | None:
    value = params.get(key)
    return value if isinstance(value, date) else None


def parse_amount(value) -> Decimal | None:
    """A money amount typed by a person: digits, one separator, at most two decimals, positive, bounded; else None."""
    if isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value or "").strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if not text or any(c not in "0123456789." for c in text) or text.count(".") > 1 or len(text) > 14:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or amount <= 0 or amount > MAX_AMOUNT:
        return None
    return amount.quantize(Decimal("0.01"))


@guard("is_not_own_petition")
def is_not_own_petition(petition, actor, params):
    """Nobody acts on a petition they filed, nor on one for a member with their own name (their own aid)."""
    if actor is None:
        return None
    if petition.filed_by_id is not None and petition.filed_by_id == actor.id:
        return gettext("Нельзя принимать решение по ходатайству, которое вы подали сами.")
    if actor.full_name and fold(actor.full_name) == fold(petition.member.full_name):
        return gettext("Нельзя принимать решение по собственному ходатайству.")
    return None


@guard("documents_complete")
def documents_complete(petition, actor, params):
    if not any(a.kind == AttachmentKind.PROOF for a in petition.attachments):
        return gettext("Не приложена копия отрывного талона или документ о прохождении лечения (п. 4.2).")
    return None


@guard("is_eligible")
def is_eligible(petition, actor, params):
    """The regulation's conditions still hold (another aid approved meanwhile, the member left): else no approval."""
    blocking = [p.label for p in petition_problems(petition) if p.blocking]
    if blocking:
        return gettext("Условия Положения не выполнены: %(problems)s", problems=" ".join(blocking))
    return None


@guard("decision_is_given", checks_input=True)
def decision_is_given(petition, actor, params):
    on = _date(params, "decision_date")
    number = (params.get("decision_number") or "").strip()
    if on is None:
        return InputProblem("decision_date", gettext("Укажите дату заседания Президиума."))
    if on > today():
        return InputProblem("decision_date", gettext("Дата заседания не может быть в будущем."))
    if on < petition.filed_on:
        return InputProblem("decision_date", gettext("Дата заседания раньше подачи ходатайства."))
    if not number:
        return InputProblem("decision_number", gettext("Укажите номер протокола заседания Президиума."))
    if len(number) > 40:
        return InputProblem("decision_number", gettext("Номер протокола слишком длинный."))
    return None


@guard("override_is_valid", checks_input=True)
def override_is_valid(petition, actor, params):
    if parse_amount(params.get("amount")) is None:
        return InputProblem("amount", gettext("Укажите сумму помощи в рублях: больше нуля, не больше 1 000 000, не больше двух знаков после запятой."))
    if len(params.get("conditions") or "") > 2000:
        return InputProblem("conditions", gettext("Описание условий слишком длинное."))
    return None


@guard("payment_is_given", checks_input=True)
def payment_is_given(petition, actor, params):
    on = _date(params, "paid_on")
    reference = (params.get("payment_reference") or "").strip()
    if on is None:
        return InputProblem("paid_on", gettext("Укажите дату платежа."))
    if on > today():
        return InputProblem("paid_on", gettext("Дата платежа не может быть в будущем."))
    decided = petition.decision_date or (petition.override_at.date() if petition.override_at else None)
    if decided and on < decided:
        return InputProblem("paid_on", gettext("Дата платежа раньше решения об оказании помощи."))
    if not reference:
        return InputProblem("payment_reference", gettext("Укажите номер платёжного поручения."))
    if len(reference) > 60:
        return InputProblem("payment_reference", gettext("Номер платёжного поручения слишком длинный."))
    return None


@effect("aid_decided")
def aid_decided(petition, actor, params):
    petition.decided_by_id = getattr(actor, "id", None)


@effect("aid_overridden")
def aid_overridden(petition, actor, params):
    """The override's amount, and what it changed (before/after), kept on the petition."""
    amount = parse_amount(params.get("amount"))
    petition.override_before = json.dumps({"state": params.get("from"), "amount": str(petition.amount),
                                           "computed_amount": str(petition.computed_amount)}, ensure_ascii=False)
    petition.amount = amount
    petition.override_after = json.dumps({"state": "approved", "amount": str(amount),
                                          "conditions": (params.get("conditions") or "").strip()},
                                         ensure_ascii=False)


@effect("aid_paid")
def aid_paid(petition, actor, params):
    petition.paid_by_id = getattr(actor, "id", None)
