"""Reading generated documents back as text, for the document tests: DOCX with python-docx, PDF with pypdf."""

from __future__ import annotations

from io import BytesIO

import docx
from docx.table import Table
from pypdf import PdfReader


def flat(text: str) -> str:
    """Text with every run of whitespace (also no-break spaces) as one space."""
    return " ".join(text.split())


def pdf_pages(data: bytes) -> list[str]:
    """The flattened text of each page of a PDF (which must be one)."""
    assert data.startswith(b"%PDF-")
    return [flat(page.extract_text()) for page in PdfReader(BytesIO(data)).pages]


def docx_text(data: bytes) -> str:
    """Paragraphs and table cells of a DOCX, in document order, flattened."""
    document = docx.Document(BytesIO(data))
    parts = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            parts.extend(cell.text for row in block.rows for cell in row.cells)
        else:
            parts.append(block.text)
    return flat("\n".join(parts))
