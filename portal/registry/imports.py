"""Bulk import of members from spreadsheets (1C CSV exports and chairs' XLSX lists), and the XLSX export.

The import reads the file (CSV in UTF-8, UTF-16 or Windows-1251 with `;`, `,` or tab; or XLSX), finds the header row
below any title block, maps columns to card fields by their names (the chair may correct the mapping), types every
value and checks the row with `rules.check_member` — the web form's own rules and messages — then drops duplicates by
`person_key`, within the file and against the whole registry, and writes members with their «joined» events in bulk
(COPY on PostgreSQL). Decisions a chair would ask about:

* A person already in the registry is never imported again and nothing of theirs is changed: in this organisation
  the row is reported «уже состоит на учёте в этой организации»; in any other one «уже состоит на учёте в другой
  организации», without naming it (the chair's scope ends at their organisation; a transfer goes through the
  organisation above). So importing the same file twice imports nothing the second time.
* Within the file the first occurrence counts; a later row with the same key is reported as a repeat of it.
* A refused row's reason lists every problem of the row in card order, joined by «; », so the chair fixes the row
  once; «вступил раньше, чем родился» is left out when the birth date itself is wrong, since it follows from it.
* Name parts typed all in capitals or all in lower case («СМИРНОВА», «сергей») are stored with a capital first
  letter; mixed case is kept as typed.
* The «Место работы» column is informational: members go into the primary the chair imports into.
* `import_file` never commits. It calls `progress` after each chunk is written; the background job commits there,
  so a long import shows progress, and an interrupted one is simply run again (rows already written are skipped).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, partial
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

import psycopg
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, any_, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import audit
from portal.bulk import BackgroundCopy, allocate_ids, insert_rows, is_postgres, responsive_threads
from portal.clock import full_years, now, today
from portal.extensions import db
from portal.i18n import N_
from portal.registry.models import (
    CardStatus,
    Category,
    ConsentStatus,
    DuesForm,
    Education,
    EventKind,
    Gender,
    Member,
    MemberEvent,
    MemberStatus,
    Organisation,
    OrgLevel,
    TitledEnum,
    _enum,
)
from portal.registry.rules import EMAIL_RE, MAX_AGE, MIN_AGE, NAME_RE, PHONE_RE, check_member
from portal.registry.rules import JOINED_BEFORE_BIRTH as _JOINED_BEFORE_BIRTH
from portal.text import fold


class ImportStatus(TitledEnum):
    UPLOADED = "uploaded", N_("файл загружен")
    CHECKED = "checked", N_("проверен (пробный запуск)")
    RUNNING = "running", N_("идёт загрузка")
    DONE = "done", N_("загружен")
    FAILED = "failed", N_("ошибка")


class ImportJob(db.Model):
    """One uploaded member list: its mapping, the dry-run report and the outcome of the real run."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_org", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    stored_name: Mapped[str] = mapped_column(String(255), default="")
    file_kind: Mapped[str] = mapped_column(String(8), default="")
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    mapping: Mapped[str] = mapped_column(Text, default="")  # JSON: field -> column index
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, "import_status"), default=ImportStatus.UPLOADED)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[str] = mapped_column(Text, default="")  # JSON: per-row outcomes
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    org: Mapped[Organisation] = relationship()

    def __repr__(self) -> str:
        return f"<ImportJob {self.id} org={self.org_id} {self.status.value}>"

    # While running, `report` holds {"running": "check" | "import", "heartbeat": iso time}; afterwards the outcome.
    @property
    def report_data(self) -> dict:
        try:
            data = json.loads(self.report) if self.report else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def mapping_data(self) -> dict[str, int]:
        try:
            data = json.loads(self.mapping) if self.mapping else {}
        except ValueError:
            return {}
        return {k: int(v) for k, v in data.items() if k in FIELDS and isinstance(v, int)} if isinstance(data, dict) \
            else {}

    @property
    def running_phase(self) -> str | None:
        """«check» or «import» while the job runs, None otherwise."""
        if self.status != ImportStatus.RUNNING:
            return None
        return self.report_data.get("running", "import")

    def seems_stalled(self, minutes: int = 10) -> bool:
        """A running job whose worker has not reported for a while (the server restarted mid-run)."""
        if self.status != ImportStatus.RUNNING:
            return False
        beat = self.report_data.get("heartbeat")
        try:
            last = datetime.fromisoformat(beat) if beat else None
        except ValueError:
            last = None
        return last is None or now() - last > timedelta(minutes=minutes)


