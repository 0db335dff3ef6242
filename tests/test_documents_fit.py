"""Documents fit to sign (issue 9, items 6–9): each region's own aid regulation made from a template, filing refused
at the form while none is in force; the employer apart from the union organisation; the consent's requisites of
152-FZ art. 9 part 4, required to print it. Every document is read back as text, as a person would."""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from io import BytesIO

import pytest
from pypdf import PdfReader

from portal.aid import operations as aid_ops
from portal.aid.models import AidPetition
from portal.audit import AuditEntry
from portal.clock import today
from portal.documents import consent_docx, consent_pdf, member_card_pdf
from portal.extensions import db
from portal.registry.models import ConsentStatus
from portal.registry.rules import check_member
from tests.aid_helpers import BIK, account
from tests.conftest import create_member, login, member_data, ready_for_consent
from tests.document_helpers import docx_text, pdf_pages

UNION = "ППО МБОУ СОШ № 17 г. Липецка"
SCHOOL = "МБОУ «Средняя общеобразовательная школа № 17» г. Липецка"


def _school(world, union_inn="4826000017", school_inn="4826999917"):
    org = world.school_a
    org.inn, org.institution_name, org.institution_inn = union_inn, SCHOOL, school_inn
    org.address = "398000, г. Липецк, ул. Профсоюзная, д. 17"
    db.session.commit()
    return org


def _member(world, **kw):
    """A member of school A with every requisite of the consent."""
    values = {"last_name": "Семёнова", "first_name": "Алёна", "patronymic": "Петровна", "department": "начальная школа",
              "address": "398001, г. Липецк, ул. Мира, д. 5, кв. 12", "id_doc_type": "паспорт гражданина Российской "
              "Федерации", "id_doc_number": "42 12 345678", "id_doc_issued_on": date(2012, 4, 20),
              "id_doc_issuer": "Отделом УФМС России по Липецкой области в г. Липецке", **kw}
    return create_member(world.school_a, **values)


# ---- item 8: the workplace is the employer ---------------------------------------------------------------------


def test_the_workplace_is_the_employer_on_the_card_the_consent_and_the_card_copy(client, world):
    _school(world)
    m = _member(world)
    assert m.workplace == f"{SCHOOL}, начальная школа"
    login(client, world.users["primary_chair"])
    page = client.get(f"/members/{m.id}").get_data(as_text=True)
    workplace = page.split('data-testid="workplace">', 1)[1].split("<", 1)[0]
    assert workplace.replace("&#34;", '"').replace("&#39;", "'") == f"{SCHOOL}, начальная школа"
    assert "Первичная профсоюзная организация" in page and UNION in page  # shown apart, labelled as the union's
    consent = pdf_pages(consent_pdf(m))[0]
    assert f"Место работы (учёбы): {SCHOOL}, начальная школа" in consent
    assert f"Место работы (учёбы): {UNION}" not in consent
    assert f"Место работы (учёбы) {SCHOOL}, начальная школа" in docx_text(consent_docx(m))
    card = pdf_pages(member_card_pdf(m))[0]
    assert f"Место работы (учёбы) {SCHOOL}" in card and f"Первичная профсоюзная организация {UNION}" in card
    assert f"Место работы (учёбы) {UNION}" not in card


def test_without_an_institution_the_workplace_is_the_members_department_never_the_union(world):
    world.school_a.institution_name = ""
    m = _member(world, department="кафедра педагогики")
    assert m.workplace == "кафедра педагогики"
    m.department = ""
    assert m.workplace == "" and "workplace" in m.consent_missing()


