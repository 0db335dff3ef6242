"""The primary chair's consent and card path, in a real browser: print one consent form and a batch, record a signed
consent with a scan, find the member by consent status, put consenting members into a card request (a member without
consent is refused) and submit it.

Every step is a click or a typed value on the page; what the chair sees is asserted, and the stored result is read back
(the downloaded PDFs with pypdf, the database through the test's own session).
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date
from io import BytesIO

import pytest
from docx import Document
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from portal.auth.models import User
from portal.cards.models import CardRequest, RequestState
from portal.consent import operations as consent_ops
from portal.consent.models import ConsentRecord
from portal.extensions import db
from portal.flows import WorkflowHistory
from portal.registry.models import CardStatus, ConsentStatus, Member, Organisation
from tests.browser.conftest import browser_login, fresh_session
from tests.conftest import create_member, ready_for_consent

pytestmark = pytest.mark.browser

SIGNER = ("Королёва", "Вера", "Николаевна")
BATCH = [("Сидорова", "Анна", "Павловна"), ("Петрова", "Ольга", "Ивановна"), ("Белова", "Нина", "Сергеевна")]
NO_CONSENT = ("Антонова", "Жанна", "Олеговна")


def full(name: tuple[str, str, str]) -> str:
    return " ".join(name)


def png_bytes() -> bytes:
    """A real 2×2 PNG (what a phone photo of the signed form would be, only smaller)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\xff\xff" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def pdf_pages(path) -> list[str]:
    """The text of each page of a downloaded PDF, whitespace folded."""
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF-"), data[:20]
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(BytesIO(data)).pages]


