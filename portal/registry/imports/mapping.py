"""Card fields, the header names they are recognised by, and the column mapping a chair can correct."""

from __future__ import annotations

import re
from collections.abc import Sequence

from portal.i18n import N_
from portal.registry.imports.model import MemberImportError
from portal.text import fold

# ---- fields and header names ---------------------------------------------------------------------------------------

# Card fields a column can feed, in the order of the mapping page, with their titles.
FIELDS: dict[str, str] = {
    "last_name": N_("Фамилия"),
    "first_name": N_("Имя"),
    "patronymic": N_("Отчество"),
    "full_name": N_("ФИО одним столбцом"),
    "birth_date": N_("Дата рождения"),
    "gender": N_("Пол"),
    "workplace": N_("Место работы"),
    "department": N_("Подразделение"),
    "position": N_("Должность"),
    "education": N_("Образование"),
    "dues_form": N_("Форма уплаты взносов"),
    "joined_on": N_("Дата вступления в Профсоюз"),
    "category": N_("Категория"),
    "phone": N_("Телефон"),
    "email": "E-mail",
    "address": N_("Адрес проживания"),
    # The identity document the consent form names (152-FZ art. 9 part 4); optional, like the address.
    "id_doc_type": N_("Документ, удостоверяющий личность"),
    "id_doc_number": N_("Серия и номер документа"),
    "id_doc_issued_on": N_("Дата выдачи документа"),
    "id_doc_issuer": N_("Кем выдан документ"),
}
# Fields without which a row can't be imported (the names are checked separately: parts or ФИО).
REQUIRED = ("birth_date", "gender", "position", "education", "dues_form", "joined_on", "category")

# Header names seen in 1C exports and chairs' lists, compared after `_norm_header`; a header may also start with one
# of them followed by a space («Должность (для обучающихся — курс)»), the longest alias winning.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "last_name": ("фамилия",),
    "first_name": ("имя",),
    "patronymic": ("отчество",),
    "full_name": ("фио", "ф и о", "фамилия имя отчество", "фамилия имя и отчество", "фио полностью",
                  "фио работника", "фио сотрудника", "фио члена профсоюза", "работник", "сотрудник"),
    "birth_date": ("дата рождения", "д р", "дата рожд", "день рождения"),
    "gender": ("пол",),
    "workplace": ("место работы", "место работы учебы", "организация", "учреждение", "наименование организации",
                  "образовательная организация"),
    "department": ("подразделение", "структурное подразделение", "отдел", "факультет", "кафедра"),
    "position": ("должность", "профессия", "должность профессия"),
    "education": ("образование", "уровень образования"),
    "dues_form": ("форма уплаты взносов", "форма уплаты членских взносов", "форма оплаты взносов", "уплата взносов",
                  "способ уплаты взносов", "взносы", "форма уплаты"),
    "joined_on": ("дата вступления в профсоюз", "дата вступления", "дата приема в профсоюз", "дата приема",
                  "вступил в профсоюз", "дата вступления в члены профсоюза"),
    "category": ("категория", "категория члена профсоюза"),
    "phone": ("телефон", "тел", "мобильный телефон", "контактный телефон", "номер телефона", "сотовый телефон"),
    "email": ("e mail", "email", "эл почта", "электронная почта", "адрес электронной почты", "e mail адрес"),
    "address": ("адрес проживания", "адрес", "домашний адрес", "адрес регистрации", "место жительства",
                "адрес места жительства"),
    "id_doc_type": ("документ удостоверяющий личность", "вид документа", "вид документа удостоверяющего личность",
                    "документ"),
    "id_doc_number": ("серия и номер паспорта", "серия и номер документа", "серия номер паспорта",
                      "паспорт серия номер", "номер паспорта", "паспорт", "серия и номер"),
    "id_doc_issued_on": ("дата выдачи паспорта", "дата выдачи документа", "дата выдачи", "паспорт выдан дата",
                         "когда выдан"),
    "id_doc_issuer": ("кем выдан паспорт", "кем выдан документ", "кем выдан", "паспорт выдан", "орган выдавший"),
}

_HEADER_PUNCT = re.compile(r"[.,:;*()\[\]\"'«»№/\\_\-–—?!]")


def _norm_header(value) -> str:
    """A header cell compared loosely: case, ё, punctuation and extra spaces don't matter."""
    if value is None:
        return ""
    return " ".join(_HEADER_PUNCT.sub(" ", fold(str(value))).split())


