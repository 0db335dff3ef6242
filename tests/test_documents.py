"""Documents (SPEC §10): the 152-FZ consent as DOCX and PDF, the batch PDF, the member card copy, Russian dates,
escaping of member data in both formats, and WeasyPrint's URL fetcher that reads nothing but our own files."""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import BytesIO

import docx
import pytest

from portal.documents import consent_batch_pdf, consent_docx, consent_pdf, member_card_pdf, ru_date
from portal.documents.data import PROFCARDS_OPERATOR
from portal.documents.paths import DOC_TEMPLATES
from portal.documents.pdf import html_to_pdf
from portal.extensions import db
from portal.registry import operations as ops
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
)
from tests.conftest import create_member, create_org
from tests.document_helpers import docx_text, flat, pdf_pages

CONSENT_LINE = ("В соответствии с ФЗ № 152-ФЗ «О персональных данных» даю своё согласие на использование моих "
                "персональных данных")


@dataclass
class Orgs:
    school: Organisation
    school2: Organisation
    far_school: Organisation
    plain: Member


@pytest.fixture
def orgs(app) -> Orgs:
    """A small tree without user accounts (the shared `world` fixture hashes six passwords)."""
    central = create_org(None, OrgLevel.CENTRAL, "ЦС Профсоюза")
    region = create_org(central, OrgLevel.REGIONAL, "Липецкая областная организация")
    city = create_org(region, OrgLevel.TERRITORIAL, "Городская организация г. Липецка")
    school = create_org(city, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 17 г. Липецка")
    school2 = create_org(city, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 5 г. Липецка")
    omsk = create_org(central, OrgLevel.REGIONAL, "Омская областная организация")
    far_school = create_org(omsk, OrgLevel.PRIMARY, "ППО МБОУ СОШ № 3 г. Омска")
    plain = create_member(school, last_name="Алексеева", first_name="Анна")
    return Orgs(school, school2, far_school, plain)


@pytest.fixture
def sokolova(orgs) -> Member:
    org = orgs.school
    org.inn, org.address, org.chair_name = "4826012345", "г. Липецк, ул. Ленина, д. 1", "Петрова Е. В."
    return create_member(org, last_name="Соколова", first_name="Алёна", patronymic="Семёновна",
                         birth_date=date(1985, 3, 14), address="г. Липецк, ул. Мира, д. 5, кв. 12",
                         phone="+7 900 123-45-67", email="sokolova@example.org")


# ---- Russian dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("month, word", list(enumerate(
    ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября",
     "декабря"], start=1)))
def test_ru_date_writes_the_genitive_month(month, word):
    assert ru_date(date(2018, month, 23)) == f"23 {word} 2018 г."


def test_ru_date_of_a_datetime_and_of_nothing():
    assert ru_date(datetime(2018, 9, 3, 23, 59)) == "3 сентября 2018 г."
    assert ru_date(None) == ""


# ---- the consent ---------------------------------------------------------------------------------------------


def test_consent_docx_is_filled_from_the_member_card(sokolova):
    text = docx_text(consent_docx(sokolova))
    for expected in ["Соколова Алёна Семёновна", "14 марта 1985 г.", CONSENT_LINE, "ППО МБОУ СОШ № 17 г. Липецка",
                     "ИНН 4826012345", "г. Липецк, ул. Мира, д. 5, кв. 12", "+7 900 123-45-67", "sokolova@example.org",
                     "Липецкая областная организация", "ЦС Профсоюза", PROFCARDS_OPERATOR, "учитель математики"]:
        assert expected in text, expected
    assert "{{" not in text and "{%" not in text


