"""Spreadsheet helpers shared by every file the portal writes for people to open (CSV and XLSX)."""

from __future__ import annotations

FORMULA_START = "=+-@\t\r"  # a cell starting with one of these is a formula (or becomes one) in Excel/LibreOffice


def safe_cell(value: str) -> str:
    """Text a spreadsheet can't take for a formula (OWASP CSV injection): a leading «'» before = + - @ tab CR."""
    if value and value[0] in FORMULA_START:
        return "'" + value
    return value
