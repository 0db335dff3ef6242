"""Typing and checking rows: cell text, dates, names, enums, the card's rules; a valid row as `Staged` text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import NamedTuple

from portal.clock import full_years
from portal.i18n import N_
from portal.registry.imports.mapping import FIELDS
from portal.registry.models import Category, DuesForm, Education, Gender, TitledEnum
from portal.registry.rules import (
    ID_DOC_NUMBER_RE,
    MAX_AGE,
    MIN_AGE,
    NAME_RE,
    PHONE_RE,
    check_member,
    email_is_valid,
)
from portal.registry.rules import JOINED_BEFORE_BIRTH as _JOINED_BEFORE_BIRTH
from portal.spreadsheets import FORMULA_START
from portal.text import fold

# ---- typing values ---------------------------------------------------------------------------------------------------

def _text(value) -> str:
    """A cell as trimmed text with inner spaces collapsed; a leading «'» put by our export before = + - @ is dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        s = " ".join(value.split())
        if s[:1] == "'" and s[1:2] and s[1] in FORMULA_START:
            s = s[1:]
        return s
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y") if not (value.hour or value.minute) else value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return " ".join(str(value).split())


def _is_blank(cells: Sequence) -> bool:
    for c in cells:  # the first cell of a filled row usually decides
        if c is not None and (not isinstance(c, str) or c.strip()):
            return False
    return True


_DMY = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2}|\d{4})(?:\s*г\.?)?(?:\s+0?0:00(?::00)?)?$")
_YMD = re.compile(r"^(\d{4})[./-](\d{1,2})[./-](\d{1,2})(?:[ T]0?0:00(?::00(?:\.0+)?)?)?$")
_EXCEL_SERIAL_MAX = 73051  # 31.12.2099


def _parse_date(value) -> tuple[date | None, str | None]:
    """(date, None), (None, None) for an empty cell, or (None, «invalid» | «short_year» | «format»)."""
    if value is None:
        return None, None
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A number in a date column is an Excel serial date whose cell lost its date format.
        if 1 <= value < _EXCEL_SERIAL_MAX:
            from openpyxl.utils.datetime import from_excel

            return from_excel(value).date(), None
        return None, "format"
    s = _text(value)
    if not s:
        return None, None
    m = _DMY.match(s)
    if m:
        d, mo, y = m.groups()
        if len(y) == 2:
            return None, "short_year"
    else:
        m = _YMD.match(s)
        if not m:
            return None, "format"
        y, mo, d = m.groups()
    try:
        return date(int(y), int(mo), int(d)), None
    except ValueError:
        return None, "invalid"


DATE_ERRORS = {
    "birth_date": {"invalid": N_("несуществующая дата рождения"),
                   "short_year": N_("в дате рождения нужен год из четырёх цифр (ДД.ММ.ГГГГ)"),
                   "format": N_("дата рождения не распознана (нужно ДД.ММ.ГГГГ)")},
    "id_doc_issued_on": {"invalid": N_("несуществующая дата выдачи документа"),
                         "short_year": N_("в дате выдачи документа нужен год из четырёх цифр (ДД.ММ.ГГГГ)"),
                         "format": N_("дата выдачи документа не распознана (нужно ДД.ММ.ГГГГ)")},
    "joined_on": {"invalid": N_("несуществующая дата вступления в Профсоюз"),
                  "short_year": N_("в дате вступления в Профсоюз нужен год из четырёх цифр (ДД.ММ.ГГГГ)"),
                  "format": N_("дата вступления в Профсоюз не распознана (нужно ДД.ММ.ГГГГ)")},
}
ENUMS: dict[str, tuple[type[TitledEnum], str]] = {
    "gender": (Gender, N_("неизвестный пол")),
    "education": (Education, N_("неизвестное образование")),
    "dues_form": (DuesForm, N_("неизвестная форма уплаты взносов")),
    "category": (Category, N_("неизвестная категория")),
}
LENGTHS = {"last_name": 100, "first_name": 100, "patronymic": 100, "department": 200, "position": 200,
           "address": 500, "phone": 40, "email": 200, "id_doc_type": 100, "id_doc_number": 40, "id_doc_issuer": 300}