class MemberImportError(Exception):
    """The file or the request can't be imported at all; the message is for the chair (Russian, a msgid where fixed)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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


# ---- reading files ---------------------------------------------------------------------------------------------------

XLSX_MAX_UNPACKED = 300 * 1024 * 1024  # a zip bomb would unpack far beyond any real member list

NO_HEADER = N_("В файле не найдена строка с названиями столбцов. Первой строкой таблицы (под заголовком, если он есть) "
               "должны идти названия: Фамилия, Имя, Отчество (или ФИО), Дата рождения, Пол, Должность и другие.")
NO_HEADER_CSV = N_("В файле не найдена строка с названиями столбцов. Первой строкой таблицы (под заголовком, если он "
                   "есть) должны идти названия: Фамилия, Имя, Отчество (или ФИО), Дата рождения, Пол, Должность и "
                   "другие. Если названия на месте, сохраните файл в кодировке UTF-8 или Windows-1251 с разделителем «;».")


@dataclass
class Sheet:
    """An opened member list: its header and an iterator over (row number, cells) below it."""

    kind: str
    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, Sequence]]
    total_estimate: int | None = None
    sheet_name: str = ""
    _close: Callable[[], None] | None = None

    @property
    def auto_mapping(self) -> dict[str, int]:
        return auto_mapping(self.headers)

    def close(self) -> None:
        if self._close:
            self._close()
            self._close = None


def _read_source(source) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if hasattr(source, "read"):
        return source.read()
    return Path(source).read_bytes()


def detect_kind(data: bytes) -> str:
    """«xlsx» or «csv» judged by the content (never the name); MemberImportError for anything else."""
    if not data.strip():
        raise MemberImportError(N_("Файл пустой. Выберите файл со списком членов Профсоюза."))
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
                unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            raise MemberImportError(N_("Файл повреждён: это не книга Excel и не таблица CSV.")) from None
        if "xl/workbook.xml" in names:
            if unpacked > XLSX_MAX_UNPACKED:
                raise MemberImportError(N_("Книга Excel слишком большая. Разделите список на несколько файлов."))
            return "xlsx"
        if "content.xml" in names:
            raise MemberImportError(N_("Это таблица OpenDocument (.ods). Сохраните её как книгу Excel (.xlsx) "
                                    "или CSV и загрузите снова."))
        if "word/document.xml" in names:
            raise MemberImportError(N_("Это документ Word, а не таблица. Загрузите книгу Excel (.xlsx) или CSV."))
        raise MemberImportError(N_("Это архив, а не таблица. Загрузите книгу Excel (.xlsx) или CSV."))
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise MemberImportError(N_("Это файл старой версии Excel (.xls). Откройте его в Excel и сохраните как "
                                "«Книга Excel (.xlsx)», затем загрузите снова."))
    if data[:5] == b"%PDF-":
        raise MemberImportError(N_("Это PDF, а не таблица. Загрузите книгу Excel (.xlsx) или CSV."))
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "csv"  # Excel's «Текст в Юникоде» (UTF-16, tab-separated)
    if b"\x00" in data[:8192]:
        raise MemberImportError(N_("Это не таблица: загрузите книгу Excel (.xlsx) или таблицу CSV."))
    return "csv"


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; anything else is read as Windows-1251 (1C's default)."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[len(codecs.BOM_UTF8):].decode("utf-8")
        if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return data.decode("utf-16")
    except UnicodeDecodeError:
        raise MemberImportError(N_("Не удалось прочитать текст файла: он повреждён или сохранён в неизвестной "
                                "кодировке. Сохраните его в UTF-8 или Windows-1251.")) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251")
    except UnicodeDecodeError:
        raise MemberImportError(N_("Не удалось определить кодировку файла. Сохраните таблицу в кодировке UTF-8 "
                                "или Windows-1251.")) from None


def _open_csv(data: bytes) -> Sheet:
    text = _decode(data)
    if "\x00" in text:
        raise MemberImportError(N_("Это не таблица: загрузите книгу Excel (.xlsx) или таблицу CSV."))
    best = None
    # The delimiter is the one under which a header row is recognised best (1C writes «;», others «,» or tab).
    for delimiter in (";", ",", "\t"):
        try:
            head = list(islice(csv.reader(io.StringIO(text), delimiter=delimiter), HEADER_SCAN_ROWS))
        except csv.Error:
            continue
        index, score = _find_header(head)
        if index >= 0 and (best is None or score > best[2]):
            best = (delimiter, index, score, head[index])
    if best is None:
        raise MemberImportError(NO_HEADER_CSV)
    delimiter, index, _, header = best

    def rows():
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        number = 0
        try:
            for number, row in enumerate(reader, start=1):
                if number > index + 1:
                    yield number, row
        except csv.Error:
            raise MemberImportError(f"Файл CSV повреждён около строки {number + 1}: проверьте кавычки.") from None

    return Sheet("csv", [str(h).strip() for h in header], index + 1, rows(),
                 total_estimate=max(text.count("\n") - index - 1, 0) or None)


def _open_xlsx(data: bytes) -> Sheet:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 (openpyxl raises anything from KeyError to XML errors on a broken book)
        raise MemberImportError(N_("Не удалось прочитать книгу Excel: файл повреждён. Откройте его в Excel, "
                                "сохраните заново и загрузите снова.")) from None
    try:
        sheets = list(wb.worksheets)
        active = wb.active
        if active in sheets:  # the sheet the chair last looked at is the likeliest one
            sheets.remove(active)
            sheets.insert(0, active)
        for ws in sheets:
            it = ws.iter_rows(values_only=True)
            head = list(islice(it, HEADER_SCAN_ROWS))
            index, _ = _find_header(head)
            if index < 0:
                continue
            header = ["" if v is None else " ".join(str(v).split()) for v in head[index]]
            while header and not header[-1]:
                header.pop()

            def rows(head=head, index=index, it=it):
                number = index + 1
                for row in head[index + 1:]:
                    number += 1
                    yield number, row
                for row in it:
                    number += 1
                    yield number, row

            total = (ws.max_row - index - 1) if isinstance(ws.max_row, int) and ws.max_row > index + 1 else None
            return Sheet("xlsx", header, index + 1, rows(), total_estimate=total, sheet_name=ws.title,
                         _close=wb.close)
    except MemberImportError:
        wb.close()
        raise
    except Exception:  # noqa: BLE001 (a malformed sheet fails while iterating rows, not while opening)
        wb.close()
        raise MemberImportError(N_("Не удалось прочитать книгу Excel: файл повреждён. Откройте его в Excel, "
                                "сохраните заново и загрузите снова.")) from None
    wb.close()
    raise MemberImportError(NO_HEADER)


def open_sheet(source, filename: str = "") -> Sheet:
    """Open a member list (path, bytes or binary file); the type is decided by the content, not the name."""
    data = _read_source(source)
    kind = detect_kind(data)
    return _open_xlsx(data) if kind == "xlsx" else _open_csv(data)


def preview(source, mapping: dict[str, int] | None = None, rows: int = 5) -> dict:
    """The header, the auto-detected mapping and a few first rows, for the mapping page."""
    sheet = open_sheet(source)
    try:
        sample = []
        for number, cells in sheet.rows:
            if _is_blank(cells):
                continue
            sample.append((number, [_text(c) for c in cells]))
            if len(sample) >= rows:
                break
        return {"kind": sheet.kind, "headers": sheet.headers, "header_row": sheet.header_row,
                "auto": sheet.auto_mapping, "sample": sample, "sheet_name": sheet.sheet_name,
                "total_estimate": sheet.total_estimate}
    finally:
        sheet.close()


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


# ---- typing values ---------------------------------------------------------------------------------------------------

_FORMULA_START = "=+-@\t\r"


def _text(value) -> str:
    """A cell as trimmed text with inner spaces collapsed; a leading «'» put by our export before = + - @ is dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        s = " ".join(value.split())
        if s[:1] == "'" and s[1:2] and s[1] in _FORMULA_START:
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
           "address": 500, "phone": 40, "email": 200}
