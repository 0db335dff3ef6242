"""Bounds on the work a member list may cause: columns, rows, cells, and the parts of an XLSX book.

A list is refused with a message for the chair as soon as it passes a bound, so a hostile or absurd file costs a
bounded amount of time and memory wherever it is read (the upload request only looks at the zip directory; the
background reading and the runs read the content under the same bounds). The numbers are far above any real
member list — a primary organisation counts members in hundreds, a university in tens of thousands, and the card
has some twenty fields — and far below what ties a worker up.

An XLSX book is a zip: each part's unpacked size and its compression ratio are checked before anything is
unpacked (a 714 KB file whose sharedStrings.xml unpacks to 280 MB of one-letter strings is a zip bomb, not a
list), the shared strings are read by a streaming parser that stops at a count, and the worksheets' rows and cells
are counted by a streaming scan before openpyxl builds a single row. The worst a list within the bounds costs is
about a minute of one background thread (3 million cells through openpyxl), never a chair's request.
"""

from __future__ import annotations

import io
import zipfile
from xml.parsers import expat

from portal.i18n import N_
from portal.registry.imports.model import MemberImportError

MAX_COLUMNS = 200  # header columns: the card has ~20 fields; 20,000 columns made a 13 MB mapping page
MAX_ROWS = 150_000  # filled rows below the header
MAX_LINES = 1_100_000  # rows read at all, blank ones included (Excel's own maximum is 1,048,576)
MAX_CELLS = 3_000_000  # cells read (XLSX: cell elements of every sheet; CSV: fields of every line)

XLSX_MAX_UNPACKED = 300 * 1024 * 1024  # the whole book unpacked
XLSX_MAX_PART = 200 * 1024 * 1024  # one part (a worksheet, the shared strings) unpacked
XLSX_MAX_RATIO = 100  # unpacked ÷ packed for a part above XLSX_RATIO_FROM; real books stay well below 30
XLSX_RATIO_FROM = 1024 * 1024

TOO_MANY_COLUMNS = N_("В строке с названиями столбцов %(count)s столбцов, а список членов Профсоюза занимает не больше "
                      "%(limit)s. Удалите лишние столбцы (или лишние разделители в CSV) и загрузите файл снова.")
TOO_MANY_ROWS = N_("В файле больше %(limit)s строк. Разделите список на несколько файлов и загрузите их по очереди.")
TOO_MANY_CELLS = N_("В файле слишком много ячеек (больше %(limit)s). Оставьте в нём только список "
                    "членов Профсоюза или разделите его на несколько файлов.")
XLSX_BOMB = N_("Книга Excel устроена необычно: её части распаковываются в слишком большой объём. Загружать её "
               "небезопасно. Откройте файл в Excel, сохраните как «Книга Excel (.xlsx)» и загрузите снова; большой "
               "список разделите на несколько файлов.")
XLSX_BROKEN = N_("Не удалось прочитать книгу Excel: файл повреждён. Откройте его в Excel, сохраните заново и "
                 "загрузите снова.")


def refuse(message: str, **values) -> MemberImportError:
    """The error for a bound passed (the message a msgid, its values kept for the page's language)."""
    return MemberImportError(message, **values)


def check_columns(count: int) -> None:
    if count > MAX_COLUMNS:
        raise refuse(TOO_MANY_COLUMNS, count=count, limit=MAX_COLUMNS)


def check_zip(z: zipfile.ZipFile) -> None:
    """Sizes from the zip directory only (nothing is unpacked): the whole, each part, each part's ratio."""
    total = 0
    for info in z.infolist():
        total += info.file_size
        if info.file_size > XLSX_MAX_PART or total > XLSX_MAX_UNPACKED:
            raise refuse(XLSX_BOMB)
        if info.file_size > XLSX_RATIO_FROM and info.file_size > XLSX_MAX_RATIO * max(info.compress_size, 1):
            raise refuse(XLSX_BOMB)


def scan_sheets(z: zipfile.ZipFile) -> int:
    """Count rows and cells of every worksheet with a streaming parser before openpyxl reads any: a sheet past
    the bounds is refused after at most MAX_CELLS elements, whatever its size. A DTD is refused (no entities).
    Returns the number of cells."""
    counts = {"row": 0, "c": 0}

    def start(name, _attrs):
        local = name.rpartition(":")[2]
        if local in counts:
            counts[local] += 1
            if counts["c"] > MAX_CELLS:
                raise refuse(TOO_MANY_CELLS, limit=MAX_CELLS)
            if counts["row"] > MAX_LINES:
                raise refuse(TOO_MANY_ROWS, limit=MAX_ROWS)

    for name in z.namelist():
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        parser = expat.ParserCreate()
        parser.StartElementHandler = start
        parser.StartDoctypeDeclHandler = _no_dtd
        try:
            with z.open(name) as src:
                parser.ParseFile(src)
        except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise refuse(XLSX_BROKEN) from None
    return counts["c"]


def _no_dtd(*_args):
    raise refuse(XLSX_BROKEN)


def read_shared_strings(src, limit: int | None = None) -> list[str]:
    """The shared string table as openpyxl's reader gives it (the text of each item, phonetic runs left out),
    streamed by expat and stopped past `limit` items: a book cannot use more strings than it has cells."""
    limit = MAX_CELLS if limit is None else limit
    strings: list[str] = []
    parts: list[str] = []
    state = {"text": False, "phonetic": 0}

    def start(name, _attrs):
        local = name.rpartition(":")[2]  # no namespace processing: a prefix, if any, stays on the name
        if local == "t":
            state["text"] = not state["phonetic"]
        elif local == "rPh":
            state["phonetic"] += 1
        elif local == "si":
            parts.clear()

    def end(name):
        local = name.rpartition(":")[2]
        if local == "t":
            state["text"] = False
        elif local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            strings.append("".join(parts).replace("x005F_", ""))
            if len(strings) > limit:
                raise refuse(TOO_MANY_CELLS, limit=MAX_CELLS)

    def text(data):
        if state["text"]:
            parts.append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    parser.StartDoctypeDeclHandler = _no_dtd
    try:
        parser.ParseFile(src)
    except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise refuse(XLSX_BROKEN) from None
    return strings


def load_book(data: bytes):
    """openpyxl's read-only workbook over checked bytes: zip bounds, a sheet scan, then the capped string table."""
    from openpyxl.reader.excel import ExcelReader

    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise refuse(XLSX_BROKEN) from None
    with z:
        check_zip(z)
        cells = scan_sheets(z)
    strings_limit = cells + 10_000  # strings no cell uses (a generator may keep some) but never a bomb's millions

    class _Reader(ExcelReader):
        def read_strings(self):
            from openpyxl.xml.constants import SHARED_STRINGS

            ct = self.package.find(SHARED_STRINGS)
            if ct is not None:
                with self.archive.open(ct.PartName[1:]) as src:
                    self.shared_strings = read_shared_strings(src, strings_limit)

    reader = _Reader(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    reader.read()
    return reader.wb
