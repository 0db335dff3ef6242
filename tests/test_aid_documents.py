"""Documents of material aid (seed 004, SPEC §6 and §10): the petition, form No. 1, as DOCX and PDF read back with
python-docx and pypdf, and the accountant's payment register as XLSX read back with openpyxl (and from its XML)."""

from __future__ import annotations

import importlib.util
import re
import zipfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from io import BytesIO

import docx
import openpyxl
import pytest
from pypdf import PdfReader

from portal.documents.aid import (
    BLANK,
    OVERRIDE_BASIS,
    REGISTER_COLUMNS,
    REGISTER_TITLE,
    STANDARD_ATTACHMENTS,
    PetitionDoc,
    RegisterRow,
    payment_register_xlsx,
    percent,
    petition_context,
    petition_docx,
    petition_pdf,
    rub,
)
from portal.documents.paths import DOC_TEMPLATES
from tests.document_helpers import docx_text, pdf_pages
from workflows.aid import SEED_ADDRESSEE

PETITION = PetitionDoc(
    number="МП-2026-000123",
    region_name="Саратовская областная организация Профсоюза работников здравоохранения РФ",
    chairman_name="Прохоров С.А.",
    primary_name="ППО ГУЗ «Саратовская городская поликлиника № 2»",
    decision_date=date(2026, 3, 18),
    decision_number="5",
    member_full_name="Соколова Алёна Семёновна",
    sanatorium="«Светлана» (г. Сочи)",
    treatment_start=date(2026, 3, 3),
    treatment_end=date(2026, 3, 16),
    tenure_years=7,
    membership_level=Decimal("85.50"),
    amount=Decimal("6500.00"),
    chair_name="Петрова Е.В.",
    filed_on=date(2026, 3, 20),
    addressee=SEED_ADDRESSEE,
)
DATIVE = "Председателю Саратовской областной организации Профсоюза работников здравоохранения РФ Прохорову С.А."

SENTENCE = ("Профсоюзный комитет на основании решения заседания профсоюзного комитета от 18 марта 2026 г. № 5 "
            "ходатайствует об оказании единовременной материальной помощи члену Профсоюза, получавшему "
            "санаторно-курортное лечение: "
            "Первичная профсоюзная организация: ППО ГУЗ «Саратовская городская поликлиника № 2» "
            "Член Профсоюза (фамилия, имя, отчество): Соколова Алёна Семёновна "
            "Санаторно-курортное учреждение: «Светлана» (г. Сочи) "
            "Период лечения: с 3 марта 2026 г. по 16 марта 2026 г. "
            "Профсоюзный стаж: 7 лет "
            "Уровень профсоюзного членства первичной профсоюзной организации на момент обращения: 85,50 %")


def expected_parts(doc: PetitionDoc = PETITION) -> list[str]:
    return [
        DATIVE,
        "Ходатайство № МП-2026-000123",
        SENTENCE,
        "Размер материальной помощи по Положению: 6 500,00 руб.",
        "Документы прилагаются: 1. копия профсоюзной карточки члена Профсоюза; 2. копия отрывного талона, либо "
        "документа, подтверждающего прохождение лечения в санаторно-курортном учреждении; 3. реквизиты счета, "
        "открытого члену Профсоюза в кредитной организации, для перечисления суммы материальной помощи.",
        "Председатель первичной профсоюзной организации",
        "_______________ / Петрова Е.В. /",
        "(подпись)",
        "Дата: 20 марта 2026 г.",
        "М.П.",
    ]


# ---- the petition, form No. 1 --------------------------------------------------------------------------------


def test_petition_docx_has_every_field_of_form_no_1():
    text = docx_text(petition_docx(PETITION))
    for part in expected_parts():
        assert part in text, part
    assert "по решению председателя" not in text and "Обоснование" not in text
    assert "г.." not in text and BLANK not in text
    assert text.index("Председателю") < text.index("Ходатайство") < text.index("Документы прилагаются")
    assert text.index("Документы прилагаются") < text.index("М.П.")


def test_petition_pdf_is_one_page_with_every_field():
    pages = pdf_pages(petition_pdf(PETITION))
    assert len(pages) == 1
    for part in expected_parts():
        assert part in pages[0], part
    assert "по решению председателя" not in pages[0]
    meta = PdfReader(BytesIO(petition_pdf(PETITION))).metadata
    assert meta.title == "Ходатайство № МП-2026-000123"