def test_consent_pdf_is_one_page_with_the_member_and_the_organisation(sokolova):
    pages = pdf_pages(consent_pdf(sokolova))
    assert len(pages) == 1
    text = pages[0]
    for expected in ["Соколова Алёна Семёновна", "14 марта 1985 г.", CONSENT_LINE, "ППО МБОУ СОШ № 17 г. Липецка",
                     "ИНН 4826012345", "г. Липецк, ул. Мира, д. 5, кв. 12", "+7 900 123-45-67", "sokolova@example.org",
                     "Липецкая областная организация", PROFCARDS_OPERATOR,
                     # purposes, the period and the right to withdraw
                     "учёт членов Профсоюза", "статистическая отчётность", "электронного профсоюзного билета",
                     "ПРОФКАРДС", "может быть отозвано", "не более 30 дней",
                     # the stylesheet was loaded (through the safe fetcher): the title is upper-cased by CSS
                     "НА ОБРАБОТКУ ПЕРСОНАЛЬНЫХ ДАННЫХ"]:
        assert expected in text, expected


def test_consent_leaves_out_contacts_the_registry_does_not_have(orgs):
    m = orgs.plain
    assert not (m.address or m.phone or m.email)
    for text in (docx_text(consent_docx(m)), pdf_pages(consent_pdf(m))[0]):
        assert "Алексеева Анна Петровна" in text
        assert "Телефон:" not in text and "Адрес электронной почты:" not in text
        assert "Адрес места жительства:" not in text


def test_docx_and_pdf_say_the_same(sokolova):
    """The DOCX template is built by a script, the PDF from HTML: every paragraph of one is in the other."""
    document = docx.Document(BytesIO(consent_docx(sokolova)))
    pdf = pdf_pages(consent_pdf(sokolova))[0]
    paragraphs = [flat(p.text) for p in document.paragraphs if len(p.text) > 40]
    assert len(paragraphs) >= 7
    for p in paragraphs:
        assert p.casefold() in pdf.casefold(), p  # the PDF's title is upper-cased by CSS


def test_a_shared_block_reads_like_the_page_typeset_whole(sokolova, orgs):
    """A batch lays out an organisation's common part once and draws it into each page: same words, same page."""
    from portal.documents.data import consent_common, consent_data
    from portal.documents.pdf import render_pdf

    members = [sokolova, orgs.plain]
    data = consent_batch_pdf(members)
    assert b"/PortalBlock0" in data  # the two members of one school share the block
    for member, stamped in zip(members, pdf_pages(data), strict=True):
        whole = pdf_pages(render_pdf("consent/template.html", consents=[consent_data(member)], **consent_common()))
        assert len(whole) == 1
        assert sorted(whole[0].split()) == sorted(stamped.split())


def test_the_docx_template_is_built_by_its_script():
    spec = importlib.util.spec_from_file_location("build_docx", DOC_TEMPLATES / "build_docx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == (DOC_TEMPLATES / "consent" / "template.docx").read_bytes(), \
        "template.docx is stale: run .venv/bin/python doc_templates/build_docx.py"


# ---- the batch -----------------------------------------------------------------------------------------------


def test_batch_has_one_page_per_member_in_order(orgs):
    surnames = ["Агеева", "Белова", "Волкова", "Громова", "Дёмина", "Ершова", "Жукова", "Зуева", "Ильина", "Киселёва",
                "Лебедева", "Морозова", "Никитина", "Орлова"]
    members = [create_member(orgs.school if i % 3 else orgs.far_school, last_name=name, first_name="Ирина",
                             birth_date=date(1970 + i, 1 + i % 12, 1 + i)) for i, name in enumerate(surnames)]
    members.insert(5, create_member(orgs.school2, last_name="Одинокова", first_name="Вера"))  # typeset whole
    calls = []
    data = consent_batch_pdf(members, progress=lambda done, total: calls.append((done, total)))
    assert b"/PortalBlock0" in data and b"/PortalBlock1" in data and b"/PortalBlock2" not in data
    pages = pdf_pages(data)
    assert len(pages) == len(members)
    for m, text in zip(members, pages, strict=True):
        assert m.full_name in text and ru_date(m.birth_date) in text and CONSENT_LINE in text
        assert m.org.name in text
        others = [o for o in members if o is not m]
        assert not any(o.full_name in text for o in others)
    # 15 members go to two worker processes in two chunks; progress counts members, ends with all of them.
    assert calls[0] == (0, 15) and calls[-1] == (15, 15)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) >= 3