# The identity document's fields (optional; the consent needs them): text, and the date of issue.
ID_DOC_TEXT = ("id_doc_type", "id_doc_number", "id_doc_issuer")
NULL = "\\N"  # COPY's NULL: a Staged date nobody gave
# The order in which a refused row's problems are listed: the card's order.
ORDER = ("last_name", "first_name", "patronymic", "birth_date", "gender", "position", "education", "dues_form",
         "joined_on", "category", "department", "address", "phone", "email", "id_doc_type", "id_doc_number",
         "id_doc_issued_on", "id_doc_issuer")
JOINED_BEFORE_BIRTH = frozenset(_JOINED_BEFORE_BIRTH.values())  # the message in each gender
_UNKNOWN = object()  # an enum cell whose text matches no value
_MISS = object()  # not in a cache yet
_NO_NAME = ("", "")  # an empty patronymic, as `RowReader._ok_name` gives it
_INITIALS = re.compile(r"^[A-Za-zА-Яа-яЁё]\.(\s*[A-Za-zА-Яа-яЁё]\.?)?$")


def _name_case(part: str) -> str:
    """«СМИРНОВА» → «Смирнова», «анна-мария» → «Анна-Мария»; mixed case («МакКой») is kept."""
    if len(part) > 1 and (part.isupper() or part.islower()):
        return "-".join(w[:1].upper() + w[1:] for w in part.lower().split("-"))
    return part


def split_full_name(text: str) -> tuple[str, str, str]:
    """«Фамилия Имя Отчество»; a patronymic may be missing, or be two words («Гейдар оглы»)."""
    parts = text.split()
    if not parts:
        return "", "", ""
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], parts[1], " ".join(parts[2:])


def _memo(cache: dict, raw, compute: Callable):
    """compute(raw) once per distinct cell; None (let `read` judge it) for a cell that cannot be a key."""
    try:
        return cache[raw]
    except KeyError:
        value = cache[raw] = compute(raw)
        return value
    except TypeError:
        return None