# The order in which a refused row's problems are listed: the card's order.
ORDER = ("last_name", "first_name", "patronymic", "birth_date", "gender", "position", "education", "dues_form",
         "joined_on", "category", "department", "address", "phone", "email")
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
                "dues_form", "category", "department", "position", "address", "phone", "email")

    def __init__(self, mapping: dict[str, int], on: date):
        self.mapping = mapping
        self.on = on
        self.parts = "last_name" in mapping
        # Every source field reads some column; an unmapped one reads a column past the row's end, always empty.
        self.width = max(mapping.values(), default=-1) + 2
        blank = self.width - 1
        self._pick = itemgetter(*(mapping.get(f, blank) for f in self._SOURCES))
        self._dates: dict[str, dict] = {"birth_date": {}, "joined_on": {}}
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
         phone, email) = self._pick([*cells, None])
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
        if email and (len(email) > LENGTHS["email"] or not EMAIL_RE.match(email)):
            return None
        return Staged(last[0], first[0], middle[0], last[1], f"{last[1]}|{first[1]}|{middle[1]}|{birth[1]}", birth[1],
                      gender, department, position, education, dues, joined[1], category, address, phone, email)

    # -- the full check

    def staged(self, data: dict) -> Staged:
        """A valid row's card values (`read`) as `Staged`."""
        parts = [self._fold(data[k]) for k in ("last_name", "first_name", "patronymic")]
        birth = self.iso(data["birth_date"])
        return Staged(data["last_name"], data["first_name"], data["patronymic"], parts[0],
                      f"{parts[0]}|{parts[1]}|{parts[2]}|{birth}", birth, data["gender"]._value_, data["department"],
                      data["position"], data["education"]._value_, data["dues_form"]._value_,
                      self.iso(data["joined_on"]), data["category"]._value_, data["address"], data["phone"],
                      data["email"])

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
         phone, email) = self._pick(cells)
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

    @property
    def name(self) -> str:
        """The person's name as the report shows it."""
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)


def reason_text(errors: dict[str, str]) -> str:
    return "; ".join(errors[f] for f in ORDER if f in errors)


# ---- the import -----------------------------------------------------------------------------------------------------

CHUNK_ROWS = 5000  # rows typed, checked and written per pass; progress is reported after each
REPORT_LIMIT = 2000  # refused and duplicate rows kept in a job's stored report (the counts are always complete)

IN_THIS_ORG = N_("уже состоит на учёте в этой организации")
LEFT_THIS_ORG = (N_("уже есть в реестре этой организации (выбыл или исключён); повторное принятие оформляется "
                 "в карточке члена Профсоюза"))
IN_OTHER_ORG = N_("уже состоит на учёте в другой организации")