def test_a_small_batch_renders_in_process(orgs, sokolova):
    members = [orgs.plain, sokolova]
    calls = []
    pages = pdf_pages(consent_batch_pdf(members, lambda done, total: calls.append(done)))
    assert [m.full_name in p for m, p in zip(members, pages, strict=True)] == [True, True]
    assert calls == [0, 2]


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError):
        consent_batch_pdf([])


# ---- the member card -------------------------------------------------------------------------------------------


def test_member_card_copy_has_every_field_and_the_history(sokolova, orgs):
    m = sokolova
    m.department, m.card_status, m.card_number = "начальная школа", CardStatus.ISSUED, "2200000000000004"
    db.session.commit()
    ops.transfer_member(None, m, orgs.school2, date(2020, 9, 1), "перевод по месту работы")
    db.session.commit()
    db.session.refresh(m)
    text = pdf_pages(member_card_pdf(m))
    assert len(text) == 1
    text = text[0]
    for expected in ["ПРОФСОЮЗНАЯ КАРТОЧКА", "Соколова", "Алёна", "Семёновна", "14 марта 1985 г.", "женский",
                     "ППО МБОУ СОШ № 5 г. Липецка", "начальная школа", "учитель математики", "высшее", "работающий",
                     "безналичная", "1 сентября 2010 г.", "Профсоюзный стаж", "с 1 сентября 2010 г.",
                     "состоит на учёте", "г. Липецк, ул. Мира, д. 5, кв. 12", "+7 900 123-45-67",
                     "sokolova@example.org", "нет согласия", "ВЫДАН, № 2200000000000004", "История членства",
                     "вступление в Профсоюз", "перевод в другую первичную организацию",
                     "из «ППО МБОУ СОШ № 17 г. Липецка» в «ППО МБОУ СОШ № 5 г. Липецка»", "перевод по месту работы",
                     "Липецкая областная организация"]:
        assert expected in text, expected
    assert re.search(r"Профсоюзный стаж \d+ (год|года|лет) \(с 1 сентября 2010 г\.\)", text)


# ---- member data is data: escaping and template injection ---------------------------------------------------------


def _hostile_member() -> Member:
    """Built in memory: validation would never let such names into the registry."""
    central = Organisation(id=901, level=OrgLevel.CENTRAL, name="ЦС Профсоюза", path="/901/")
    region = Organisation(id=902, level=OrgLevel.REGIONAL, name="Region {{ config }}", parent=central,
                          path="/901/902/")
    school = Organisation(id=903, level=OrgLevel.PRIMARY, name="ППО «Школа» <i>&amp;</i> R&D", parent=region,
                          path="/901/902/903/", inn="", address="")
    member = Member(id=904, org=school, last_name="Иванова {{ 7*7 }}", first_name="{% for x in range(3) %}Мария",
                    patronymic="{%tr endfor %}", birth_date=date(1985, 3, 14), gender=Gender.FEMALE,
                    position="учитель <script>alert(1)</script>", education=Education.HIGHER,
                    dues_form=DuesForm.CASHLESS, joined_on=date(2010, 9, 1), tenure_start=date(2010, 9, 1),
                    category=Category.WORKING, department="", address="ул. <b>Ленина</b> & Co > 5\tкв.\x0b1",
                    phone="", email="a<b>@example.org", status=MemberStatus.ACTIVE, card_status=CardStatus.NOT_ORDERED,
                    consent_status=ConsentStatus.NONE)
    member.events = [MemberEvent(kind=EventKind.JOINED, on_date=date(2010, 9, 1), reason="<b>вступила</b> & {{ x }}")]
    return member


LITERALS = ["Иванова {{ 7*7 }}", "{% for x in range(3) %}Мария", "{%tr endfor %}", "Region {{ config }}",
            "ППО «Школа» <i>&amp;</i> R&D", "учитель <script>alert(1)</script>", "ул. <b>Ленина</b> & Co > 5",
            "a<b>@example.org"]