def test_names_and_titles_stand_in_the_nominative_after_labels():
    """Issue 9 item 7: no name is run into the sentence where Russian would decline it («Профсоюзный комитет
    Первичная профсоюзная организация…», «члену Профсоюза Семёнова Алёна Петровна», «в санатории Санаторий …»)."""
    doc = replace(PETITION, primary_name="Первичная профсоюзная организация МБОУ «СОШ № 5» г. Липецк",
                  member_full_name="Семёнова Алёна Петровна", sanatorium="Санаторий «Белокуриха»")
    for text in (docx_text(petition_docx(doc)), pdf_pages(petition_pdf(doc))[0]):
        assert "Первичная профсоюзная организация: Первичная профсоюзная организация МБОУ «СОШ № 5» г. Липецк" in text
        assert "Член Профсоюза (фамилия, имя, отчество): Семёнова Алёна Петровна" in text
        assert "Санаторно-курортное учреждение: Санаторий «Белокуриха»" in text
        for wrong in ("комитет Первичная", "Профсоюза Семёнова", "санатории Санаторий", "в санатории"):
            assert wrong not in text, wrong


def test_the_signatory_name_never_splits_across_lines():
    doc = replace(PETITION, chair_name="Константинопольская-Благовещенская Е.В.")
    paragraphs = [p.text for t in docx.Document(BytesIO(petition_docx(doc))).tables for row in t.rows
                  for c in row.cells for p in c.paragraphs]
    assert "_______________ /\u00a0Константинопольская-Благовещенская\u00a0Е.В.\u00a0/" in paragraphs
    raw = PdfReader(BytesIO(petition_pdf(doc))).pages[0].extract_text()
    line = next(x for x in raw.splitlines() if "Константинопольская" in x)
    assert "/ Константинопольская-Благовещенская Е.В. /" in " ".join(line.split())


def test_the_addressee_block_stands_as_the_regulation_gives_it():
    """Form No. 1 is addressed in the dative, line by line as the seed prints it; the nominative name never shows."""
    lines = SEED_ADDRESSEE.splitlines()
    assert petition_context(PETITION)["addressee"] == lines
    assert lines[-1] == "Прохорову С.А."
    document = docx.Document(BytesIO(petition_docx(PETITION)))
    paragraphs = [p.text for p in document.paragraphs]
    start = paragraphs.index("Председателю")
    assert paragraphs[start:start + len(lines)] == lines
    for text in (docx_text(petition_docx(PETITION)), pdf_pages(petition_pdf(PETITION))[0]):
        assert DATIVE in text
        assert "Саратовская областная" not in text and "Прохоров С.А." not in text


def test_without_an_addressee_the_region_and_chairman_are_put_in_the_dative():
    """No block written: the region's and the chairman's names are declined by pymorphy3, never printed in the
    nominative after «Председателю»; a name already in the dative stays as it is."""
    doc = replace(PETITION, addressee="", region_name="Липецкая областная организация Общероссийского Профсоюза "
                  "образования", chairman_name="Семёнов А.П.")
    lines = ["Председателю", "Липецкой областной организации Общероссийского Профсоюза образования", "Семёнову А.П."]
    assert petition_context(doc)["addressee"] == lines
    for text in (docx_text(petition_docx(doc)), pdf_pages(petition_pdf(doc))[0]):
        assert " ".join(lines) + " Ходатайство" in text
        assert "Липецкая областная" not in text and "Семёнов А.П." not in text
    doc = replace(PETITION, addressee="", region_name="Саратовской областной организации", chairman_name="")
    assert petition_context(doc)["addressee"] == ["Председателю", "Саратовской областной организации", BLANK]
    assert f"Председателю Саратовской областной организации {BLANK} Ходатайство" in docx_text(petition_docx(doc))


def test_docx_and_pdf_say_the_same():
    doc = replace(PETITION, override_reason="тяжёлое заболевание", attachments=("Справка санатория",))
    assert sorted(docx_text(petition_docx(doc)).split()) == sorted(pdf_pages(petition_pdf(doc))[0].split())