MEMBER_COLUMNS = ("id", "org_id", "last_name", "first_name", "patronymic", "last_name_folded", "person_key",
                  "birth_date", "gender", "department", "position", "education", "dues_form", "joined_on",
                  "tenure_start", "category", "address", "phone", "email", "status", "status_since",
                  "consent_status", "card_status", "card_number")
EVENT_COLUMNS = ("member_id", "kind", "on_date", "to_org_id", "reason", "actor_id")


@dataclass
class ImportResult:
    """The outcome of one import (or dry run): counts and the refused and duplicate rows with reasons."""

    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    duplicate_rows: list[tuple[int, str, str]] = field(default_factory=list)
    mapping: dict[str, int] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)
    header_row: int = 0
    file_kind: str = ""
    dry_run: bool = False
    missing: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.rows

    @property
    def would_import(self) -> int:
        """Rows that pass every check: imported by a real run, importable after a dry run."""
        return self.rows - self.duplicates - len(self.refused)

    def to_report(self, limit: int = REPORT_LIMIT) -> dict:
        """A JSON-able summary for ImportJob.report (row lists capped at `limit`)."""
        return {
            "rows": self.rows, "imported": self.imported, "would_import": self.would_import,
            "duplicates": self.duplicates, "refused_count": len(self.refused), "dry_run": self.dry_run,
            "refused": [list(r) for r in self.refused[:limit]],
            "duplicate_rows": [list(r) for r in self.duplicate_rows[:limit]],
            "truncated": len(self.refused) > limit or len(self.duplicate_rows) > limit,
            "mapping": self.mapping, "headers": self.headers, "header_row": self.header_row,
            "file_kind": self.file_kind, "missing": self.missing,
        }


def _key_condition(keys: list[str]):
    """`person_key IN (…)` for one chunk; on PostgreSQL written `= ANY(array)`: one parameter, planned once."""
    if is_postgres():
        return Member.person_key == any_(bindparam("keys", keys, type_=ARRAY(String)))
    return Member.person_key.in_(keys)


def registered_keys(keys: Iterable[str]) -> dict[str, tuple[int, MemberStatus]]:
    """{person_key: (org_id, status)} for the keys already in the registry, by chunked IN queries on the index."""
    keys = list(keys)
    found: dict[str, tuple[int, MemberStatus]] = {}
    size = 5000 if is_postgres() else 500  # SQLite caps the number of bound parameters per statement
    for start in range(0, len(keys), size):
        chunk = keys[start:start + size]
        for key, org_id, status in db.session.execute(
                select(Member.person_key, Member.org_id, Member.status).where(_key_condition(chunk))):
            found[key] = (org_id, status)
    return found


