"""Build doc_templates/consent/template.docx and aid_petition/template.docx with python-docx, reproducibly (same
bytes on every run).

    .venv/bin/python doc_templates/build_docx.py           # rewrite the template.docx files
    .venv/bin/python doc_templates/build_docx.py --check   # exit 1 if a committed file is out of date

The text follows consent/template.html and consent/conditions.html clause by clause; keep the two in step (tests/test_documents.py compares
them). The petition (form No. 1 of seed 004) follows aid_petition/template.html (tests/test_aid_documents.py compares them).
Placeholders are docxtpl (Jinja) tags that take *values* only — see doc_templates/README.md for the fields.
"""

from __future__ import annotations

import sys
import zipfile
from datetime import datetime
from io import BytesIO
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

HERE = Path(__file__).resolve().parent
TARGET = HERE / "consent" / "template.docx"
FONT = "Times New Roman"
FIXED_TIME = datetime(2026, 1, 1)

INTRO = ("В соответствии со статьёй 9 Федерального закона от 27.07.2006 № 152-ФЗ «О персональных данных» свободно, "
         "своей волей и в своём интересе даю согласие указанному выше оператору (далее — Оператор) на обработку моих "
         "персональных данных, в том числе на их передачу указанным выше вышестоящим организациям Профсоюза, на "
         "следующих условиях.")

CLAUSES = [
    ("1. Персональные данные:",
     " фамилия, имя, отчество; дата рождения; пол; адрес места жительства; вид, серия и номер документа, "
     "удостоверяющего личность, дата его выдачи и выдавший его орган; место работы (учёбы), структурное "
     "подразделение, должность (факультет, курс); образование; категория члена Профсоюза, дата вступления в "
     "Профсоюз, профсоюзный стаж, форма уплаты членских профсоюзных взносов; номер телефона, адрес электронной "
     "почты; номер и статус электронного профсоюзного билета."),
    ("2. Цели обработки:",
     " учёт членов Профсоюза в едином реестре Профсоюза; статистическая отчётность Профсоюза; выпуск, выдача и "
     "обслуживание электронного профсоюзного билета; моё участие в бонусной (мотивационной) программе ПРОФКАРДС."),
    ("3. Действия с данными:",
     " сбор, запись, систематизация, накопление, хранение, уточнение (обновление, изменение), извлечение, "
     "использование, передача (предоставление, доступ), обезличивание, блокирование, удаление, уничтожение — "
     "с использованием средств автоматизации и без них."),
    ("4. Передача данных:",
     " вышестоящим организациям Профсоюза — для ведения единого реестра и статистической отчётности; оператору "
     "программы ПРОФКАРДС (третье лицо: {{ profcards_operator }}, адрес: {{ profcards_address }}) — фамилии, имени, "
     "отчества, даты рождения, номера электронного профсоюзного билета, номера телефона и адреса электронной почты — "
     "для моего участия в бонусной программе."),
    ("5. Срок действия и отзыв:",
     " согласие действует со дня подписания в течение моего членства в Профсоюзе, а после его прекращения — в течение "
     "срока хранения учётных документов, установленного законодательством. Согласие может быть отозвано мной в любой "
     "момент письменным заявлением, поданным в профсоюзный комитет или направленным Оператору по указанному выше "
     "адресу. После отзыва Оператор прекращает обработку и передачу моих "
     "персональных данных, сообщает об отзыве оператору программы ПРОФКАРДС и уничтожает данные в срок не более "
     "30 дней, если иное основание их обработки не предусмотрено федеральным законом."),
]

TICK = ("☐ В соответствии с ФЗ № 152-ФЗ «О персональных данных» даю своё согласие на использование моих "
        "персональных данных")


def _font(style, size: float, bold: bool | None = None) -> None:
    style.font.name = FONT
    style.font.size = Pt(size)
    style.font.color.rgb = RGBColor(0, 0, 0)
    if bold is not None:
        style.font.bold = bold
    rpr = style.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), FONT)