def test_the_docx_template_is_built_by_its_script():
    spec = importlib.util.spec_from_file_location("build_docx", DOC_TEMPLATES / "build_docx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build_petition() == (DOC_TEMPLATES / "aid_petition" / "template.docx").read_bytes(), \
        "aid_petition/template.docx is stale: run .venv/bin/python doc_templates/build_docx.py"


@pytest.mark.parametrize("years, words", [
    (1, "1 год"), (2, "2 года"), (4, "4 года"), (5, "5 лет"), (11, "11 лет"), (12, "12 лет"), (14, "14 лет"),
    (21, "21 год"), (22, "22 года"), (25, "25 лет"), (51, "51 год"), (111, "111 лет"),
])
def test_tenure_has_the_right_plural(years, words):
    doc = replace(PETITION, tenure_years=years)
    assert petition_context(doc)["tenure"] == words
    assert f"Профсоюзный стаж: {words} " in docx_text(petition_docx(doc))


def test_pdf_writes_the_plural_too():
    text = pdf_pages(petition_pdf(replace(PETITION, tenure_years=21)))[0]
    assert "Профсоюзный стаж: 21 год " in text and "21 лет" not in text


@pytest.mark.parametrize("amount, words", [
    (Decimal("6500.00"), "6 500,00 руб."), (Decimal("6500"), "6 500,00 руб."), (Decimal("15000.5"), "15 000,50 руб."),
    (Decimal("999.99"), "999,99 руб."), (Decimal("1234567.89"), "1 234 567,89 руб."), (Decimal("0"), "0,00 руб."),
    (Decimal("100000"), "100 000,00 руб."), (3900, "3 900,00 руб."), ("4800.00", "4 800,00 руб."),
])
def test_amounts_have_roubles_and_kopecks(amount, words):
    assert rub(amount) == words


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("6500.001"), Decimal("-1"), 6500.0, "много",
                                 None])
def test_a_bad_amount_is_refused_in_russian(bad):
    with pytest.raises(ValueError, match="Сумма"):
        rub(bad)
    with pytest.raises(ValueError, match="Сумма"):
        petition_docx(replace(PETITION, amount=bad))


@pytest.mark.parametrize("level, words", [
    (Decimal("85.50"), "85,50 %"), (Decimal("100"), "100,00 %"), (Decimal("79.99"), "79,99 %"), (Decimal("80"), "80,00 %"),
])
def test_membership_level_has_two_decimals(level, words):
    assert percent(level) == words
    assert f"на момент обращения: {words} " in docx_text(petition_docx(replace(PETITION, membership_level=level)))


@pytest.mark.parametrize("bad", [Decimal("NaN"), "сто", None])
def test_a_bad_level_is_refused_in_russian(bad):
    with pytest.raises(ValueError, match="Уровень членства"):
        petition_pdf(replace(PETITION, membership_level=bad))


def test_the_chairmans_override_is_marked_with_its_reason():
    doc = replace(PETITION, amount=Decimal("12000"), override_reason="Тяжёлое заболевание, лечение по жизненным показаниям")
    line = "Размер материальной помощи по решению председателя (п. 4.5 Положения): 12 000,00 руб."
    reason = "Обоснование решения председателя: Тяжёлое заболевание, лечение по жизненным показаниям"
    for text in (docx_text(petition_docx(doc)), pdf_pages(petition_pdf(doc))[0]):
        assert line in text and reason in text
        assert "по Положению:" not in text
        assert text.index(line) < text.index(reason) < text.index("Документы прилагаются")


def test_a_reason_of_only_spaces_is_not_an_override():
    assert petition_context(replace(PETITION, override_reason="  \n\t "))["basis"] == "по Положению"


def test_more_attachments_follow_the_three_standard_lines():
    doc = replace(PETITION, attachments=("Справка санатория о прохождении лечения", STANDARD_ATTACHMENTS[0].upper(),
                                         "", "Копия паспорта"))
    expected = ("3. реквизиты счета, открытого члену Профсоюза в кредитной организации, для перечисления суммы "
                "материальной помощи. 4. Справка санатория о прохождении лечения 5. Копия паспорта")
    for text in (docx_text(petition_docx(doc)), pdf_pages(petition_pdf(doc))[0]):
        assert expected in text
        assert text.count("копия профсоюзной карточки") == 1  # a standard line passed again is not repeated
        assert "6." not in text


@pytest.mark.parametrize("name, standard", [
    ("копия профсоюзной карточки", True), ("Копия профсоюзной карточки члена Профсоюза;", True),
    ("реквизиты счёта", True), ("Реквизиты счета для перечисления", True),
    ("копия отрывного талона или документ о прохождении лечения", True),
    ("копия паспорта", False), ("копия", False), ("иной документ", False), ("Справка санатория", False),
])
def test_the_standard_lines_are_not_repeated(name, standard):
    lines = petition_context(replace(PETITION, attachments=(name, name)))["attachments"]
    assert lines[:3] == list(STANDARD_ATTACHMENTS)
    assert lines[3:] == ([] if standard else [name])