def _chunks(rows: Iterator[tuple[int, Sequence]], size: int) -> Iterator[list[tuple[int, Sequence]]]:
    chunk: list[tuple[int, Sequence]] = []
    for item in rows:
        if _is_blank(item[1]):
            continue
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_file(org: Organisation, source, filename: str, actor, *, dry_run: bool = False,
                mapping: dict | None = None, progress: Callable[[int, int | None], None] | None = None,
                audit_details: dict | None = None) -> ImportResult:
    """Import a member list into a primary organisation (or only check it, `dry_run`); the caller commits.

    `source` is a path, bytes or a binary file. `mapping` corrects the auto-detected columns (see `resolve_mapping`).
    Permission checks are the caller's (views and CLI). One audit entry records the counts.
    """
    if org.level != OrgLevel.PRIMARY:
        raise MemberImportError(N_("Списки загружают в первичную организацию: членов Профсоюза ставят на учёт там. "
                                "Откройте нужную первичную организацию и загрузите список в неё."))
    sheet = open_sheet(source, filename)
    writer = None
    cleanup = ExitStack()
    try:
        columns = resolve_mapping(sheet.headers, mapping)
        result = ImportResult(mapping=columns, headers=sheet.headers, header_row=sheet.header_row,
                              file_kind=sheet.kind, dry_run=dry_run, missing=missing_fields(columns))
        reader = RowReader(columns, today())
        stage, read = reader.stage, reader.read
        seen: dict[str, int] = {}  # person_key -> row number of its first valid occurrence in the file
        actor_id = getattr(actor, "id", None)
        # On PostgreSQL a real run writes each chunk in the background (`_write_chunk`) while the next chunk is
        # read and checked; a chunk is settled (duplicates reported, count added, progress called) before the
        # session is used again. Elsewhere, and in a dry run: look the keys up, then write.
        writer = BackgroundCopy() if not dry_run and is_postgres() else None
        if writer is not None:
            cleanup.enter_context(responsive_threads())
        in_flight: dict[str, tuple[int, str]] = {}  # person_key -> (row number, name) of the chunk being written
        written_through = 0  # result.rows once the chunk being written is written

        def settle() -> None:
            if writer is None or not writer.busy:
                return
            inserted, refused_keys = writer.wait()
            result.imported += inserted
            if refused_keys:
                found = registered_keys(refused_keys)
                for key in refused_keys:
                    number, name = in_flight[key]
                    result.duplicate_rows.append((number, name, _duplicate_reason(found.get(key), org.id)))
            in_flight.clear()
            if progress:
                progress(written_through, sheet.total_estimate)

        for chunk in _chunks(sheet.rows, CHUNK_ROWS):
            candidates: list[tuple[str, int, Staged]] = []
            for number, cells in chunk:
                row = stage(cells)
                if row is None:
                    data, name, errors = read(cells)
                    if errors:
                        result.refused.append((number, name, reason_text(errors)))
                        continue
                    row = reader.staged(data)
                key = row.person_key
                first = seen.get(key)
                if first is not None:
                    result.duplicate_rows.append((number, row.name, f"повтор строки {first} (те же ФИО и дата "
                                                                    "рождения)"))
                    continue
                seen[key] = number
                candidates.append((key, number, row))
            settle()
            result.rows += len(chunk)
            # In person-key order (the surname first): neighbouring entries of the name and key indexes are
            # written together, and a chair's list, sorted by name, reads neighbouring heap pages.
            candidates.sort(key=itemgetter(0))
            if writer is not None:
                if candidates:
                    in_flight.update((key, (number, row.name)) for key, number, row in candidates)
                    writer.start(partial(_write_chunk, _chunk_payload(candidates, org.id, actor_id), org.id,
                                         actor_id))
                    written_through = result.rows
                    continue
            else:
                existing = registered_keys(c[0] for c in candidates)
                fresh = []
                for key, number, row in candidates:
                    hit = existing.get(key)
                    if hit is None:
                        fresh.append(row)
                    else:
                        result.duplicate_rows.append((number, row.name, _duplicate_reason(hit, org.id)))
                if not dry_run and fresh:
                    result.imported += _write(org.id, allocate_ids(Member.__table__, len(fresh)), fresh, actor_id)
            if progress:
                progress(result.rows, sheet.total_estimate)
        settle()
        result.duplicates = len(result.duplicate_rows)
        result.refused.sort()
        result.duplicate_rows.sort()
    finally:
        if writer is not None and writer.busy:  # failing while a chunk is being written: let it end first
            try:
                writer.wait()
            except Exception:  # noqa: BLE001, S110 (the error already propagating is the one to report)
                pass
        cleanup.close()
        sheet.close()
    elsewhere = sum(1 for r in result.duplicate_rows if r[2] == IN_OTHER_ORG)
    audit.record("member_import_check" if dry_run else "member_import", org, actor=actor,
                 filename=filename[:255], file_kind=result.file_kind, rows=result.rows, imported=result.imported,
                 duplicates=result.duplicates, in_other_orgs=elsewhere, refused=len(result.refused),
                 **(audit_details or {}))
    return result


def _write(org_id: int, ids: list[int], fresh: list[Staged], actor_id: int | None) -> int:
    """Write members and their «joined» events through the session (SQLite; PostgreSQL uses `_write_chunk`)."""
    active, no_consent, no_card, joined_kind = (MemberStatus.ACTIVE.value, ConsentStatus.NONE.value,
                                                CardStatus.NOT_ORDERED.value, EventKind.JOINED.value)
    members = []
    events = []
    for new_id, r in zip(ids, fresh, strict=True):
        joined = date.fromisoformat(r.joined_on)
        members.append((new_id, org_id, r.last_name, r.first_name, r.patronymic, r.last_name_folded, r.person_key,
                        date.fromisoformat(r.birth_date), r.gender, r.department, r.position, r.education,
                        r.dues_form, joined, joined, r.category, r.address, r.phone, r.email, active, joined,
                        no_consent, no_card, None))
        events.append((new_id, joined_kind, joined, org_id, "", actor_id))
    insert_rows(Member.__table__, MEMBER_COLUMNS, members)
    insert_rows(MemberEvent.__table__, EVENT_COLUMNS, events)
    return len(members)


def _duplicate_reason(hit: tuple[int, MemberStatus] | None, org_id: int) -> str:
    """Why a person already in the registry is not imported: here (on the register or not) or elsewhere."""
    if hit is None:  # refused by the unique key, then gone by the time we looked (another import, a deletion)
        return IN_OTHER_ORG
    if hit[0] != org_id:
        return IN_OTHER_ORG
    return IN_THIS_ORG if hit[1] == MemberStatus.ACTIVE else LEFT_THIS_ORG


# ---- the PostgreSQL bulk path ---------------------------------------------------------------------------------------
#
# A chunk is written with one COPY into `members` (ids drawn from the sequence first) and one into `member_events`,
# inside a savepoint. The unique index on person_key is the registry's duplicate check: a chunk holding a person
# the registry already has (a re-import, or the same person imported elsewhere meanwhile) fails as a whole on it,
# is rolled back to the savepoint and written again through a staging table with `INSERT … ON CONFLICT DO
# NOTHING`, which skips exactly the known people and says which they were. New people — the bulk of a first
# import — so cost one COPY each and no look-up; a list of mostly known people costs a failed COPY per chunk more.
# The COPY text is built in the reading thread, so the writing thread only sends bytes.