def members_row(page, name: str):
    return page.get_by_test_id("members-table").locator("tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True))


def open_member_list(page) -> None:
    page.get_by_test_id("navbar").get_by_role("link", name="Члены Профсоюза", exact=True).click()
    expect(page.get_by_role("heading", name="Члены Профсоюза")).to_be_visible()


def stored_member(org_id: int, last_name: str) -> Member:
    fresh_session()
    m = db.session.scalar(select(Member).where(Member.org_id == org_id, Member.last_name == last_name))
    db.session.expunge(m)
    fresh_session()
    return m


@pytest.fixture
def school_members(chair_world):
    fresh_session()
    org = db.session.get(Organisation, chair_world.school.id)
    # Every card holds what the consent form needs (home address, identity document) and the passport its
    # workplace and operator's address: printing is refused without them.
    for last, first, patronymic in [SIGNER, *BATCH, NO_CONSENT]:
        ready_for_consent(create_member(org, last_name=last, first_name=first, patronymic=patronymic,
                                        joined_on=date(2012, 9, 1)))
    fresh_session()
    return chair_world


def test_chair_prints_records_consent_and_submits_a_card_request(page, school_members, tmp_path):
    w = school_members
    school = w.school
    browser_login(page, w.chair.login)

    # The member list: nobody has a consent yet.
    open_member_list(page)
    for name in [SIGNER, *BATCH, NO_CONSENT]:
        expect(members_row(page, full(name))).to_contain_text("нет согласия")

    # 1. One consent form, printed from the member's consent page.
    page.get_by_role("link", name=full(SIGNER), exact=True).click()
    expect(page.get_by_test_id("member-name")).to_have_text(full(SIGNER))
    page.get_by_role("link", name="Согласие", exact=True).click()
    expect(page.get_by_role("heading", name="Согласие на обработку персональных данных")).to_be_visible()
    expect(page.get_by_test_id("consent-state")).to_have_text("нет согласия")
    with page.expect_download() as got:
        page.get_by_role("button", name="PDF", exact=True).click()
    download = got.value
    assert download.suggested_filename.endswith(".pdf")
    form_path = tmp_path / "form.pdf"
    download.save_as(form_path)
    text = " ".join(pdf_pages(form_path))
    assert full(SIGNER) in text and "152-ФЗ" in text
    # The page follows: the form is out for signing, and the signature can be recorded now.
    expect(page.get_by_test_id("consent-state")).to_have_text("согласие распечатано")
    expect(page.get_by_role("button", name="Отметить согласие")).to_be_visible()
    # The same form in Word, for a chair who edits before printing; a reprint changes nothing.
    with page.expect_download() as got:
        page.get_by_role("button", name="Word", exact=True).click()
    assert got.value.suggested_filename.endswith(".docx")
    docx_path = tmp_path / "form.docx"
    got.value.save_as(docx_path)
    assert full(SIGNER) in " ".join(p.text for p in Document(str(docx_path)).paragraphs)
    expect(page.get_by_test_id("consent-state")).to_have_text("согласие распечатано")

    # 2. The signed form is back. Without the 152-FZ tick nothing is recorded; then the tick, the date, a scan.
    # The browser refuses first (the tick is required); the server refuses too, with the form kept (422).
    page.goto(page.url)  # settle: the print script reloads the page after a download
    page.get_by_role("button", name="Отметить согласие").click()
    assert page.locator("#consent152").evaluate("el => el.required && !el.validity.valid")
    page.get_by_test_id("sign-form").evaluate("f => { f.noValidate = true; }")
    page.get_by_role("button", name="Отметить согласие").click()
    expect(page.get_by_role("alert").filter(has_text="Отметьте согласие по ФЗ № 152-ФЗ")).to_be_visible()
    expect(page.get_by_test_id("consent-state")).to_have_text("согласие распечатано")
    sign = page.get_by_role("button", name="Отметить согласие")
    page.get_by_label(re.compile("ФЗ № 152-ФЗ")).check()
    expect(page.get_by_label("Дата подписания")).to_have_value(date.today().isoformat())
    page.get_by_label(re.compile("Скан подписанного согласия")).set_input_files(
        files=[{"name": "согласие.png", "mimeType": "image/png", "buffer": png_bytes()}])
    sign.click()
    expect(page.get_by_role("alert").filter(has_text="Согласие отмечено")).to_be_visible()
    expect(page.get_by_test_id("consent-state")).to_have_text("согласие подписано")
    records = page.get_by_role("heading", name="Записи о согласии").locator("xpath=..")
    expect(records).to_contain_text("согласие подписано")
    expect(records).to_contain_text("бланк распечатан")
    expect(records.get_by_role("link", name="скан")).to_be_visible()
    expect(page.get_by_test_id("workflow-history")).to_contain_text("Отметить подписанное согласие")

    signer = stored_member(school.id, SIGNER[0])
    assert signer.consent_status == ConsentStatus.SIGNED
    fresh_session()
    signed = db.session.scalar(select(ConsentRecord).where(ConsentRecord.member_id == signer.id,
                                                           ConsentRecord.kind == "signed"))
    assert signed.on_date == date.today() and signed.scan_type == "png"
    fresh_session()

    # 3. The list shows the new status, and the consent filter finds her alone.
    open_member_list(page)
    expect(members_row(page, full(SIGNER))).to_contain_text("согласие подписано")
    page.get_by_label("Согласие", exact=True).select_option(label="согласие подписано")
    page.get_by_role("button", name="Показать").click()
    expect(page.get_by_test_id("members-total")).to_have_text(re.compile(r"Найдено: 1\b"))
    expect(page.get_by_test_id("members-table").locator("tbody tr")).to_have_count(1)
    expect(members_row(page, full(SIGNER))).to_be_visible()

    # 4. A batch: three members ticked in the list, one PDF with a progress bar.
    open_member_list(page)
    for name in BATCH:
        page.get_by_label(f"Отметить: {full(name)}").check()
    shown = page.get_by_test_id("members-table").locator("tbody tr td:nth-child(2) a").all_inner_texts()
    in_list_order = [n for n in shown if n in {full(b) for b in BATCH}]
    page.get_by_role("button", name="Распечатать согласия отмеченных (PDF)").click()
    expect(page.get_by_role("heading", name="Печать согласий: 3 чел.")).to_be_visible()
    expect(page.get_by_test_id("batch-status")).to_have_text("Готово.", timeout=90_000)
    expect(page.get_by_role("progressbar")).to_contain_text("3 / 3")
    with page.expect_download() as got:
        page.get_by_role("link", name="Скачать PDF").click()
    batch_path = tmp_path / "batch.pdf"
    got.value.save_as(batch_path)
    pages = pdf_pages(batch_path)
    assert len(pages) == 3
    for text, name in zip(pages, in_list_order, strict=True):  # one page a member, in the order of the list
        assert name in text
    page.get_by_role("link", name="К списку членов Профсоюза").click()
    for name in BATCH:
        expect(members_row(page, full(name))).to_contain_text("согласие распечатано")
    expect(members_row(page, full(NO_CONSENT))).to_contain_text("нет согласия")

    # 5. A new card request; only the member with a signed consent is offered.
    page.get_by_test_id("navbar").get_by_role("link", name="Моя организация").click()
    expect(page.get_by_test_id("org-name")).to_have_text(school.name)
    page.get_by_role("link", name="Заявки на билеты").click()
    expect(page.get_by_role("heading", name="Заявки на выпуск электронных профсоюзных билетов")).to_be_visible()
    page.get_by_role("button", name="Новая заявка").click()
    expect(page.get_by_role("heading", name=re.compile(r"Заявка № \d+ на выпуск ЭПБ"))).to_be_visible()
    expect(page.get_by_test_id("request-state")).to_have_text("черновик")
    req_id = int(re.search(r"/card-requests/(\d+)$", page.url).group(1))
    offered = page.get_by_role("heading", name=re.compile("Можно добавить")).locator("xpath=following-sibling::form[1]")
    expect(offered.get_by_label(full(SIGNER))).to_be_visible()
    for name in [*BATCH, NO_CONSENT]:
        expect(offered.get_by_label(full(name))).to_have_count(0)
    offered.get_by_label(full(SIGNER)).check()
    expect(offered.get_by_label("Отметить всех на странице")).to_have_count(0)  # one to offer: no «all» box
    page.get_by_role("button", name="Добавить отмеченных").click()
    expect(page.get_by_role("alert").filter(has_text="В заявку добавлено: 1.")).to_be_visible()
    items = page.get_by_test_id("request-items")
    expect(items.locator("tbody tr")).to_have_count(1)
    expect(items).to_contain_text(full(SIGNER))

    # 6. A member without consent, ticked in the list, is refused with the reason; the request keeps one member.
    open_member_list(page)
    page.get_by_label(f"Отметить: {full(NO_CONSENT)}").check()
    page.get_by_role("button", name="Добавить отмеченных в заявку на билеты").click()
    expect(page).to_have_url(re.compile(rf"/card-requests/{req_id}$"))
    expect(page.get_by_role("alert").filter(has_text="Не добавлены")).to_contain_text(
        "Антонова Ж.О.: нет подписанного согласия на обработку персональных данных.")
    expect(page.get_by_test_id("request-items").locator("tbody tr")).to_have_count(1)

    # 7. Submit: the state is «отправлена», the history says who did it.
    page.get_by_role("button", name="Отправить заявку").click()
    expect(page.get_by_role("alert").filter(has_text=f"Заявка № {req_id}: отправлена.")).to_be_visible()
    expect(page.get_by_test_id("request-state")).to_have_text("отправлена")
    history = page.get_by_test_id("workflow-history")
    expect(history).to_contain_text("Отправить заявку: черновик → отправлена")
    expect(history).to_contain_text(w.chair.login)
    expect(page.get_by_role("button", name="Отправить заявку")).to_have_count(0)
    expect(page.get_by_role("button", name="Добавить отмеченных")).to_have_count(0)

    fresh_session()
    req = db.session.get(CardRequest, req_id)
    assert req.state == RequestState.SUBMITTED and req.submitted_at is not None
    assert [i.member.last_name for i in req.items] == [SIGNER[0]]
    assert req.items[0].member.card_status == CardStatus.ORDERED
    assert db.session.scalar(select(WorkflowHistory.actor_login).where(
        WorkflowHistory.object_type == "card_requests", WorkflowHistory.object_id == req_id,
        WorkflowHistory.action == "submit")) == w.chair.login
    fresh_session()
    assert stored_member(school.id, NO_CONSENT[0]).consent_status == ConsentStatus.NONE


def test_chair_prints_everyone_without_consent_in_worker_processes(page, chair_world, tmp_path):
    """A batch big enough for the worker processes (forked from the server's batch thread), with its progress."""
    from portal.documents.pdf import SERIAL_BELOW

    school = chair_world.school
    fresh_session()
    org = db.session.get(Organisation, school.id)
    names = [f"Участница-{chr(ord('А') + i)}" for i in range(SERIAL_BELOW + 2)]
    for last in names:  # each fit to print: the consent form's requisites on the card and the passport
        ready_for_consent(create_member(org, last_name=last, first_name="Мария", patronymic="Ивановна"))
    fresh_session()
    browser_login(page, chair_world.chair.login)
    open_member_list(page)
    page.get_by_role("button", name="Распечатать согласия всех, у кого их нет").click()
    expect(page.get_by_role("heading", name=f"Печать согласий: {len(names)} чел.")).to_be_visible()
    expect(page.get_by_test_id("batch-status")).to_have_text("Готово.", timeout=120_000)
    expect(page.get_by_role("progressbar")).to_contain_text(f"{len(names)} / {len(names)}")
    with page.expect_download() as got:
        page.get_by_role("link", name="Скачать PDF").click()
    path = tmp_path / "all.pdf"
    got.value.save_as(path)
    pages = pdf_pages(path)
    assert len(pages) == len(names)
    for text, last in zip(pages, sorted(names), strict=True):  # the list's order: by surname
        assert f"{last} Мария Ивановна" in text
    page.get_by_role("link", name="К списку членов Профсоюза").click()
    page.get_by_label("Согласие", exact=True).select_option(label="нет согласия")
    page.get_by_role("button", name="Показать").click()
    expect(page.get_by_text("Никого не найдено.")).to_be_visible()

    # Three of them sign; a new request offers them with one box to tick them all.
    fresh_session()
    chair = db.session.get(User, chair_world.chair.id)
    signers = db.session.scalars(select(Member).where(Member.last_name.in_(names[:3]))).all()
    for m in signers:
        consent_ops.record_signature(chair, m, date.today())
    db.session.commit()
    fresh_session()
    page.get_by_test_id("navbar").get_by_role("link", name="Моя организация").click()
    page.get_by_role("link", name="Заявки на билеты").click()
    page.get_by_role("button", name="Новая заявка").click()
    offered = page.get_by_role("heading", name=re.compile("Можно добавить")).locator("xpath=following-sibling::form[1]")
    offered.get_by_label("Отметить всех на странице").check()
    for last in names[:3]:
        expect(offered.get_by_label(f"{last} Мария Ивановна")).to_be_checked()
    page.get_by_role("button", name="Добавить отмеченных").click()
    expect(page.get_by_role("alert").filter(has_text="В заявку добавлено: 3.")).to_be_visible()
    expect(page.get_by_test_id("request-items").locator("tbody tr")).to_have_count(3)