def test_an_unknown_chairman_leaves_a_blank_line():
    doc = replace(PETITION, chairman_name="", addressee="")
    for text in (docx_text(petition_docx(doc)), pdf_pages(petition_pdf(doc))[0]):
        assert f"работников здравоохранения РФ {BLANK} Ходатайство" in text


HOSTILE = ["Иванова {{ 7*7 }}", "{% for x in range(3) %}Мария", "{%tr endfor %}", "<script>alert(1)</script>",
           "ППО «Школа» <i>&amp;</i> R&D", "{%p endif %}", "санаторий <b>Ромашка</b> & Co > 5", "№ {{ config }}"]


def _hostile() -> PetitionDoc:
    return replace(PETITION, number=HOSTILE[7], addressee=f"Председателю\n{HOSTILE[2]}\n{HOSTILE[5]}",
                   primary_name=HOSTILE[4], decision_number=HOSTILE[1], member_full_name=HOSTILE[0],
                   sanatorium=HOSTILE[6], chair_name=HOSTILE[3], override_reason="причина {{ 7*7 }} <b>x</b>",
                   attachments=("<img src=x onerror=alert(1)>", "{{ amount }}"))


def test_docx_prints_hostile_input_literally():
    data = petition_docx(_hostile())
    text = docx_text(data)
    for literal in [*HOSTILE, "причина {{ 7*7 }} <b>x</b>", "<img src=x onerror=alert(1)>", "{{ amount }}"]:
        assert literal in text, literal
    assert "Иванова 49" not in text and "причина 49" not in text and "Мария Мария" not in text
    xml = zipfile.ZipFile(BytesIO(data)).read("word/document.xml").decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xml and "<script>" not in xml
    assert "&amp;amp;" in xml


def test_pdf_prints_hostile_input_literally():
    text = pdf_pages(petition_pdf(_hostile()))[0]
    squeezed = text.replace(" ", "")  # the extractor puts a space where a line wraps, e.g. «</ script>»
    for literal in [*HOSTILE, "причина {{ 7*7 }} <b>x</b>", "<img src=x onerror=alert(1)>", "{{ amount }}"]:
        assert literal.replace(" ", "") in squeezed, literal
    assert "Иванова 49" not in text and "причина 49" not in text


def test_control_characters_do_not_break_the_docx():
    doc = replace(PETITION, member_full_name="Соколова\x00 Алёна\x0b\tСемёновна", override_reason="строка 1\nстрока 2")
    text = docx_text(petition_docx(doc))  # python-docx would refuse invalid XML
    assert "Соколова Алёна Семёновна" in text and "строка 1 строка 2" in text


# ---- the payment register -------------------------------------------------------------------------------------

ROWS = [
    RegisterRow("МП-2026-000001", "Соколова Алёна Семёновна", "ППО ГУЗ «Поликлиника № 2»", Decimal("3900.10"),
                date(2026, 3, 25), "7", False, "40817810000000000001", "044525225", "ПАО Сбербанк"),
    RegisterRow("МП-2026-000002", "=cmd|' /C calc'!A0", "+7 ППО", Decimal("4800.20"), date(2026, 3, 25), "7", False,
                "00817810099910004312", "004525225", "@SUM(1+1)"),
    RegisterRow("МП-2026-000003", "Иванов Пётр Ильич", "-ППО больницы", Decimal("12345.67"), None, "", True,
                "40817810500000000003", "045004641", "ПАО Сбербанк, Сибирский банк"),
]
HEADER_ROW = 5


def _sheet(data: bytes):
    return openpyxl.load_workbook(BytesIO(data)).active