STAGE_COLUMNS = Staged._fields
_MEMBER_COPY = ("id", "org_id", *STAGE_COLUMNS, "tenure_start", "status", "status_since", "consent_status",
                "card_status")
_EVENT_COPY = ("member_id", "kind", "on_date", "to_org_id", "reason", "actor_id")
MEMBER_COPY_SQL = f"COPY members ({', '.join(_MEMBER_COPY)}) FROM STDIN"
EVENT_COPY_SQL = f"COPY member_events ({', '.join(_EVENT_COPY)}) FROM STDIN"
_STAGE = "member_import_stage"
_STAGE_CREATE = (f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} AS SELECT {', '.join(STAGE_COLUMNS)} FROM members "
                 "WITH NO DATA")
_STAGE_INSERT = f"""
WITH ins AS (
    INSERT INTO members (org_id, {", ".join(STAGE_COLUMNS)}, tenure_start, status, status_since, consent_status,
                         card_status)
    SELECT %(org)s, {", ".join(f"s.{c}" for c in STAGE_COLUMNS)}, s.joined_on, '{MemberStatus.ACTIVE.value}',
           s.joined_on, '{ConsentStatus.NONE.value}', '{CardStatus.NOT_ORDERED.value}'
    FROM {_STAGE} s ORDER BY s.person_key
    ON CONFLICT (person_key) DO NOTHING
    RETURNING id, person_key, joined_on
), events AS (
    INSERT INTO member_events (member_id, kind, on_date, to_org_id, reason, actor_id)
    SELECT id, '{EventKind.JOINED.value}', joined_on, %(org)s, '', %(actor)s FROM ins
)
SELECT s.person_key FROM {_STAGE} s LEFT JOIN ins ON ins.person_key = s.person_key WHERE ins.person_key IS NULL
"""
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class ChunkPayload:
    """One chunk's valid rows as COPY text: the staged values of each row (STAGE_COLUMNS), and the text that
    follows a member's id in `members` (`_MEMBER_COPY`) and in `member_events` (`_EVENT_COPY`)."""

    count: int
    lines: list[str]
    member_tails: list[str]
    event_tails: list[str]

    @cached_property
    def staged(self) -> bytes:
        """COPY text for the staging table, needed only when a chunk meets registered people."""
        return ("\n".join(self.lines) + "\n").encode("utf-8")

    def members(self, ids: list[str]) -> bytes:
        """COPY text for `members` (`_MEMBER_COPY`), given the rows' ids as text."""
        return "".join([i + t for i, t in zip(ids, self.member_tails, strict=True)]).encode("utf-8")

    def events(self, ids: list[str]) -> bytes:
        """COPY text for `member_events` (`_EVENT_COPY`): each member's «joined» event."""
        return "".join([i + t for i, t in zip(ids, self.event_tails, strict=True)]).encode("utf-8")


def _chunk_payload(candidates: list[tuple[str, int, Staged]], org_id: int, actor_id: int | None) -> ChunkPayload:
    """COPY text of a chunk, built in the reading thread. Values were typed by `_text`, which leaves no tab or
    line break; a backslash is the only character COPY would misread, and is escaped."""
    lines = []
    member_tails = []
    event_tails = []
    active, no_consent, no_card = MemberStatus.ACTIVE.value, ConsentStatus.NONE.value, CardStatus.NOT_ORDERED.value
    org, kind = str(org_id), EventKind.JOINED.value
    actor = "\\N" if actor_id is None else str(actor_id)
    for _key, _number, row in candidates:
        line = "\t".join(row)
        if "\\" in line:
            line = "\t".join(v.translate(_COPY_ESCAPES) for v in row)
        joined = row.joined_on
        lines.append(line)
        member_tails.append(f"\t{org}\t{line}\t{joined}\t{active}\t{joined}\t{no_consent}\t{no_card}\n")
        event_tails.append(f"\t{kind}\t{joined}\t{org}\t\t{actor}\n")
    return ChunkPayload(len(lines), lines, member_tails, event_tails)


def new_member_ids(cur, count: int) -> list[str]:
    """`count` ids from the members' sequence, as text for COPY: one value to split rather than `count` rows to
    build (the writing thread shares the interpreter with the reading one, and the server waits meanwhile)."""
    text = cur.execute("SELECT string_agg(nextval(pg_get_serial_sequence('members', 'id'))::text, ' ') "
                       "FROM generate_series(1, %s)", (count,)).fetchone()[0]
    return text.split(" ") if count > 0 else []