_ALIAS_EXACT = {_norm_header(a): f for f, aliases in HEADER_ALIASES.items() for a in aliases}
_ALIAS_PREFIX = sorted(_ALIAS_EXACT.items(), key=lambda kv: -len(kv[0]))


def match_header(value) -> str | None:
    """The card field a header cell names, or None."""
    h = _norm_header(value)
    if not h:
        return None
    if h in _ALIAS_EXACT:
        return _ALIAS_EXACT[h]
    for alias, f in _ALIAS_PREFIX:
        if h.startswith(alias + " "):
            return f
    return None


def auto_mapping(headers: Sequence) -> dict[str, int]:
    """{field: column index} guessed from header names; the first column naming a field wins."""
    mapping: dict[str, int] = {}
    for i, h in enumerate(headers):
        f = match_header(h)
        if f and f not in mapping:
            mapping[f] = i
    return mapping


def _header_score(headers: Sequence) -> int:
    mapping = auto_mapping(headers)
    if "last_name" not in mapping and "full_name" not in mapping:
        return 0
    return len(mapping)


HEADER_SCAN_ROWS = 30  # a title block above the header is a few lines; a list's header is never further down
MIN_HEADER_SCORE = 3   # a name column and at least two more known ones


def _find_header(rows: Sequence[Sequence]) -> tuple[int, int]:
    """(index, score) of the row that looks most like a header among the first rows; (-1, 0) if none does."""
    best, best_score = -1, 0
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        score = _header_score(row)
        if score > best_score:
            best, best_score = i, score
    return (best, best_score) if best_score >= MIN_HEADER_SCORE else (-1, 0)


# ---- the mapping -------------------------------------------------------------------------------------------------


def _field_key(name: str) -> str:
    """A field given by its key («birth_date») or its Russian title («Дата рождения»)."""
    if name in FIELDS:
        return name
    wanted = _norm_header(name)
    for key, title in FIELDS.items():
        if _norm_header(title) == wanted:
            return key
    guessed = match_header(name)
    if guessed:
        return guessed
    raise MemberImportError(f"Неизвестное поле «{name}». Поля: " + ", ".join(FIELDS.values()) + ".")


def resolve_mapping(headers: Sequence[str], overrides: dict | None = None) -> dict[str, int]:
    """The auto-detected mapping with the chair's corrections applied and checked.

    `overrides` maps a field (key or title) to a column: an int (0-based index), a header text, or None to leave the
    field unmapped. Fields not mentioned keep the auto-detected column.
    """
    mapping = auto_mapping(headers)
    taken_by_override: set[str] = set()
    for name, column in (overrides or {}).items():
        key = _field_key(name)
        taken_by_override.add(key)
        if column is None or column == "":
            mapping.pop(key, None)
            continue
        if isinstance(column, str) and column.strip().lstrip("-").isdigit():
            column = int(column)
        if isinstance(column, int):
            if not 0 <= column < len(headers):
                raise MemberImportError(f"В файле нет столбца № {column + 1} (для поля «{FIELDS[key]}»).")
            mapping[key] = column
            continue
        wanted = _norm_header(column)
        found = [i for i, h in enumerate(headers) if _norm_header(h) == wanted]
        if not found:
            raise MemberImportError(f"В файле нет столбца «{column}» (для поля «{FIELDS[key]}»).")
        mapping[key] = found[0]
    # An auto-detected field loses its column when the chair gave that column to another field.
    for key, column in list(mapping.items()):
        if key not in taken_by_override and any(mapping.get(o) == column for o in taken_by_override if o != key):
            del mapping[key]
    check_mapping(headers, mapping)
    return mapping


def check_mapping(headers: Sequence[str], mapping: dict[str, int]) -> None:
    """Refuse a mapping that can't work: no name column, or one column given to two fields."""
    if "last_name" not in mapping and "full_name" not in mapping:
        raise MemberImportError(N_("Не выбран столбец с фамилией (или с ФИО целиком): без него список не загрузить."))
    seen: dict[int, str] = {}
    for key, column in mapping.items():
        if column in seen:
            title = headers[column] if column < len(headers) and headers[column] else f"№ {column + 1}"
            raise MemberImportError(f"Столбец «{title}» выбран сразу для двух полей: «{FIELDS[seen[column]]}» "
                                    f"и «{FIELDS[key]}».")
        seen[column] = key


def missing_fields(mapping: dict[str, int]) -> list[str]:
    """Titles of the mandatory fields no column feeds (every row will be refused for them)."""
    out = [FIELDS[f] for f in REQUIRED if f not in mapping]
    if "last_name" in mapping and "first_name" not in mapping:
        out.insert(0, FIELDS["first_name"])
    return out