def test_the_migration_derives_the_institution_from_the_union_organisations_name():
    from portal.documents.paths import DOC_TEMPLATES

    path = DOC_TEMPLATES.parent / "portal" / "migrations" / "versions" / "0007_documents_requisites.py"
    spec = importlib.util.spec_from_file_location("m0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    derive = module.derive_institution
    assert derive("Первичная профсоюзная организация МБОУ «СОШ № 5» г. Липецк") == "МБОУ «СОШ № 5» г. Липецк"
    assert derive("первичная  профсоюзная организация работников ГУЗ «Поликлиника № 2»") == "ГУЗ «Поликлиника № 2»"
    assert derive("ППО МБОУ СОШ № 17") == "МБОУ СОШ № 17"
    assert derive("Первичная профсоюзная организация студентов педагогического университета") == ""
    assert derive("Липецкая областная организация") == ""


# ---- item 9: what the consent must carry (152-FZ art. 9 part 4) ------------------------------------------------


def test_the_consent_names_subject_operator_third_party_purposes_actions_term_and_withdrawal(app, world):
    app.config["PROFCARDS_OPERATOR_ADDRESS"] = "125000, г. Москва, ул. Примерная, д. 1 (тест)"
    _school(world)
    m = _member(world)
    docx = docx_text(consent_docx(m))
    pdf_data = consent_pdf(m)
    pages = pdf_pages(pdf_data)
    assert len(pages) == 1
    for text, sep in ((pages[0], ": "), (docx, " ")):
        for label, value in [
            ("Адрес места жительства", "398001, г. Липецк, ул. Мира, д. 5, кв. 12"),
            ("Документ, удостоверяющий личность", "паспорт гражданина Российской Федерации"),
            ("Серия и номер документа", "42 12 345678"),
            ("Дата выдачи документа", "20 апреля 2012 г."),
            ("Кем выдан документ", "Отделом УФМС России по Липецкой области в г. Липецке"),
        ]:
            assert f"{label}{sep}{value}" in text, label
        # The operator is the union organisation with its own INN and address — not the school's INN.
        assert (f"Оператор персональных данных{sep}{UNION}, ИНН 4826000017, адрес: 398000, г. Липецк, "
                "ул. Профсоюзная, д. 17") in text
        assert "4826999917" not in text
        # The third party by name and address, the purposes, the data, the actions, the term and the withdrawal.
        assert ("оператору программы ПРОФКАРДС (третье лицо: ООО «ФИНФОРТ», адрес: 125000, г. Москва, "
                "ул. Примерная, д. 1 (тест))") in text
        for words in ("Цели обработки: учёт членов Профсоюза", "вид, серия и номер документа, удостоверяющего личность",
                      "Действия с данными: сбор, запись", "согласие действует со дня подписания",
                      "может быть отозвано мной в любой момент письменным заявлением, поданным в профсоюзный комитет "
                      "или направленным Оператору по указанному выше адресу", "Я, Семёнова Алёна Петровна,"):
            assert words in text, words
    assert PdfReader(BytesIO(pdf_data)).pages  # opens


def test_an_unset_profcards_address_leaves_a_line_to_fill_in(world):
    _school(world)
    text = pdf_pages(consent_pdf(_member(world)))[0]
    assert "ООО «ФИНФОРТ», адрес: ______________________" in text


def test_printing_a_consent_without_its_requisites_is_refused_at_the_page_naming_them(client, world):
    m = create_member(world.school_a, last_name="Неполнова")
    world.school_a.institution_name = world.school_a.address = ""
    db.session.commit()
    login(client, world.users["primary_chair"])
    r = client.post(f"/members/{m.id}/consent/print", data={"fmt": "pdf"})
    assert r.status_code == 302 and r.location.endswith(f"/members/{m.id}/consent")
    page = client.get(r.location).get_data(as_text=True)
    for name in ("место работы (учёбы)", "адрес места жительства", "вид документа, удостоверяющего личность",
                 "серия и номер документа", "дата выдачи документа", "кем выдан документ",
                 "адрес профсоюзной организации (оператора)"):
        assert name in page, name
    assert "Согласие не печатается: 152-ФЗ требует указать" in page
    db.session.refresh(m)
    assert m.consent_status == ConsentStatus.NONE  # nothing printed, nothing moved
    # The chair fills the card (the fields are on the member form) and the passport; then it prints.
    form = {"last_name": m.last_name, "first_name": m.first_name, "patronymic": m.patronymic,
            "birth_date": m.birth_date.isoformat(), "gender": m.gender.value, "category": m.category.value,
            "position": m.position, "education": m.education.value, "dues_form": m.dues_form.value,
            "joined_on": m.joined_on.isoformat(), "department": "", "address": "г. Липецк, ул. Мира, д. 7",
            "phone": "", "email": "", "id_doc_type": "паспорт гражданина Российской Федерации",
            "id_doc_number": "42 15 111222", "id_doc_issued_on": "2015-06-01", "id_doc_issuer": "УМВД России по "
            "Липецкой области"}
    assert client.post(f"/members/{m.id}/edit", data=form).status_code == 302
    _school(world)
    r = client.post(f"/members/{m.id}/consent/print", data={"fmt": "docx"})
    assert r.status_code == 200 and r.data[:2] == b"PK"
    text = docx_text(r.data)
    assert "Серия и номер документа 42 15 111222" in text and "Кем выдан документ УМВД России по Липецкой области" in text


def test_identity_document_reads_are_audited_and_the_card_shows_them(client, world):
    _school(world)
    m = _member(world)
    login(client, world.users["primary_chair"])
    page = client.get(f"/members/{m.id}").get_data(as_text=True)
    assert "42 12 345678" in page and "Отделом УФМС России по Липецкой области" in page
    reads = db.session.query(AuditEntry).filter_by(action="member_read", object_id=m.id).count()
    assert reads >= 1
    edit = client.get(f"/members/{m.id}/edit").get_data(as_text=True)
    assert 'name="id_doc_number"' in edit and "42 12 345678" in edit
    assert db.session.query(AuditEntry).filter_by(action="member_read", object_id=m.id).count() == reads + 1


def test_a_batch_leaves_out_members_whose_card_lacks_the_requisites(client, world):
    _school(world)
    ready, bare = _member(world), create_member(world.school_a, last_name="Безадресова")
    login(client, world.users["primary_chair"])
    r = client.post(f"/orgs/{world.school_a.id}/consents/print", data={"member_ids": [ready.id, bare.id]})
    assert r.status_code == 302
    page = client.get(r.location).get_data(as_text=True)
    assert "Не печатаются согласия 1 чел." in page and "Безадресова" in page
    pdf = client.get(r.location.rstrip("/") + "/download")
    pages = pdf_pages(pdf.data)
    assert len(pages) == 1 and "Семёнова Алёна Петровна" in pages[0]
    db.session.refresh(bare)
    assert bare.consent_status == ConsentStatus.NONE


@pytest.mark.parametrize("issued, message", [
    (today() + timedelta(days=1), "дата выдачи документа в будущем"),
    (date(1980, 1, 1), "документ выдан раньше даты рождения"),
])
def test_the_identity_document_date_is_checked(issued, message):
    assert check_member(member_data(id_doc_issued_on=issued))["id_doc_issued_on"] == message


# ---- item 6: each region its own regulation ----------------------------------------------------------------------


def _petition_form(m) -> dict:
    start = today() - timedelta(days=40)
    return {"member_id": str(m.id), "patient": "member", "sanatorium": "Санаторий «Белокуриха»",
            "treatment_start": start.isoformat(), "treatment_end": (start + timedelta(days=13)).isoformat(),
            "voucher_source": "union_programme", "payer": "union_programme", "pays_dues": "y",
            "profcom_decision_date": (today() - timedelta(days=2)).isoformat(), "profcom_decision_number": "7",
            "account_number": account(m.id), "bik": BIK, "bank_name": "ПАО Сбербанк", "do": "file"}


def test_filing_is_refused_at_the_form_while_the_region_has_no_regulation(client, world):
    m = world.members["a"]
    login(client, world.users["primary_chair"])
    page = client.get(f"/aid/petitions/new?member_id={m.id}")
    assert page.status_code == 200
    message = "«Липецкая областная организация» нет действующего Положения о материальной помощи"
    assert message in page.get_data(as_text=True)
    r = client.post("/aid/petitions/new", data=_petition_form(m))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and message in html
    assert 'value="Санаторий «Белокуриха»"' in html.replace("&#34;", '"').replace("&#171;", "«").replace("&#187;", "»")
    assert db.session.query(AidPetition).count() == 0


def test_a_region_creates_its_own_regulation_from_the_template_and_its_form_no_1_reads_its_own(client, world):
    world.region_a.name = "Липецкая областная организация Общероссийского Профсоюза образования"
    world.region_a.chair_name = "Семёнов Алексей Петрович"
    _school(world)
    db.session.commit()
    login(client, world.users["regional_staff"])
    page = client.get("/aid/regulation").get_data(as_text=True)
    assert "Создать положение по образцу" in page and "ходатайства о материальной помощи не принимаются" in page
    form = client.get("/aid/regulation/edit").get_data(as_text=True)
    assert "Председателю\nЛипецкой областной организации Общероссийского Профсоюза образования\nСемёнову А.П." in form
    assert "Саратов" not in form
    value = aid_ops.regulation_template(world.region_a)
    data = {"title": value.title, "valid_from": date(2020, 1, 1).isoformat(), "level_base_max": "80",
            "level_full": "100", "min_tenure_years": "1", "min_stay_days": "10", "repeat_interval_days": "730",
            "excluded": ["mod", "mvd", "fsb"], "payers": ["member", "union_programme"],
            "addressee": value.addressee, "programme_name": "ООО «Липецкая здравница»"}
    for i, b in enumerate(value.bands):
        data.update({f"bands-{i}-min_years": str(b.min_years), f"bands-{i}-max_years": "" if b.max_years is None
                     else str(b.max_years), f"bands-{i}-base": str(b.base), f"bands-{i}-above": str(b.above),
                     f"bands-{i}-full": str(b.full)})
    refused = client.post("/aid/regulation/edit", data={**data, "addressee": ""})
    assert "Обязательное поле." in refused.get_data(as_text=True) and aid_ops.current_regulation(world.region_a) is None
    assert client.post("/aid/regulation/edit", data=data).status_code == 302
    reg = aid_ops.current_regulation(world.region_a)
    assert reg.programme_name == "ООО «Липецкая здравница»" and reg.addressee == value.addressee
    assert "ООО «Липецкая здравница»" in client.get("/aid/regulation").get_data(as_text=True)

    m = ready_for_consent(_member(world, joined_on=date(2015, 9, 1)))
    client.post("/logout")
    login(client, world.users["primary_chair"])
    assert "ООО «Липецкая здравница»" in client.get(f"/aid/petitions/new?member_id={m.id}").get_data(as_text=True)
    r = client.post("/aid/petitions/new", data=_petition_form(m))
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    p = db.session.query(AidPetition).one()
    docx = client.get(f"/aid/petitions/{p.id}/petition.docx").data
    pdf = client.get(f"/aid/petitions/{p.id}/petition.pdf").data
    for text in (docx_text(docx), pdf_pages(pdf)[0]):
        assert text.startswith("Председателю Липецкой областной организации Общероссийского Профсоюза образования "
                               "Семёнову А.П. Ходатайство")
        assert "Саратов" not in text and "Прохоров" not in text
        assert "Санаторно-курортное учреждение: Санаторий «Белокуриха»" in text
        assert "Член Профсоюза (фамилия, имя, отчество): Семёнова Алёна Петровна" in text
        assert f"Первичная профсоюзная организация: {UNION}" in text
        assert "в санатории Санаторий" not in text and "члену Профсоюза Семёнова" not in text


# ---- item 9: the import maps the consent's fields --------------------------------------------------------------

ID_HEADER = ["Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Должность", "Образование", "Форма уплаты взносов",
             "Дата вступления в Профсоюз", "Категория", "Адрес проживания", "Документ, удостоверяющий личность",
             "Серия и номер паспорта", "Дата выдачи", "Кем выдан"]
ID_GOOD = ["Петрова", "Анна", "Игоревна", "12.03.1980", "Ж", "учитель химии", "высшее", "безналичная", "01.09.2005",
           "работающий", "г. Липецк, ул. Мира, д. 1", "паспорт гражданина Российской Федерации", "42 05 123456",
           "20.04.2005", "ОВД Советского округа г. Липецка \\ отдел 2"]


def _id_row(**changes) -> list[str]:
    values = dict(zip(ID_HEADER, ID_GOOD, strict=True))
    values.update(changes)
    return [values[h] for h in ID_HEADER]


def test_the_import_maps_address_and_identity_document_columns(world):
    from portal.registry.imports import import_file, resolve_mapping
    from portal.registry.models import Member

    mapping = resolve_mapping(ID_HEADER)
    assert [mapping[f] for f in ("address", "id_doc_type", "id_doc_number", "id_doc_issued_on", "id_doc_issuer")] \
        == [10, 11, 12, 13, 14]
    rows = [_id_row(), _id_row(**{"Фамилия": "Будущева", "Дата выдачи": (today() + timedelta(days=3))
                                  .strftime("%d.%m.%Y")}),
            _id_row(**{"Фамилия": "Безпаспортова", "Документ, удостоверяющий личность": "", "Серия и номер паспорта": "",
                       "Дата выдачи": "", "Кем выдан": ""}),
            _id_row(**{"Фамилия": "Кривдатова", "Дата выдачи": "31.02.2005"})]
    data = ("\r\n".join(";".join(r) for r in [ID_HEADER, *rows]) + "\r\n").encode("cp1251")
    result = import_file(world.school_a2, data, "spisok.csv", None)
    db.session.commit()
    assert result.imported == 2
    reasons = " ".join(str(r) for r in result.refused)
    assert "дата выдачи документа в будущем" in reasons and "несуществующая дата выдачи документа" in reasons
    petrova = db.session.query(Member).filter_by(org_id=world.school_a2.id, last_name="Петрова").one()
    assert (petrova.address, petrova.id_doc_type, petrova.id_doc_number, petrova.id_doc_issued_on,
            petrova.id_doc_issuer) == ("г. Липецк, ул. Мира, д. 1", "паспорт гражданина Российской Федерации",
                                       "42 05 123456", date(2005, 4, 20), "ОВД Советского округа г. Липецка \\ отдел 2")
    bare = db.session.query(Member).filter_by(org_id=world.school_a2.id, last_name="Безпаспортова").one()
    assert (bare.id_doc_type, bare.id_doc_number, bare.id_doc_issued_on, bare.id_doc_issuer) == ("", "", None, "")
    assert petrova.org.address and petrova.consent_missing() in ([], ["workplace"])


@pytest.mark.parametrize("changes", [
    {}, {"Дата выдачи": ""}, {"Дата выдачи": "01.01.1970"}, {"Дата выдачи": "2005-04-20"}, {"Дата выдачи": "весной"},
    {"Серия и номер паспорта": "42/05"}, {"Кем выдан": "х" * 301}, {"Документ, удостоверяющий личность": "  паспорт  "},
    {"Кем выдан": "отдел \\N"}, {"Серия и номер паспорта": "", "Кем выдан": ""},
])
def test_the_fast_path_and_the_full_check_agree_on_identity_documents(changes):
    from portal.registry.imports import RowReader, _chunk_payload, resolve_mapping

    on = date(2026, 12, 1)
    fast, full = RowReader(resolve_mapping(ID_HEADER), on), RowReader(resolve_mapping(ID_HEADER), on)
    cells = _id_row(**changes)
    staged = fast.stage(cells)
    data, _name, errors = full.read(cells)
    if staged is not None:
        assert not errors and staged == full.staged(data)
    if not errors:
        line = _chunk_payload([(full.staged(data).person_key, 2, full.staged(data))], 7, None).staged.decode()
        values = line[:-1].split("\t")
        issued = values[list(type(full.staged(data))._fields).index("id_doc_issued_on")]
        assert issued == (data["id_doc_issued_on"].isoformat() if data["id_doc_issued_on"] else "\\N")


def test_the_card_copy_keeps_the_signatory_on_one_line(world):
    _school(world)
    world.school_a.chair_name = "Константинопольская-Благовещенская Евгения Викторовна"
    db.session.commit()
    raw = PdfReader(BytesIO(member_card_pdf(_member(world)))).pages[0].extract_text()
    line = next(x for x in raw.splitlines() if "Константинопольская" in x)
    assert "/ Константинопольская-Благовещенская Евгения Викторовна /" in " ".join(line.split())