def _para(doc, text: str = "", *, bold: bool = False, size: float | None = None, align=WD_ALIGN_PARAGRAPH.JUSTIFY,
          space_after: float = 3):
    p = doc.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(space_after)
    if text:
        run = p.add_run(text)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
    return p


def _cell(cell, text: str, *, bold: bool = False, size: float | None = None) -> None:
    p = cell.paragraphs[0]
    p.paragraph_format.space_after = Pt(0)
    run = p.add_run(text)
    run.bold = bold
    if size:
        run.font.size = Pt(size)


def _rows_table(doc, name: str) -> None:
    """A two-column table with one row per item of the list `name` (docxtpl's {%tr %} repeats the middle row)."""
    table = doc.add_table(rows=3, cols=2)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _cell(table.cell(0, 0), f"{{%tr for row in {name} %}}")
    _cell(table.cell(1, 0), "{{ row.label }}")
    _cell(table.cell(1, 1), "{{ row.value }}")
    _cell(table.cell(2, 0), "{%tr endfor %}")
    for row in table.rows:
        row.cells[0].width, row.cells[1].width = Mm(65), Mm(108)


def _a4_document(title: str, *, left: int, top: int, bottom: int, text_pt: int, title_pt: int) -> Document:
    """An empty A4 document (margins in mm, a 15 mm right margin) with its fonts and fixed properties."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin = Mm(left), Mm(15)
    section.top_margin, section.bottom_margin = Mm(top), Mm(bottom)
    _font(doc.styles["Normal"], text_pt)
    _font(doc.styles["Title"], title_pt, bold=True)
    doc.styles["Title"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    props = doc.core_properties
    props.title = title
    props.author = props.last_modified_by = "Профпортал"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    return doc


def build() -> bytes:
    """The template as bytes (a zip with fixed timestamps, so a rebuild changes nothing unless the text did)."""
    doc = _a4_document("Согласие на обработку персональных данных", left=22, top=15, bottom=15, text_pt=11, title_pt=13)
    _font(doc.styles["Heading 1"], 11, bold=True)
    doc.styles["Heading 1"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER

    doc.add_heading("СОГЛАСИЕ", level=0)
    doc.add_heading("на обработку персональных данных члена Профсоюза", level=1)

    _para(doc, "Я, {{ full_name }}, сообщаю о себе следующие сведения:")
    _rows_table(doc, "rows")
    _para(doc, space_after=2)
    _rows_table(doc, "operator_rows")
    _para(doc, space_after=2)

    _para(doc, INTRO)
    for head, body in CLAUSES:
        p = _para(doc)
        p.add_run(head).bold = True
        p.add_run(body)

    _para(doc, TICK, bold=True, align=WD_ALIGN_PARAGRAPH.LEFT, space_after=14)

    sign = doc.add_table(rows=2, cols=2)
    _cell(sign.cell(0, 0), "«____» _______________ 20____ г.")
    _cell(sign.cell(0, 1), "_______________ / ______________________ /")
    _cell(sign.cell(1, 0), "(дата)", size=8)
    _cell(sign.cell(1, 1), "(подпись) (фамилия, инициалы)", size=8)

    _para(doc, space_after=12)
    _para(doc, "Форма согласия {{ form_version }}. Сформировано в АИС «Профпортал» {{ generated_on }}", size=8,
          align=WD_ALIGN_PARAGRAPH.LEFT)

    raw = BytesIO()
    doc.save(raw)
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite the zip with a fixed timestamp on every entry (python-docx stamps the current time)."""
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


# ---- the aid petition, form No. 1 of seed 004 ------------------------------------------------------------------

PETITION_TARGET = HERE / "aid_petition" / "template.docx"

