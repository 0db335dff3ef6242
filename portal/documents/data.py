"""Member and organisation data for documents, as plain dicts of strings (picklable, safe to pass to worker processes).

Templates receive only these values — never ORM objects — so they cannot reach the database or lazy-load anything,
and a template is never built from a value: whatever a name contains is printed as it is.
"""

from __future__ import annotations

import re
from datetime import date

from portal.clock import today
from portal.documents.dates import ru_date, years
from portal.registry.models import EventKind, Member, MemberStatus, Organisation, OrgLevel

# The operator of the PROFCARDS bonus programme, who receives the data of members who consented (seed 003, §1);
# the app's PROFCARDS_OPERATOR / PROFCARDS_OPERATOR_ADDRESS settings name it on the consent form.
PROFCARDS_OPERATOR = "ООО «ФИНФОРТ»"
# What a paper form leaves for a value nobody gave.
BLANK = "______________________"

# C0/C1 control characters would make a DOCX part invalid XML, and docxtpl turns \t \n \a \f into layout.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text(value) -> str:
    """A value as one line of printable text ("" for None)."""
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).strip()


def org_chain(org: Organisation) -> list[Organisation]:
    """The organisations above `org`, nearest first, up to the central council."""
    chain, seen, cur = [], {org.id}, org.parent
    while cur is not None and cur.id not in seen:  # `seen` guards against a broken tree
        chain.append(cur)
        seen.add(cur.id)
        cur = cur.parent
    return chain


def org_data(org: Organisation) -> dict:
    """The organisation as a document names it: name, short name, INN, address, chair, and the organisations above."""
    higher = org_chain(org)
    regional = next((o for o in [org, *higher] if o.level == OrgLevel.REGIONAL), None)
    return {
        "name": text(org.name),
        "short_name": text(org.short_name or org.name),
        "inn": text(org.inn),
        "employer": text(org.employer),
        "address": text(org.address),
        "chair_name": text(org.chair_name),
        "higher": [text(o.name) for o in higher],
        "regional": text(regional.name) if regional else "",
    }


def _rows(pairs) -> list[dict]:
    return [{"label": label, "value": text(value)} for label, value in pairs if text(value)]


def consent_data(member: Member, on: date | None = None) -> dict:
    """Everything the consent form prints about one member and their organisation (152-FZ art. 9 part 4): the
    subject's address and identity document, the workplace (the employer, never the union organisation), and the
    operator — the member's union organisation with its own INN and address — and the organisations above it.

    Callers check `member.consent_missing()` first: a form without the subject's requisites is not printed."""
    from portal.consent.models import CONSENT_TEXT_VERSION

    org = org_data(member.org)
    operator = ", ".join(p for p in (
        org["name"], f"ИНН {org['inn']}" if org["inn"] else "", f"адрес: {org['address']}" if org["address"] else "",
    ) if p)
    return {
        "full_name": text(member.full_name),
        "short_name": text(member.short_name),
        "birth_date": ru_date(member.birth_date),
        "rows": _rows([
            ("Дата рождения", ru_date(member.birth_date)),
            ("Адрес места жительства", member.address),
            ("Документ, удостоверяющий личность", member.id_doc_type),
            ("Серия и номер документа", member.id_doc_number),
            ("Дата выдачи документа", ru_date(member.id_doc_issued_on) if member.id_doc_issued_on else ""),
            ("Кем выдан документ", member.id_doc_issuer),
            ("Место работы (учёбы)", member.workplace),
            ("Должность (факультет, курс)", member.position),
            ("Телефон", member.phone),
            ("Адрес электронной почты", member.email),
        ]),
        "operator_rows": _rows([
            ("Оператор персональных данных", operator),
            ("Вышестоящие организации Профсоюза", "; ".join(org["higher"])),
        ]),
        "org": org,
        "form_version": CONSENT_TEXT_VERSION,
        "generated_on": ru_date(on or today()),
    }


def consent_common() -> dict:
    """What the consent prints the same for everyone (the conditions' block): the third party, PROFCARDS's operator,
    by name and address (the app's settings when there is an app, else the name alone and a blank line)."""
    from flask import current_app, has_app_context

    config = current_app.config if has_app_context() else {}
    return {"profcards_operator": text(config.get("PROFCARDS_OPERATOR")) or PROFCARDS_OPERATOR,
            "profcards_address": text(config.get("PROFCARDS_OPERATOR_ADDRESS")) or BLANK}


def _event_line(event) -> dict:
    detail = ""
    if event.kind == EventKind.TRANSFERRED:
        src = text(event.from_org.name) if event.from_org else "—"
        dst = text(event.to_org.name) if event.to_org else "—"
        detail = f"из «{src}» в «{dst}»"
    return {"date": ru_date(event.on_date), "kind": event.kind.title, "detail": detail, "reason": text(event.reason)}


def member_card_data(member: Member, on: date | None = None) -> dict:
    """The member card (учётная карточка, SPEC §3) with tenure, history, consent and card status."""
    on = on or today()
    org = org_data(member.org)
    status = member.status.title
    if member.status_since and member.status != MemberStatus.ACTIVE:
        status += f" с {ru_date(member.status_since)}"
    card = member.card_status.title + (f", № {member.card_number}" if member.card_number else "")
    tenure = years(member.tenure_years(on))
    tenure += f" (с {ru_date(member.tenure_start)})"
    return {
        "full_name": text(member.full_name),
        "short_name": text(member.short_name),
        "rows": [{"label": label, "value": text(value) or "—"} for label, value in [
            ("Фамилия", member.last_name),
            ("Имя", member.first_name),
            ("Отчество", member.patronymic),
            ("Дата рождения", f"{ru_date(member.birth_date)} ({years(member.age(on))})"),
            ("Пол", member.gender.title),
            ("Место работы (учёбы)", member.org.employer),
            ("Структурное подразделение", member.department),
            ("Должность (факультет, курс)", member.position),
            ("Образование", member.education.title),
            ("Категория", member.category.title),
            ("Форма уплаты членских взносов", member.dues_form.title),
            ("Дата вступления в Профсоюз", ru_date(member.joined_on)),
            ("Профсоюзный стаж", tenure),
            ("Статус членства", status),
            ("Адрес места жительства", member.address),
            ("Телефон", member.phone),
            ("Адрес электронной почты", member.email),
            ("Документ, удостоверяющий личность", " ".join(p for p in (member.id_doc_type, member.id_doc_number) if p)),
            ("Дата выдачи документа", ru_date(member.id_doc_issued_on) if member.id_doc_issued_on else ""),
            ("Кем выдан документ", member.id_doc_issuer),
            ("Первичная профсоюзная организация", org["name"]),
            ("Согласие на обработку персональных данных", member.consent_status.title),
            ("Электронный профсоюзный билет", card),
        ]],
        "events": [_event_line(e) for e in member.events],
        "org": org,
        "generated_on": ru_date(on),
    }