def _raw_values(data: bytes, column: str) -> dict[int, str]:
    """The numbers of one column exactly as written in the sheet's XML (openpyxl reads them back as floats)."""
    xml = zipfile.ZipFile(BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    return {int(r): v for r, v in re.findall(rf'<c r="{column}(\d+)"[^>]*t="n"[^>]*><v>([^<]+)</v>', xml)}


def test_register_has_title_region_date_and_header():
    ws = _sheet(payment_register_xlsx(ROWS, "Саратовская областная организация", date(2026, 3, 26)))
    assert ws["A1"].value == REGISTER_TITLE
    assert ws["A2"].value == "Саратовская областная организация"
    assert ws["A3"].value == "Дата составления: 26 марта 2026 г."
    assert [c.value for c in ws[HEADER_ROW]] == [title for title, _ in REGISTER_COLUMNS]
    assert ws.freeze_panes == f"A{HEADER_ROW + 1}"


def test_register_rows_amounts_and_basis():
    data = payment_register_xlsx(ROWS, "Саратовская областная организация", date(2026, 3, 26))
    ws = _sheet(data)
    first = [c.value for c in ws[HEADER_ROW + 1]]
    assert first == [1, "МП-2026-000001", "Соколова Алёна Семёновна", "ППО ГУЗ «Поликлиника № 2»", 3900.1,
                     "решение президиума от 25 марта 2026 г. № 7", "40817810000000000001", "044525225", "ПАО Сбербанк"]
    assert ws.cell(HEADER_ROW + 3, 6).value == OVERRIDE_BASIS == "решение председателя (п. 4.5)"
    raw = _raw_values(data, "E")
    for i, row in enumerate(ROWS, start=HEADER_ROW + 1):
        cell = ws.cell(i, 5)
        assert cell.data_type == "n" and cell.number_format == "#,##0.00"
        assert Decimal(raw[i]) == row.amount


def test_register_total_is_the_exact_decimal_sum():
    amounts = [Decimal("5817.82"), Decimal("14937.07"), Decimal("4323.44"), Decimal("8349.18"), Decimal("5472.93")]
    rows = [replace(ROWS[0], number=f"МП-{i}", amount=a) for i, a in enumerate(amounts)]
    assert sum(float(a) for a in amounts) != float(sum(amounts))  # a float sum would be off
    data = payment_register_xlsx(rows, "Р", date(2026, 3, 26))
    ws = _sheet(data)
    total_row = HEADER_ROW + len(rows) + 1
    assert ws.cell(total_row, 3).value == "Итого: 5 ходатайств"
    total = ws.cell(total_row, 5)
    assert total.data_type == "n" and not str(total.value).startswith("=")  # a value, not a formula
    assert Decimal(_raw_values(data, "E")[total_row]) == Decimal("38900.44")


def test_register_keeps_accounts_and_bik_as_text():
    ws = _sheet(payment_register_xlsx(ROWS, "Р", date(2026, 3, 26)))
    account, bik = ws.cell(HEADER_ROW + 2, 7), ws.cell(HEADER_ROW + 2, 8)
    assert (account.value, bik.value) == ("00817810099910004312", "004525225")
    assert account.data_type == bik.data_type == "s"
    assert account.number_format == bik.number_format == "@"


def test_register_neutralises_formulas():
    data = payment_register_xlsx(ROWS, "=HYPERLINK(\"http://evil\")", date(2026, 3, 26))
    ws = _sheet(data)
    second = HEADER_ROW + 2
    # Text cells holding the text as typed (no visible apostrophe), never formulas (portal/spreadsheets.py).
    assert ws.cell(second, 3).value == "=cmd|' /C calc'!A0"
    assert ws.cell(second, 4).value == "+7 ППО"
    assert ws.cell(second, 9).value == "@SUM(1+1)"
    assert ws.cell(HEADER_ROW + 3, 4).value == "-ППО больницы"
    assert ws["A2"].value == "=HYPERLINK(\"http://evil\")"
    assert all(ws.cell(r, c).data_type == "s" for r, c in ((second, 3), (second, 4), (second, 9), (2, 1)))
    xml = zipfile.ZipFile(BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml  # not a single formula in the file


def test_an_empty_register_totals_zero():
    ws = _sheet(payment_register_xlsx([], "Р", date(2026, 3, 26)))
    assert ws.cell(HEADER_ROW + 1, 3).value == "Итого: 0 ходатайств"
    assert ws.cell(HEADER_ROW + 1, 5).value == 0


@pytest.mark.parametrize("bad", [Decimal("1.005"), Decimal("NaN"), Decimal("-100"), 100.5, Decimal("10000000000000")])
def test_register_refuses_an_amount_it_cannot_write_exactly(bad):
    with pytest.raises(ValueError, match="Сумма"):
        payment_register_xlsx([replace(ROWS[0], amount=bad)], "Р", date(2026, 3, 26))