def test_docx_prints_member_data_literally(app):
    data = consent_docx(_hostile_member())
    text = docx_text(data)
    for literal in LITERALS:
        assert literal in text, literal
    assert "Иванова 49" not in text and "Мария Мария" not in text
    # Escaped in the XML itself (and the document still opens: python-docx parsed it above).
    import zipfile

    xml = zipfile.ZipFile(BytesIO(data)).read("word/document.xml").decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xml and "<script>" not in xml
    assert "&amp;amp;" in xml  # the name's own "&amp;" stays text


def test_pdf_prints_member_data_literally(app):
    member = _hostile_member()
    for data in (consent_pdf(member), member_card_pdf(member)):
        text = pdf_pages(data)[0]
        for literal in LITERALS:
            assert literal in text, literal
        assert "Иванова 49" not in text
    card = pdf_pages(member_card_pdf(member))[0]
    assert "<b>вступила</b> & {{ x }}" in card


# ---- WeasyPrint fetches nothing but our own files ----------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Recorder.hits.append(self.path)
        body = b"body::after { content: 'FETCHED-OVER-HTTP' }"
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _hostile_html(base: str, leak) -> str:
    return f"""<html><head>
<link rel="stylesheet" href="{base}/style.css">
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="stylesheet" href="{leak.as_uri()}">
<link rel="stylesheet" href="style.css">
<style>@import url("{base}/imported.css"); p {{ background: url("{base}/bg.png") }}</style>
</head><body>
<p>Документ</p>
<img src="http://127.0.0.1:1/x"><img src="{base}/x.png"><img src="file:///etc/passwd">
<img src="../../pyproject.toml"><img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/%3E">
</body></html>"""


def test_weasyprint_fetches_no_url_outside_the_templates(http_server, tmp_path):
    leak = tmp_path / "leak.css"
    leak.write_text("body::before { content: 'READ-FROM-OUTSIDE' }")
    html = _hostile_html(http_server, leak)

    text = pdf_pages(html_to_pdf(html, "consent/template.html"))[0]
    assert _Recorder.hits == []
    assert "READ-FROM-OUTSIDE" not in text and "FETCHED-OVER-HTTP" not in text and "root:" not in text
    assert "Документ" in text

    # The same HTML with WeasyPrint's default fetcher does read both: the test above can tell.
    from weasyprint import HTML

    text = pdf_pages(HTML(string=html, base_url=str(DOC_TEMPLATES / "consent") + "/").write_pdf())[0]
    assert _Recorder.hits and "READ-FROM-OUTSIDE" in text


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:1/x", "https://example.org/a.css", "ftp://127.0.0.1/x", "file:///etc/passwd",
    "file://localhost/etc/passwd", "file://evil.example/share/x.css",
    (DOC_TEMPLATES / "consent").as_uri() + "/../../pyproject.toml", (DOC_TEMPLATES / "nothing-here.css").as_uri(),
    "javascript:alert(1)", "gopher://127.0.0.1:70/x",
])
def test_the_fetcher_refuses(url):
    from portal.documents import safe_url_fetcher

    with pytest.raises(ValueError):
        safe_url_fetcher(url)


def test_the_fetcher_serves_template_files_and_data_urls():
    from portal.documents import safe_url_fetcher

    response = safe_url_fetcher((DOC_TEMPLATES / "consent" / "style.css").as_uri())
    assert b"@page" in response.read() and response.content_type == "text/css"
    assert safe_url_fetcher("data:text/plain,hello").read() == b"hello"


def test_the_fetcher_does_not_follow_a_symlink_out(tmp_path):
    from portal.documents.fetcher import SafeURLFetcher

    root, outside = tmp_path / "templates", tmp_path / "secret.css"
    root.mkdir()
    outside.write_text("secret")
    (root / "ok.css").write_text("ok")
    (root / "link.css").symlink_to(outside)
    fetcher = SafeURLFetcher(roots=(root,))
    assert fetcher((root / "ok.css").as_uri()).read() == b"ok"
    with pytest.raises(ValueError):
        fetcher((root / "link.css").as_uri())
