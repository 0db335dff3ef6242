"""Material aid for sanatorium treatment (seed 004, SPEC §6): the petition, form No. 1, as DOCX and PDF, and the
accountant's payment register of approved petitions as XLSX.

The interface is fixed in notes/AID_CONTRACT.md: plain frozen dataclasses in, bytes out. This module knows nothing
of the aid models — portal/aid builds a `PetitionDoc` or `RegisterRow`s from a petition and calls the functions here,
so the documents can be generated (and tested, and benchmarked) without a database.

Seed 004's form No. 1 runs the names into one sentence («Профсоюзный комитет <организация> … члену Профсоюза <Ф.И.О.>,
получавшему лечение в санатории <санаторий>»), which would need them declined. The petition keeps the sentence and
gives the names, titles and numbers as labelled fields in the nominative («Член Профсоюза (фамилия, имя, отчество):
Семёнова Алёна Петровна»); only the addressee block stands in the dative, as the regulation gives it. The signatory's
name is joined by no-break spaces, so it never splits across lines.

Form No. 1 has no amount line; the petition adds one, «Размер материальной помощи по Положению: …», or, for the
regional chairman's override (п. 4.5), «… по решению председателя (п. 4.5 Положения): …» with the written reason,
so an override is visible on paper too. Wording: aid_petition/template.html and the petition part of
doc_templates/build_docx.py (tests/test_aid_documents.py checks the two say the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from io import BytesIO

from jinja2 import Environment, StrictUndefined

from portal.documents.data import text
from portal.documents.dates import plural, ru_date, years
from portal.documents.paths import DOC_TEMPLATES
from portal.documents.pdf import render_pdf

DOCX_TEMPLATE = DOC_TEMPLATES / "aid_petition" / "template.docx"
HTML_TEMPLATE = "aid_petition/template.html"

# The three lines of «Документы прилагаются:» of form No. 1, printed on every petition (seed 004, п. 4.2).
STANDARD_ATTACHMENTS = (
    "копия профсоюзной карточки члена Профсоюза;",
    "копия отрывного талона, либо документа, подтверждающего прохождение лечения в санаторно-курортном учреждении;",
    "реквизиты счета, открытого члену Профсоюза в кредитной организации, для перечисления суммы материальной помощи.",
)
# What a paper form leaves for a value nobody gave (e.g. an unknown regional chairman).
BLANK = "______________________"
BASIS_REGULATION = "по Положению"
BASIS_OVERRIDE = "по решению председателя (п. 4.5 Положения)"
KOPECK = Decimal("0.01")
NBSP = "\u00a0"


@dataclass(frozen=True)
class PetitionDoc:
    """Form No. 1 of seed 004 («Ходатайство»), every field filled."""

    number: str                         # petition number shown on the form, e.g. "МП-2026-000123"
    region_name: str                    # full name of the regional organisation (addressee)
    chairman_name: str                  # the regional chairman, as "Прохоров С.А." ("" if unknown -> a blank line)
    primary_name: str                   # full name of the primary organisation
    decision_date: date                 # profcom meeting date
    decision_number: str                # profcom meeting number
    member_full_name: str               # surname name patronymic as in the registry
    sanatorium: str
    treatment_start: date
    treatment_end: date
    tenure_years: int
    membership_level: Decimal           # percent, two decimals, e.g. Decimal("85.50")
    amount: Decimal                     # computed (or overridden) amount, roubles with kopecks
    chair_name: str                     # the primary's chair who signs
    filed_on: date
    override_reason: str = ""           # non-empty -> the document shows it is the chairman's override, with the reason
    attachments: tuple[str, ...] = ()   # names of the attached documents; the form's 3 standard lines are always printed
    addressee: str = ""                 # the whole addressee block as on the form, in the dative, lines split by "\n"
    #                                     ("Председателю\n…\nПрохорову С.А."); given, it replaces «Председателю» +
    #                                     region_name + chairman_name


@dataclass(frozen=True)
class RegisterRow:
    """One approved petition in the accountant's payment register."""

    number: str
    member_full_name: str
    primary_name: str
    amount: Decimal
    decision_date: date | None          # presidium meeting date (None for an override)
    decision_number: str                # presidium meeting number, or "" for an override
    override: bool
    account_number: str                 # 20 digits
    bik: str                            # 9 digits
    bank_name: str


# ---- formatting ---------------------------------------------------------------------------------------------------


def kopecks(amount) -> Decimal:
    """An amount as an exact Decimal with two places; ValueError for a float, NaN, infinity, a negative amount or a
    fraction of a kopeck."""
    if isinstance(amount, float | bool):  # money is never a float: 0.1 + 0.2 is not 0.3
        raise ValueError(f"Сумма {amount!r} должна быть Decimal, а не {type(amount).__name__}.")
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"Сумма «{amount}» — не число.") from None
    if not value.is_finite():
        raise ValueError(f"Сумма «{amount}» — не число.")
    if value < 0:
        raise ValueError(f"Сумма {amount} отрицательная.")
    exact = value.quantize(KOPECK)
    if exact != value:
        raise ValueError(f"Сумма {amount} задана точнее копейки.")
    return exact


