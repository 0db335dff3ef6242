"""Reading files: the kind of file, CSV decoding and dialect, XLSX, the header row below any title block."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from portal.i18n import N_
from portal.registry.imports.limits import (
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_LINES,
    MAX_ROWS,
    TOO_MANY_CELLS,
    TOO_MANY_ROWS,
    XLSX_BROKEN,
    check_columns,
    check_zip,
    load_book,
)
from portal.registry.imports.mapping import HEADER_SCAN_ROWS, _find_header, auto_mapping
from portal.registry.imports.model import MemberImportError
from portal.registry.imports.rows import _is_blank, _text

# ---- reading files ---------------------------------------------------------------------------------------------------

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
                if "xl/workbook.xml" in names:
                    check_zip(z)  # the zip directory's sizes only: the upload request unpacks nothing
        except (zipfile.BadZipFile, OSError, ValueError):
            raise MemberImportError(N_("Файл повреждён: это не книга Excel и не таблица CSV.")) from None
        if "xl/workbook.xml" in names:
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
    lines = text.count("\n")
    if lines > MAX_LINES:
        raise MemberImportError(TOO_MANY_ROWS, limit=MAX_ROWS)
    best = None
    # The delimiter is the one under which a header row is recognised best (1C writes «;», others «,» or tab).
    # Only the first MAX_COLUMNS + 1 cells of a line are matched against the field names: a line of 20,000
    # fields costs one split, not 20,000 look-ups; a header that wide is refused below.
    for delimiter in (";", ",", "\t"):
        try:
            head = list(islice(csv.reader(io.StringIO(text), delimiter=delimiter), HEADER_SCAN_ROWS))
        except csv.Error:
            continue
        index, score = _find_header([row[:MAX_COLUMNS + 1] for row in head])
        if index >= 0 and (best is None or score > best[2]):
            best = (delimiter, index, score, head[index])
    if best is None:
        raise MemberImportError(NO_HEADER_CSV)
    delimiter, index, _, header = best
    header = [str(h).strip() for h in header]
    named = len(header)
    while named and not header[named - 1]:
        named -= 1
    check_columns(named)  # trailing empty names (a «;» at each line's end) are not columns

    def rows():
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        number = 0
        try:
            for number, row in enumerate(reader, start=1):
                if number > index + 1:
                    yield number, row
        except csv.Error:
            raise MemberImportError(f"Файл CSV повреждён около строки {number + 1}: проверьте кавычки.") from None

    return Sheet("csv", header, index + 1, _bounded(rows(), count_cells=True),
                 total_estimate=max(lines - index - 1, 0) or None)


def _open_xlsx(data: bytes) -> Sheet:
    try:
        wb = load_book(data)  # zip bounds, a streaming count of rows and cells, the capped shared strings
    except MemberImportError:
        raise
    except Exception:  # noqa: BLE001 (openpyxl raises anything from KeyError to XML errors on a broken book)
        raise MemberImportError(XLSX_BROKEN) from None
    try:
        sheets = list(wb.worksheets)
        active = wb.active
        if active in sheets:  # the sheet the chair last looked at is the likeliest one
            sheets.remove(active)
            sheets.insert(0, active)
        for ws in sheets:
            # A read-only row is padded to the sheet's stated width (up to 16,384 columns): read no wider than
            # a header may be, so a false dimension costs nothing; a wider header is refused.
            width = ws.max_column if isinstance(ws.max_column, int) and ws.max_column > 0 else MAX_COLUMNS + 1
            it = ws.iter_rows(values_only=True, max_col=min(width, MAX_COLUMNS + 1))
            head = list(islice(it, HEADER_SCAN_ROWS))
            index, _ = _find_header(head)
            if index < 0:
                continue
            header = ["" if v is None else " ".join(str(v).split()) for v in head[index]]
            while header and not header[-1]:
                header.pop()
            if len(header) > MAX_COLUMNS:
                check_columns(max(width, len(header)))

            def rows(head=head, index=index, it=it):
                number = index + 1
                for row in head[index + 1:]:
                    number += 1
                    yield number, row
                for row in it:
                    number += 1
                    yield number, row

            total = (ws.max_row - index - 1) if isinstance(ws.max_row, int) and ws.max_row > index + 1 else None
            return Sheet("xlsx", header, index + 1, _bounded(rows()), total_estimate=total, sheet_name=ws.title,
                         _close=wb.close)
    except MemberImportError:
        wb.close()
        raise
    except Exception:  # noqa: BLE001 (a malformed sheet fails while iterating rows, not while opening)
        wb.close()
        raise MemberImportError(XLSX_BROKEN) from None
    wb.close()
    raise MemberImportError(NO_HEADER)


def _bounded(rows: Iterator[tuple[int, Sequence]], *, count_cells: bool = False) -> Iterator[tuple[int, Sequence]]:
    """The rows of a list, refused once past the bounds: rows read at all, filled rows, and (CSV) cells."""
    lines = filled = cells = 0
    for number, row in rows:
        lines += 1
        if lines > MAX_LINES:
            raise MemberImportError(TOO_MANY_ROWS, limit=MAX_ROWS)
        if count_cells:
            cells += len(row)
            if cells > MAX_CELLS:
                raise MemberImportError(TOO_MANY_CELLS, limit=MAX_CELLS)
        if not _is_blank(row):
            filled += 1
            if filled > MAX_ROWS:
                raise MemberImportError(TOO_MANY_ROWS, limit=MAX_ROWS)
        yield number, row


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