class RowReader:
    """Types one row's cells into card values and collects every problem, the way the web form would report them.

    This is the import's inner loop. `stage` is its fast path: a row whose every value is plainly valid goes
    straight to the text the database is given (`Staged`), each distinct cell text typed and checked once (a list
    repeats surnames, names, dates, positions and enum values a lot). Any row `stage` is not sure of — a problem,
    or only something unusual such as a name ending in a dot — goes through `read`, which applies
    `rules.check_member` and reports every problem; `staged` turns its valid result into the same `Staged`.
    `tests/test_imports.py` checks that both paths agree row by row.
    """

    _SOURCES = ("last_name", "first_name", "patronymic", "full_name", "birth_date", "joined_on", "gender", "education",
                "dues_form", "category", "department", "position", "address", "phone", "email", "id_doc_type",
                "id_doc_number", "id_doc_issued_on", "id_doc_issuer")

    def __init__(self, mapping: dict[str, int], on: date):
        self.mapping = mapping
        self.on = on
        self.parts = "last_name" in mapping
        # Every source field reads some column; an unmapped one reads a column past the row's end, always empty.
        self.width = max(mapping.values(), default=-1) + 2
        blank = self.width - 1
        self._pick = itemgetter(*(mapping.get(f, blank) for f in self._SOURCES))
        self._dates: dict[str, dict] = {"birth_date": {}, "joined_on": {}, "id_doc_issued_on": {}}
        self._id_doc = any(f in mapping for f in (*ID_DOC_TEXT, "id_doc_issued_on"))
        self._enums: dict[str, dict] = {k: {} for k in ENUMS}
        self._names: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        self._iso: dict[date, str] = {}
        # The fast path's caches: cell → its stored text (or typed value), or None when the cell needs `read`.
        self._ok_names: dict = {}
        self._ok_births: dict = {}
        self._ok_joins: dict = {}
        self._ok_enums: dict[str, dict] = {k: {} for k in ENUMS}
        self._ok_positions: dict = {}
        self._ok_departments: dict = {}

    def _fold(self, name: str) -> str:
        f = self._folded.get(name)
        if f is None:
            f = self._folded[name] = fold(name)
        return f

    def iso(self, day: date) -> str:
        """`day.isoformat()`, once per distinct date."""
        text = self._iso.get(day)
        if text is None:
            text = self._iso[day] = day.isoformat()
        return text

    # -- the fast path

    def _ok_name(self, raw) -> tuple[str, str] | None:
        """(a name part as stored, folded) — ("", "") for an empty cell — or None when `read` must judge it."""
        name = _name_case(_text(raw))
        # Typed by `_text`, the name has no space to collapse: folding is lower case and ё → е (`text.fold`).
        ok = (name, name.lower().replace("ё", "е")) if not name or (
            len(name) <= LENGTHS["last_name"] and name[-1] != "." and NAME_RE.match(name)) else None
        if raw.__class__ is str:
            self._ok_names[raw] = ok
        return ok

    def _ok_date(self, raw, birth: bool) -> tuple[date, str] | None:
        """(date, ISO text) of a date cell that breaks no rule of its own, or None."""
        day, problem = _parse_date(raw)
        ok = None
        if day is not None and problem is None and day <= self.on:
            if not birth or MIN_AGE <= full_years(day, self.on) <= MAX_AGE:
                ok = (day, self.iso(day))
        if raw.__class__ is str:
            (self._ok_births if birth else self._ok_joins)[raw] = ok
        return ok

    def _ok_enum(self, key: str, raw) -> str | None:
        """The stored value of an enum cell, or None (empty, unknown)."""
        def value(cell):
            text = _text(cell)
            member = ENUMS[key][0].by_title(text) if text else None
            return None if member is None else member._value_
        return _memo(self._ok_enums[key], raw, value)

    def _ok_text(self, cache: dict, raw, limit: int, required: bool) -> str | None:
        """A text cell as stored, or None when too long (or empty and required)."""
        def value(cell):
            text = _text(cell)
            return text if len(text) <= limit and (text or not required) else None
        return _memo(cache, raw, value)

    def stage(self, cells: Sequence) -> Staged | None:
        """The row as `Staged` when every value is plainly valid; None sends it to `read`."""
        width = self.width
        if len(cells) != width - 1:
            cells = [*cells[:width - 1], *([None] * (width - 1 - len(cells)))]
        (last, first, middle, full, birth, joined, gender, education, dues, category, department, position, address,
         phone, email, doc_type, doc_number, doc_issued, doc_issuer) = self._pick([*cells, None])
        if self.parts:
            names, ok_name = self._ok_names, self._ok_name
            v = names.get(last, _MISS) if last.__class__ is str else _MISS
            last = ok_name(last) if v is _MISS else v
            v = names.get(first, _MISS) if first.__class__ is str else _MISS
            first = ok_name(first) if v is _MISS else v
            if middle is None:
                middle = _NO_NAME
            else:
                v = names.get(middle, _MISS) if middle.__class__ is str else _MISS
                middle = ok_name(middle) if v is _MISS else v
        else:
            last, first, middle = (self._ok_name(p) for p in split_full_name(_text(full)))
        if last is None or first is None or middle is None or not last[0] or not first[0]:
            return None
        v = self._ok_births.get(birth, _MISS) if birth.__class__ is str else _MISS
        birth = self._ok_date(birth, True) if v is _MISS else v
        v = self._ok_joins.get(joined, _MISS) if joined.__class__ is str else _MISS
        joined = self._ok_date(joined, False) if v is _MISS else v
        if birth is None or joined is None or joined[0] < birth[0]:
            return None
        enums = self._ok_enums
        gender = enums["gender"].get(gender) or self._ok_enum("gender", gender)
        education = enums["education"].get(education) or self._ok_enum("education", education)
        dues = enums["dues_form"].get(dues) or self._ok_enum("dues_form", dues)
        category = enums["category"].get(category) or self._ok_enum("category", category)
        if gender is None or education is None or dues is None or category is None:
            return None
        position = self._ok_positions.get(position) or self._ok_text(self._ok_positions, position,
                                                                     LENGTHS["position"], True)
        if department is None:
            department = ""
        else:
            department = self._ok_departments.get(department) or self._ok_text(
                self._ok_departments, department, LENGTHS["department"], False)
        if position is None or department is None:
            return None
        address = _text(address) if address.__class__ is not str or address[:1] == "'" else " ".join(address.split())
        phone = _text(phone) if phone.__class__ is not str or phone[:1] == "'" else " ".join(phone.split())
        email = _text(email) if email.__class__ is not str or email[:1] == "'" else " ".join(email.split())
        if len(address) > LENGTHS["address"]:
            return None
        if phone:
            if len(phone) > LENGTHS["phone"] or not phone.isascii() or not PHONE_RE.match(phone):
                return None
            # ASCII and matched: only digits, spaces, brackets, hyphens and a leading plus are left.
            digits = (len(phone) - phone.count(" ") - phone.count("(") - phone.count(")") - phone.count("-")
                      - phone.count("+"))
            if not 10 <= digits <= 15:
                return None
        if email and (len(email) > LENGTHS["email"] or not email_is_valid(email)):
            return None
        doc = ("", "", NULL, "")
        if self._id_doc:
            doc = self._ok_id_doc(doc_type, doc_number, doc_issued, doc_issuer, birth[0])
            if doc is None:
                return None
        return Staged(last[0], first[0], middle[0], last[1], f"{last[1]}|{first[1]}|{middle[1]}|{birth[1]}", birth[1],
                      gender, department, position, education, dues, joined[1], category, address, phone, email, *doc)

    def _ok_id_doc(self, doc_type, doc_number, issued, issuer, birth: date) -> tuple[str, str, str, str] | None:
        """The identity document's values as staged (the date as ISO text, or NULL), or None for `read`."""
        texts = []
        for key, raw in zip(ID_DOC_TEXT, (doc_type, doc_number, issuer), strict=True):
            text = _text(raw)
            if len(text) > LENGTHS[key]:
                return None
            texts.append(text)
        if texts[1] and not ID_DOC_NUMBER_RE.match(texts[1]):
            return None
        day, problem = _parse_date(issued)
        if problem is not None or (day is not None and (day > self.on or day < birth)):
            return None
        return texts[0], texts[1], NULL if day is None else self.iso(day), texts[2]

    # -- the full check

    def staged(self, data: dict) -> Staged:
        """A valid row's card values (`read`) as `Staged`."""
        parts = [self._fold(data[k]) for k in ("last_name", "first_name", "patronymic")]
        birth = self.iso(data["birth_date"])
        return Staged(data["last_name"], data["first_name"], data["patronymic"], parts[0],
                      f"{parts[0]}|{parts[1]}|{parts[2]}|{birth}", birth, data["gender"]._value_, data["department"],
                      data["position"], data["education"]._value_, data["dues_form"]._value_,
                      self.iso(data["joined_on"]), data["category"]._value_, data["address"], data["phone"],
                      data["email"], data["id_doc_type"], data["id_doc_number"],
                      NULL if data["id_doc_issued_on"] is None else self.iso(data["id_doc_issued_on"]),
                      data["id_doc_issuer"])

    def _name(self, raw) -> str:
        name = self._names.get(raw) if isinstance(raw, str) else None
        if name is None:
            name = _name_case(_text(raw))
            if isinstance(raw, str):
                self._names[raw] = name
        return name

    def _date(self, key: str, raw, problems: dict):
        if isinstance(raw, str):
            cache = self._dates[key]
            hit = cache.get(raw)
            if hit is None:
                hit = cache[raw] = _parse_date(raw)
        else:
            hit = _parse_date(raw)
        if hit[1]:
            problems[key] = DATE_ERRORS[key][hit[1]]
        return hit[0]

    def _enum(self, key: str, raw, problems: dict):
        cache = self._enums[key]
        if raw in cache:
            member = cache[raw]
        else:
            text = _text(raw)
            member = cache[raw] = ENUMS[key][0].by_title(text) if text else None
            if member is None and text:
                member = cache[raw] = _UNKNOWN
        if member is _UNKNOWN:
            problems[key] = ENUMS[key][1]
            return None
        return member

    def read(self, cells: Sequence) -> tuple[dict, str, dict[str, str]]:
        """(card values, the person's name for the report, {field: problem})."""
        # Exactly `width` cells, the last one always empty (what unmapped fields read).
        width = self.width
        cells = [*cells[:width - 1], *([None] * (width - 1 - len(cells))), None]
        (last, first, middle, full, birth, joined, gender, education, dues, category, department, position, address,
         phone, email, doc_type, doc_number, doc_issued, doc_issuer) = self._pick(cells)
        problems: dict[str, str] = {}
        if self.parts:
            last, first, middle = self._name(last), self._name(first), self._name(middle)
        else:
            last, first, middle = (self._name(p) for p in split_full_name(_text(full)))
        if (first and first[-1] == ".") or (middle and middle[-1] == "."):
            if _INITIALS.match(first) or _INITIALS.match(middle):
                problems["first_name"] = N_("вместо имени и отчества — инициалы: нужны полностью")
        data = {
            "last_name": last, "first_name": first, "patronymic": middle,
            "birth_date": self._date("birth_date", birth, problems),
            "gender": self._enum("gender", gender, problems),
            "department": _text(department), "position": _text(position),
            "education": self._enum("education", education, problems),
            "dues_form": self._enum("dues_form", dues, problems),
            "joined_on": self._date("joined_on", joined, problems),
            "category": self._enum("category", category, problems),
            "address": _text(address), "phone": _text(phone), "email": _text(email),
            "id_doc_type": _text(doc_type), "id_doc_number": _text(doc_number),
            "id_doc_issued_on": self._date("id_doc_issued_on", doc_issued, problems), "id_doc_issuer": _text(doc_issuer),
        }
        for key, limit in LENGTHS.items():
            if len(data[key]) > limit:
                problems[key] = f"слишком длинное значение в поле «{FIELDS[key]}» (больше {limit} знаков)"
        errors = check_member(data, on=self.on)
        if problems:
            errors.update(problems)
        if errors and "birth_date" in errors and errors.get("joined_on") in JOINED_BEFORE_BIRTH:
            del errors["joined_on"]
        name = " ".join(p for p in (last, first, middle) if p)
        return data, name, errors


class Staged(NamedTuple):
    """A valid row as the text the database is given: STAGE_COLUMNS, dates in ISO form, enums by value."""

    last_name: str
    first_name: str
    patronymic: str
    last_name_folded: str
    person_key: str
    birth_date: str
    gender: str
    department: str
    position: str
    education: str
    dues_form: str
    joined_on: str
    category: str
    address: str
    phone: str
    email: str
    id_doc_type: str
    id_doc_number: str
    id_doc_issued_on: str  # ISO text, or NULL (COPY's \N) when not given
    id_doc_issuer: str

    @property
    def name(self) -> str:
        """The person's name as the report shows it."""
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)


def reason_text(errors: dict[str, str]) -> str:
    return "; ".join(errors[f] for f in ORDER if f in errors)