def _grouped(value: Decimal) -> str:
    """12345.6 -> «12 345,60»: spaces between thousands, a decimal comma, always two places (value ≥ 0)."""
    whole, frac = f"{value:.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return " ".join([whole, *groups]) + "," + frac


def rub(amount) -> str:
    """«6 500,00 руб.» — roubles with kopecks, as documents print money (SPEC §10)."""
    return f"{_grouped(kopecks(amount))} руб."


def percent(level) -> str:
    """«85,50 %» — a membership level with two decimals."""
    try:
        value = Decimal(level)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"Уровень членства «{level}» — не число.") from None
    if not value.is_finite():
        raise ValueError(f"Уровень членства «{level}» — не число.")
    value = value.quantize(KOPECK)
    return f"{value:.2f}".replace(".", ",") + " %"


def _filled(value) -> str:
    return text(value) or BLANK


def _words(value: str) -> list[str]:
    return re.findall(r"\w+", value.casefold().replace("ё", "е"))


def is_standard_attachment(name: str) -> bool:
    """Whether an attachment's name is one of the form's 3 standard lines, so the list does not repeat it: its first
    two words are that line's («Копия профсоюзной карточки», «реквизиты счёта», «копия отрывного талона …»)."""
    words = _words(name)[:2]
    return len(words) == 2 and any(_words(line)[:2] == words for line in STANDARD_ATTACHMENTS)


def addressee_lines(doc: PetitionDoc) -> list[str]:
    """The addressee block, a line each: the given one as it stands (already in the dative), else «Председателю»,
    the region and the chairman put in the dative by pymorphy3 (words not in the nominative stay as given; an
    unknown chairman is a blank line)."""
    from portal.documents.declension import organisation_dative, person_dative

    given = [line for line in (text(part) for part in (doc.addressee or "").splitlines()) if line]
    if given:
        return given
    region, chairman = text(doc.region_name), text(doc.chairman_name)
    return ["Председателю", organisation_dative(region) if region else BLANK,
            person_dative(chairman) if chairman else BLANK]


def signatory(name: str) -> str:
    """«/ Петрова Е.В. /» with no-break spaces, so the signature line never splits the name."""
    name = text(name)
    return f"/{NBSP}{name.replace(' ', NBSP)}{NBSP}/" if name else f"/{NBSP}{BLANK}{NBSP}/"


def petition_rows(context: dict) -> list[dict]:
    """The petition's facts as labelled fields: each name or title in the nominative after its label."""
    return [{"label": label, "value": value} for label, value in (
        ("Первичная профсоюзная организация", context["primary_name"]),
        ("Член Профсоюза (фамилия, имя, отчество)", context["member_full_name"]),
        ("Санаторно-курортное учреждение", context["sanatorium"]),
        ("Период лечения", f"с {context['treatment_start']} по {context['treatment_end']}"),
        ("Профсоюзный стаж", context["tenure"]),
        ("Уровень профсоюзного членства первичной профсоюзной организации на момент обращения", context["level"]),
    )]


def petition_context(doc: PetitionDoc) -> dict:
    """Everything form No. 1 prints, as plain strings (the same for the DOCX and the PDF)."""
    override = text(doc.override_reason)
    extra = []
    for name in (text(a) for a in doc.attachments):
        if name and not is_standard_attachment(name) and name not in extra:
            extra.append(name)
    context = {
        "number": _filled(doc.number),
        "addressee": addressee_lines(doc),
        "region_name": _filled(doc.region_name),
        "chairman_name": _filled(doc.chairman_name),
        "primary_name": _filled(doc.primary_name),
        "decision_date": ru_date(doc.decision_date) or BLANK,
        "decision_number": _filled(doc.decision_number),
        "member_full_name": _filled(doc.member_full_name),
        "sanatorium": _filled(doc.sanatorium),
        "treatment_start": ru_date(doc.treatment_start) or BLANK,
        "treatment_end": ru_date(doc.treatment_end) or BLANK,
        "tenure": years(int(doc.tenure_years)),
        "level": percent(doc.membership_level),
        "amount": rub(doc.amount),
        "basis": BASIS_OVERRIDE if override else BASIS_REGULATION,
        "override_reason": override,
        "attachments": [*STANDARD_ATTACHMENTS, *extra],
        "chair_name": _filled(doc.chair_name),
        "signatory": signatory(doc.chair_name),
        "filed_on": ru_date(doc.filed_on) or BLANK,
    }
    context["rows"] = petition_rows(context)
    return context


# ---- the petition -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _docx_template_bytes() -> bytes:
    return DOCX_TEMPLATE.read_bytes()