def _write_chunk(payload: ChunkPayload, org_id: int, actor_id: int | None, conn) -> tuple[int, list[str]]:
    """Write a chunk's members and «joined» events; returns (how many were written, the person keys the registry
    already had). Runs on a psycopg connection in BackgroundCopy's thread, inside the session's transaction."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT member_import_chunk")
        try:
            ids = new_member_ids(cur, payload.count)
            with cur.copy(MEMBER_COPY_SQL) as copy:
                copy.write(payload.members(ids))
            with cur.copy(EVENT_COPY_SQL) as copy:
                copy.write(payload.events(ids))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            # A registered person, or two imports of overlapping lists waiting for each other's people: the
            # staging path skips whoever is registered, waiting for the other import's chunk to commit first.
            cur.execute("ROLLBACK TO SAVEPOINT member_import_chunk")
            return _stage_and_insert(payload, org_id, actor_id, cur)
        cur.execute("RELEASE SAVEPOINT member_import_chunk")
    return payload.count, []


def _stage_and_insert(payload: ChunkPayload, org_id: int, actor_id: int | None, cur) -> tuple[int, list[str]]:
    """COPY a chunk into the staging table, then insert the members not in the registry yet with their «joined»
    events in one statement. JIT is off for the insert: compiling it costs more than the insert itself, and a
    transaction-local setting is restored."""
    cur.execute(_STAGE_CREATE)
    cur.execute(f"TRUNCATE {_STAGE}")
    with cur.copy(f"COPY {_STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
        copy.write(payload.staged)
    jit = cur.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)").fetchone()[0]
    refused = [r[0] for r in cur.execute(_STAGE_INSERT, {"org": org_id, "actor": actor_id}).fetchall()]
    cur.execute("SELECT set_config('jit', %s, true)", (jit,))
    return payload.count - len(refused), refused


# ---- jobs (the web flow's background run) ----------------------------------------------------------------------------


def upload_dir(app_config) -> Path:
    return Path(app_config["UPLOAD_DIR"]) / "imports"


_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx)$")


def job_file(job: ImportJob, app_config) -> Path:
    """Where a job's uploaded file lies; the stored name is ours (random), checked again before use."""
    if not _STORED_NAME.match(job.stored_name or ""):
        raise MemberImportError(N_("Файл этой загрузки не найден. Загрузите список заново."))
    return upload_dir(app_config) / job.stored_name


def remove_job_file(job: ImportJob, app_config) -> None:
    """Delete the uploaded list once it is no longer needed: it holds personal data."""
    try:
        job_file(job, app_config).unlink(missing_ok=True)
    except (MemberImportError, OSError):
        pass


def run_job(job_id: int, *, dry_run: bool, app_config, client_address: str = "") -> None:
    """Run a job's dry run or real import to its end, committing progress; the job records the outcome."""
    from portal.auth.models import User

    job = db.session.get(ImportJob, job_id)
    if job is None:
        return
    phase = "check" if dry_run else "import"
    actor = db.session.get(User, job.user_id) if job.user_id else None
    org = job.org

    def progress(done: int, total: int | None) -> None:
        job.processed_rows = done
        if total and not job.total_rows:
            job.total_rows = total
        job.report = json.dumps({"running": phase, "heartbeat": now().isoformat()})
        db.session.commit()

    try:
        # Outside a request the audit entry's own address reads «cli»; the chair's address travels in the details.
        result = import_file(org, job_file(job, app_config), job.filename, actor, dry_run=dry_run,
                             mapping=job.mapping_data, progress=progress,
                             audit_details={"job_id": job.id, "via": "web", "client_address": client_address})
    except MemberImportError as e:
        db.session.rollback()
        _fail(job_id, e.message)
        return
    except Exception as e:  # noqa: BLE001 (a background thread must record any failure on the job, never vanish)
        db.session.rollback()
        import logging

        logging.getLogger(__name__).exception("import job %s failed", job_id)
        done = db.session.get(ImportJob, job_id).processed_rows if not dry_run else 0
        _fail(job_id, "Загрузка прервалась из-за внутренней ошибки"
              + (f" (обработано строк: {done})" if done else "")
              + ". Запустите проверку и загрузку ещё раз: уже загруженные члены Профсоюза не задвоятся.",
              detail=type(e).__name__)
        return
    job.mapping = json.dumps(result.mapping)
    job.total_rows = result.rows
    job.processed_rows = result.rows
    job.imported = result.imported
    job.duplicates = result.duplicates
    job.refused = len(result.refused)
    job.report = json.dumps(result.to_report(), ensure_ascii=False)
    job.error = ""
    if dry_run:
        job.status = ImportStatus.CHECKED
    else:
        job.status = ImportStatus.DONE
        job.finished_at = now()
    db.session.commit()
    if not dry_run:
        remove_job_file(job, app_config)


def _fail(job_id: int, message: str, detail: str = "") -> None:
    job = db.session.get(ImportJob, job_id)
    job.status = ImportStatus.FAILED
    job.error = message
    job.report = json.dumps({"failed": detail} if detail else {})
    job.finished_at = now()
    db.session.commit()


def claim_job(job: ImportJob, allowed: Sequence[ImportStatus], phase: str) -> bool:
    """Move a job to «running» only if it is still in an allowed state; one of two simultaneous clicks wins."""
    from sqlalchemy import update

    result = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status.in_(list(allowed)))
        .values(status=ImportStatus.RUNNING, processed_rows=0, error="",
                report=json.dumps({"running": phase, "heartbeat": now().isoformat()}))
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(job)
    return result.rowcount == 1


# ---- export ---------------------------------------------------------------------------------------------------------