# Names and titles stand in the nominative after their labels (the rows below), so nothing declines a name: the
# primary organisation, the member, the sanatorium as the registry and the chair wrote them.
PETITION_TEXT = (
    "Профсоюзный комитет на основании решения заседания профсоюзного комитета от {{ decision_date }} "
    "№ {{ decision_number }} ходатайствует об оказании единовременной материальной помощи члену Профсоюза, "
    "получавшему санаторно-курортное лечение:"
)


def build_petition() -> bytes:
    """The petition template as bytes (fixed timestamps, like the consent's)."""
    doc = _a4_document("Ходатайство об оказании единовременной материальной помощи", left=25, top=20, bottom=20,
                       text_pt=12, title_pt=14)

    _para(doc, "{%p for line in addressee %}")
    p = _para(doc, "{{ line }}", align=WD_ALIGN_PARAGRAPH.LEFT, space_after=0)
    p.paragraph_format.left_indent = Mm(95)
    _para(doc, "{%p endfor %}")
    _para(doc, space_after=18)

    doc.add_heading("Ходатайство", level=0)
    _para(doc, "№ {{ number }}", align=WD_ALIGN_PARAGRAPH.CENTER, space_after=14)

    p = _para(doc, PETITION_TEXT, space_after=4)
    p.paragraph_format.first_line_indent = Mm(10)
    _para(doc, "{%p for row in rows %}")
    p = _para(doc, "{{ row.label }}: {{ row.value }}", align=WD_ALIGN_PARAGRAPH.LEFT, space_after=2)
    p.paragraph_format.left_indent = Mm(10)
    _para(doc, "{%p endfor %}")
    p = _para(doc, "Размер материальной помощи {{ basis }}: {{ amount }}", bold=True, align=WD_ALIGN_PARAGRAPH.LEFT,
              space_after=6)
    p.paragraph_format.left_indent = Mm(10)
    _para(doc, "{%p if override_reason %}")
    p = _para(doc, "Обоснование решения председателя: {{ override_reason }}", align=WD_ALIGN_PARAGRAPH.LEFT,
              space_after=6)
    p.paragraph_format.left_indent = Mm(10)
    _para(doc, "{%p endif %}")

    _para(doc, "Документы прилагаются:", align=WD_ALIGN_PARAGRAPH.LEFT, space_after=3)
    _para(doc, "{%p for a in attachments %}")
    p = _para(doc, "{{ loop.index }}. {{ a }}", space_after=2)
    p.paragraph_format.left_indent = Mm(5)
    _para(doc, "{%p endfor %}")
    _para(doc, space_after=24)

    sign = doc.add_table(rows=2, cols=2)
    _cell(sign.cell(0, 0), "Председатель первичной профсоюзной организации")
    # `signatory` is «/ Петрова Е.В. /» with no-break spaces: Word keeps the name on one line.
    _cell(sign.cell(0, 1), "_______________ {{ signatory }}")
    _cell(sign.cell(1, 1), "(подпись)", size=8)
    sign.cell(1, 1).paragraphs[0].paragraph_format.left_indent = Mm(8)

    _para(doc, space_after=6)
    _para(doc, "Дата: {{ filed_on }}", align=WD_ALIGN_PARAGRAPH.LEFT, space_after=8)
    _para(doc, "М.П.", align=WD_ALIGN_PARAGRAPH.LEFT, space_after=20)
    _para(doc, "Сформировано в АИС «Профпортал»", size=8, align=WD_ALIGN_PARAGRAPH.LEFT)

    raw = BytesIO()
    doc.save(raw)
    return _normalise_zip(raw.getvalue())


BUILDS = {TARGET: build, PETITION_TARGET: build_petition}


def main(argv: list[str]) -> int:
    stale = 0
    for target, builder in BUILDS.items():
        data = builder()
        if "--check" in argv:
            if not target.exists() or target.read_bytes() != data:
                print(f"{target} is out of date: run python doc_templates/build_docx.py", file=sys.stderr)
                stale = 1
            continue
        target.write_bytes(data)
        print(f"wrote {target} ({len(data)} bytes)")
    return stale


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