def petition_docx(doc: PetitionDoc) -> bytes:
    """Form No. 1 as a DOCX (for a chair who edits before printing and signing)."""
    from docxtpl import DocxTemplate

    context = petition_context(doc)
    # Word may break a line at an ordinary space: keep «6 500,00 руб.» and «85,50 %» on one line.
    context["amount"] = context["amount"].replace(" ", NBSP)
    context["level"] = context["level"].replace(" ", NBSP)
    context["rows"] = petition_rows(context)
    tpl = DocxTemplate(BytesIO(_docx_template_bytes()))
    # The document XML is the (trusted) template; petition data arrives only as values, escaped for XML.
    env = Environment(autoescape=True, undefined=StrictUndefined)
    tpl.render(context, jinja_env=env, autoescape=True)
    out = BytesIO()
    tpl.save(out)
    return out.getvalue()


def petition_pdf(doc: PetitionDoc) -> bytes:
    """Form No. 1 as a one-page PDF."""
    return render_pdf(HTML_TEMPLATE, p=petition_context(doc))


# ---- the payment register -----------------------------------------------------------------------------------------

REGISTER_TITLE = "Реестр на выплату единовременной материальной помощи на санаторно-курортное лечение"
REGISTER_SHEET = "Реестр"
# (header, width)
REGISTER_COLUMNS = (
    ("№ п/п", 6), ("№ ходатайства", 17), ("Ф.И.О. члена Профсоюза", 32), ("Первичная профсоюзная организация", 40),
    ("Сумма, руб.", 14), ("Основание", 30), ("Счёт получателя", 24), ("БИК", 12), ("Банк", 32),
)
MONEY_FORMAT = "#,##0.00"
# openpyxl writes a number as "%.16g" of a double; a double keeps every decimal of up to 15 significant digits,
# so amounts with kopecks below 10^13 roubles are written exactly (the cell's XML holds the Decimal's digits).
EXACT_BELOW = Decimal(10) ** 13
OVERRIDE_BASIS = "решение председателя (п. 4.5)"


def register_basis(row: RegisterRow) -> str:
    """What the payment rests on: the presidium's decision (date, number), or the chairman's override."""
    if row.override:
        return OVERRIDE_BASIS
    parts = ["решение президиума"]
    if row.decision_date:
        parts.append(f"от {ru_date(row.decision_date)}")
    if text(row.decision_number):
        parts.append(f"№ {text(row.decision_number)}")
    return " ".join(parts)


def payment_register_xlsx(rows: list[RegisterRow], region_name: str, made_on: date) -> bytes:
    """The register of approved petitions for the accountant: one row each, amounts as exact numbers, a total."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    from portal.spreadsheets import save_xlsx

    amounts = [kopecks(r.amount) for r in rows]  # refuses a bad amount before anything is written
    # Summed as Decimal and written as a value: a float SUM() formula could be off by a kopeck and shows
    # nothing until the file is recalculated.
    total = sum(amounts, Decimal("0.00"))
    if abs(total) >= EXACT_BELOW or any(abs(a) >= EXACT_BELOW for a in amounts):
        raise ValueError("Сумма в реестре слишком велика для точной записи в XLSX.")
    wb = Workbook()
    ws = wb.active
    ws.title = REGISTER_SHEET
    last = get_column_letter(len(REGISTER_COLUMNS))
    for i, (_, width) in enumerate(REGISTER_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    thin = Side(style="thin")
    grid = Border(left=thin, right=thin, top=thin, bottom=thin)

    ws.append([REGISTER_TITLE])
    ws.append([text(region_name)])
    ws.append([f"Дата составления: {ru_date(made_on)}"])
    for r in (1, 2, 3):
        ws.merge_cells(f"A{r}:{last}{r}")
        ws.cell(r, 1).alignment = Alignment(horizontal="center", wrap_text=True)
    ws.cell(1, 1).font = Font(bold=True, size=12)
    ws.row_dimensions[1].height = 32
    ws.append([])
    ws.append([title for title, _ in REGISTER_COLUMNS])
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font, cell.alignment, cell.border = bold, wrap, grid

    for n, (row, amount) in enumerate(zip(rows, amounts, strict=True), start=1):
        ws.append([n, text(row.number), text(row.member_full_name), text(row.primary_name), amount,
                   register_basis(row), text(row.account_number), text(row.bik), text(row.bank_name)])
        cells = ws[ws.max_row]
        for cell in cells:
            cell.border, cell.alignment = grid, wrap
        cells[4].number_format = MONEY_FORMAT
        # Account numbers and BIKs are identifiers: text, so 044525225 keeps its zero and 20 digits stay exact.
        cells[6].number_format = cells[7].number_format = "@"

    count = len(rows)
    ws.append(["", "", f"Итого: {count} {plural(count, 'ходатайство', 'ходатайства', 'ходатайств')}", "", total])
    cells = ws[ws.max_row]
    for cell in cells:
        cell.font = bold
    cells[4].number_format = MONEY_FORMAT
    cells[4].border = grid
    ws.append([])
    ws.append(["", "", "Председатель ____________________"])
    ws.append(["", "", "Главный бухгалтер ____________________"])

    ws.freeze_panes = ws.cell(header_row + 1, 1)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.properties.title = REGISTER_TITLE
    wb.properties.creator = "Профпортал"
    return save_xlsx(wb)  # text typed by people is written as text cells, never as a formula