EXPORT_SHEET = "Члены Профсоюза"
# (header, width): the headers are the import's own names, so an exported list loads back as it is.
EXPORT_COLUMNS = (
    ("№", 6), ("Фамилия", 18), ("Имя", 14), ("Отчество", 18), ("Дата рождения", 13), ("Пол", 9),
    ("Место работы", 40), ("Подразделение", 18), ("Должность", 30), ("Образование", 22),
    ("Форма уплаты взносов", 14), ("Дата вступления в Профсоюз", 14), ("Категория", 20),
    ("Стаж в Профсоюзе, лет", 10), ("Телефон", 18), ("E-mail", 26), ("Адрес проживания", 36),
    ("Учёт", 18), ("Согласие на обработку ПД", 20), ("Электронный профсоюзный билет", 18),
)


def safe_cell(value: str) -> str:
    """Text a spreadsheet can't take for a formula (OWASP CSV injection): a leading «'» before = + - @ tab CR."""
    if value and value[0] in _FORMULA_START:
        return "'" + value
    return value


def export_query(org: Organisation, user, args) -> tuple:
    """Members of the organisation's subtree that `user` may see (all of them for user None, the CLI operator),
    filtered and sorted like the member list page; returns (select of columns, applied filters, sort)."""
    from portal import policy
    from portal.registry.views import FILTERS, SORTS, search_condition

    cols = (Member.last_name, Member.first_name, Member.patronymic, Member.birth_date, Member.gender,
            Organisation.name, Member.department, Member.position, Member.education, Member.dues_form,
            Member.joined_on, Member.category, Member.tenure_start, Member.phone, Member.email, Member.address,
            Member.status, Member.consent_status, Member.card_status)
    q = select(*cols).join_from(Member, Organisation, Member.org_id == Organisation.id)
    q = q.where(policy.member_scope(user) if user is not None else true())
    if org.level == OrgLevel.PRIMARY:
        q = q.where(Member.org_id == org.id)
    else:
        q = q.where(Member.org_id.in_(select(Organisation.id).where(Organisation.path.like(org.path + "%"))))
    applied = {}
    status = args.get("status", "active")
    for key, (column, enum_cls) in FILTERS.items():
        value = status if key == "status" else args.get(key, "")
        if value and value != "all":
            try:
                q = q.where(column == enum_cls(value))
            except ValueError:
                raise MemberImportError(N_("Неизвестное значение фильтра.")) from None
            applied[key] = value
    text = (args.get("q") or "").strip()[:100]
    if text:
        q = q.where(search_condition(text))
        applied["q"] = text
    sort = args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    return q.order_by(*SORTS[sort]), applied, sort


def export_members(org: Organisation, user, args, out, *, max_rows: int | None = None) -> int:
    """Write the members `user` sees in the organisation's subtree (with the list's filters) to `out` as XLSX;
    returns how many. Dates are dates, enums their titles, and no text can become a formula. Audited."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    q, applied, _ = export_query(org, user, args)
    if max_rows is not None:
        count = db.session.scalar(select(func.count()).select_from(q.order_by(None).subquery()))
        if count > max_rows:
            raise MemberImportError(f"В выгрузку попало бы {count:,} строк — больше, чем помещается в один файл "
                                    f"({max_rows:,}). Уточните отбор или выгрузите организации по отдельности."
                                    .replace(",", " "))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(EXPORT_SHEET)
    ws.freeze_panes = "B2"
    for i, (_, width) in enumerate(EXPORT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    header = []
    for title, _ in EXPORT_COLUMNS:
        c = WriteOnlyCell(ws, value=title)
        c.font, c.alignment = bold, wrap
        header.append(c)
    ws.append(header)

    def day(value):
        c = WriteOnlyCell(ws, value=value)
        c.number_format = "DD.MM.YYYY"
        return c

    on = today()
    n = 0
    for row in db.session.execute(q.execution_options(yield_per=2000)):
        (last, first, middle, birth, gender, org_name, dept, position, education, dues, joined, category, tenure,
         phone, email, address, status, consent, card) = row
        n += 1
        ws.append([n, safe_cell(last), safe_cell(first), safe_cell(middle), day(birth), gender.title,
                   safe_cell(org_name), safe_cell(dept), safe_cell(position), education.title, dues.title, day(joined),
                   category.title, full_years(tenure, on), safe_cell(phone), safe_cell(email), safe_cell(address),
                   status.title, consent.title, card.title])
    if n:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(EXPORT_COLUMNS))}{n + 1}"
    about = wb.create_sheet("Сведения")
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 80
    about.append(["Организация", safe_cell(org.name)])
    about.append(["Выгружено", day(on)])
    about.append(["Кто выгрузил", safe_cell(getattr(user, "login", "") or "администратор сервера")])
    about.append(["Отбор", safe_cell(", ".join(f"{k}={v}" for k, v in applied.items()) or "все состоящие на учёте")])
    about.append(["Строк", n])
    about.append(["", "Содержит персональные данные: храните и передавайте по правилам 152-ФЗ."])
    wb.save(out)
    audit.record("member_export", org, actor=user, count=n, filters=applied)
    return n
